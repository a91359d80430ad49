"""Catalog search through the search index, and keeping that index true.

The policy is applied inside the engine: the caller's labels go into the query, so hits,
totals and facet counts never include a dataset the caller may not see.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from catalog.errors import Forbidden, InvalidInput
from catalog.filters import DATASET_FILTERS, FILTERS_BY_PARAM, FacetCount
from catalog.interfaces import CatalogIndex, SearchQuery
from catalog.models import AuditEvent, Dataset, SearchOutbox, SynonymSet, utcnow
from catalog.policy import Action, Actor, actor_labels, can, can_manage_catalog, visible_clause
from catalog.search.documents import dataset_document
from catalog.services.audit import record_event
from catalog.services.datasets import dataset_load_options, describe_choices

MAX_PAGE_SIZE = 100
# Deep pages cost the engines dearly; past this, narrow the search instead.
MAX_RESULT_WINDOW = 10_000
SORTS = ("relevance", "modified", "title", "released", "downloads")
# Also accepted, not offered on pages: a stable order for clients that page through
# everything (CKAN harvesters ask package_search for "id asc").
PAGING_SORTS = (*SORTS, "id")
OUTBOX_BATCH = 200


@dataclass(frozen=True)
class DatasetQuery:
    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)  # param -> accepted values
    sort: str = "relevance"
    page: int = 1
    per_page: int = 20


@dataclass(frozen=True)
class DatasetPage:
    items: list[Dataset]
    total: int
    page: int
    per_page: int
    facets: dict[str, list[FacetCount]]  # by filter param
    highlights: dict[str, dict[str, str]]  # dataset id -> field -> marked-up HTML


def search_labels(actor: Actor) -> frozenset[str] | None:
    """The labels a search filters on; None lets a sysadmin see everything."""
    return None if actor.sysadmin else actor_labels(actor)


def expand_terms(q: str, synonym_sets: list[list[str]]) -> tuple[tuple[str, ...], ...]:
    """Split the query into words, each with its synonyms: 医保 finds 医疗保险 too, and
    禅城医保 finds 禅城医疗保险."""
    expanded = []
    for word in q.split():
        alternatives = [word]
        for terms in synonym_sets:
            for term in terms:
                if term in word:
                    alternatives.extend(word.replace(term, other) for other in terms)
        expanded.append(tuple(dict.fromkeys(alternatives)))
    return tuple(expanded)


def resolve_filter_values(
    filters: dict[str, list[str]],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The filters' values as the index holds them, and by filter the values not known.

    A vocabulary's filter takes each code or its Chinese label (?open_type=有条件开放 is
    ?open_type=conditional) and knows no other value; other filters take any value.
    """
    resolved: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    for param, values in filters.items():
        vocabulary = FILTERS_BY_PARAM[param].vocabulary if param in FILTERS_BY_PARAM else None
        if vocabulary is None:
            resolved[param] = list(values)
            continue
        codes = []
        for value in values:
            try:
                codes.append(vocabulary.from_code_or_label(value).value)
            except ValueError:
                unknown.setdefault(param, []).append(value)
        resolved[param] = list(dict.fromkeys(codes))
    return resolved, unknown


def unknown_value_message(param: str, values: list[str]) -> str:
    """What to tell of the values ``resolve_filter_values`` found unknown for a filter."""
    named = ", ".join(repr(value) for value in values)
    choices = describe_choices(FILTERS_BY_PARAM[param].vocabulary)
    return f"Unknown value {named}; use one of: {choices}."


def search_datasets(
    session: Session, index: CatalogIndex, actor: Actor, query: DatasetQuery
) -> DatasetPage:
    """Datasets the actor may see that match the query, with facet counts over the same set.

    InvalidInput names an unknown filter, sort or value of a vocabulary's filter, rather
    than answer an empty page that looks like no match.
    """
    errors = {name: ["Unknown filter."] for name in query.filters if name not in FILTERS_BY_PARAM}
    filters, unknown = resolve_filter_values(query.filters)
    for param, values in unknown.items():
        errors[param] = [unknown_value_message(param, values)]
    if query.sort not in PAGING_SORTS:
        errors["sort"] = [f"Use one of {', '.join(SORTS)}."]
    per_page = max(1, min(query.per_page, MAX_PAGE_SIZE))
    page = max(1, query.page)
    if page * per_page > MAX_RESULT_WINDOW:
        errors["page"] = [f"Only the first {MAX_RESULT_WINDOW} results can be paged through."]
    if errors:
        raise InvalidInput(errors)
    synonyms = list(session.scalars(select(SynonymSet.terms))) if query.q.strip() else []
    result = index.search(
        SearchQuery(
            terms=expand_terms(query.q, synonyms),
            filters=tuple(
                (FILTERS_BY_PARAM[name].field, tuple(values))
                for name, values in sorted(filters.items())
                if values
            ),
            facets=tuple(f.field for f in DATASET_FILTERS),
            sort=query.sort,
            offset=(page - 1) * per_page,
            limit=per_page,
            labels=search_labels(actor),
            exclude_ids=hidden_pending(session, actor),
        )
    )
    ids = [hit.id for hit in result.hits]
    rows = {
        d.id: d
        for d in session.scalars(
            select(Dataset).where(Dataset.id.in_(ids)).options(*dataset_load_options())
        )
    }
    # The index may lag the catalog by a moment: the catalog and its policy have the last word.
    items = [rows[i] for i in ids if i in rows and can(actor, Action.VIEW, rows[i])]
    facets = {}
    for dataset_filter in DATASET_FILTERS:
        counts = result.facets.get(dataset_filter.field, [])
        labels = dataset_filter.value_labels(session, [value for value, _ in counts])
        facets[dataset_filter.param] = [
            FacetCount(value, labels.get(value, value), count) for value, count in counts
        ]
    shown = {d.id for d in items}
    highlights = {hit.id: hit.highlights for hit in result.hits if hit.id in shown}
    return DatasetPage(items, result.total, page, per_page, facets, highlights)


def hidden_pending(session: Session, actor: Actor) -> frozenset[str]:
    """Datasets with a change not yet indexed that the actor may not see now (or that are
    gone): their documents may still carry the labels of before, so a search leaves them
    out, and no total or facet count can show what the policy now hides."""
    pending = select(SearchOutbox.dataset_id).distinct()
    visible = select(Dataset.id).where(Dataset.id.in_(pending), visible_clause(actor, Dataset))
    return frozenset(session.scalars(pending.except_(visible)))


def suggest_titles(
    session: Session, index: CatalogIndex, actor: Actor, prefix: str, limit: int = 10
) -> list[str]:
    """Titles for the search box's autocomplete, among the datasets the actor may see."""
    titles = index.suggest(prefix[:100], search_labels(actor), max(1, min(limit, 20)))
    # The index may lag the catalog by a moment: only titles the catalog still shows.
    visible = set(
        session.scalars(
            select(Dataset.title).where(Dataset.title.in_(titles), visible_clause(actor, Dataset))
        )
    )
    return [title for title in titles if title in visible]


def index_pending(session: Session, index: CatalogIndex, batch: int = OUTBOX_BATCH) -> int:
    """Drain the search outbox: rewrite or remove each changed dataset's document.

    Returns how many entries were done. When the engine fails, the entries stay, with
    the error and one more attempt counted, for the next run; nothing is lost.
    """
    entries = list(session.scalars(select(SearchOutbox).order_by(SearchOutbox.id).limit(batch)))
    if not entries:
        return 0
    dataset_ids = list(dict.fromkeys(e.dataset_id for e in entries))
    datasets = session.scalars(
        select(Dataset).where(Dataset.id.in_(dataset_ids)).options(*dataset_load_options())
    ).all()
    found = {d.id for d in datasets}
    try:
        index.upsert([dataset_document(d) for d in datasets])
        index.remove([i for i in dataset_ids if i not in found])
    except Exception as error:
        session.rollback()
        session.execute(
            update(SearchOutbox)
            .where(SearchOutbox.id.in_([e.id for e in entries]))
            .values(
                attempts=SearchOutbox.attempts + 1,
                last_error=f"{type(error).__name__}: {error}"[:2000],
            )
        )
        session.commit()
        raise
    # Only the entries read are removed: a change enqueued meanwhile keeps its own entry.
    session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_([e.id for e in entries])))
    session.commit()
    return len(entries)


def _all_documents(session: Session, progress: Callable[[int], object]) -> Iterator[dict]:
    last_id = ""
    while True:
        chunk = session.scalars(
            select(Dataset)
            .where(Dataset.id > last_id)
            .order_by(Dataset.id)
            .limit(500)
            .options(*dataset_load_options())
        ).all()
        if not chunk:
            return
        for dataset in chunk:
            yield dataset_document(dataset)
        progress(len(chunk))
        last_id = chunk[-1].id
        session.expunge_all()


def reindex_catalog(
    session: Session, index: CatalogIndex, progress: Callable[[int], object] = lambda done: None
) -> int:
    """Rebuild the index from the catalog into a new index and swap it in.

    Searches keep answering from the old index meanwhile. Datasets changed while the
    rebuild ran are written again afterwards (found through their audit events).
    ``progress`` is told how many more datasets were read, batch by batch.
    """
    started = utcnow()
    count = index.rebuild(_all_documents(session, progress))
    changed = list(
        session.scalars(
            select(AuditEvent.object_id)
            .where(AuditEvent.object_type == "dataset", AuditEvent.at >= started)
            .distinct()
        )
    )
    for dataset_id in changed:
        session.add(SearchOutbox(dataset_id=dataset_id))
    session.commit()
    while index_pending(session, index):
        pass
    return count


@dataclass(frozen=True)
class SearchStatus:
    pending: int
    failing: int
    oldest_pending: datetime | None
    last_error: str
    indexed: int | None  # None when the engine does not answer
    in_catalog: int
    engine_error: str = ""


def search_status(session: Session, index: CatalogIndex) -> SearchStatus:
    pending, oldest = session.execute(
        select(func.count(SearchOutbox.id), func.min(SearchOutbox.enqueued_at))
    ).one()
    failing = session.scalar(select(func.count()).where(SearchOutbox.attempts > 0)) or 0
    last_error = (
        session.scalar(
            select(SearchOutbox.last_error)
            .where(SearchOutbox.attempts > 0)
            .order_by(SearchOutbox.id.desc())
            .limit(1)
        )
        or ""
    )
    in_catalog = session.scalar(select(func.count()).select_from(Dataset)) or 0
    try:
        indexed, engine_error = index.count(), ""
    except Exception as error:  # noqa: BLE001 - reported: a down engine is what status is for
        indexed, engine_error = None, f"{type(error).__name__}: {error}"
    return SearchStatus(pending, failing, oldest, last_error, indexed, in_catalog, engine_error)


def list_synonyms(session: Session) -> list[SynonymSet]:
    return list(session.scalars(select(SynonymSet).order_by(SynonymSet.id)))


def add_synonyms(session: Session, actor: Actor, terms: list[str]) -> SynonymSet:
    """Make the terms find each other in searches (sysadmins)."""
    if not can_manage_catalog(actor):
        raise Forbidden("Only sysadmins edit the synonym list.")
    cleaned = list(dict.fromkeys(t.strip() for t in terms if t.strip()))
    if len(cleaned) < 2 or any(" " in t for t in cleaned):
        raise InvalidInput({"terms": ["Give at least two words, each without spaces."]})
    synonym_set = SynonymSet(terms=cleaned)
    session.add(synonym_set)
    session.flush()
    record_event(
        session, actor, "synonyms.create", "synonyms", str(synonym_set.id), None, {"terms": cleaned}
    )
    session.commit()
    return synonym_set


def remove_synonyms(session: Session, actor: Actor, synonym_id: int) -> None:
    if not can_manage_catalog(actor):
        raise Forbidden("Only sysadmins edit the synonym list.")
    synonym_set = session.get(SynonymSet, synonym_id)
    if synonym_set is not None:
        record_event(
            session,
            actor,
            "synonyms.delete",
            "synonyms",
            str(synonym_id),
            {"terms": synonym_set.terms},
            None,
        )
        session.delete(synonym_set)
        session.commit()
