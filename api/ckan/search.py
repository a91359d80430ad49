"""package_search in CKAN's terms, served by the catalog's search service.

CKAN passes Solr syntax through; here only what the search filter registry can answer is
understood, and anything else is a clear "Search Query Error" rather than a silent
mismatch: fq is a list of ``field:value``, ``field:"a value"`` or ``field:(a OR b)`` terms
over organization, groups, tags, res_format, license_id, open_type, share_type and
update_frequency (``dataset_type:dataset`` is accepted and always true). The policy is
applied inside the engine, so counts and facets only include what the caller may see.
"""

import re
from dataclasses import dataclass
from typing import Any

from api.ckan import params
from api.ckan.dictize import package_dict
from api.ckan.registry import SearchQueryError
from api.context import backends, current_actor, db
from catalog.errors import InvalidInput
from catalog.filters import FILTERS_BY_PARAM, FacetCount
from catalog.models import Dataset
from catalog.policy import Actor
from catalog.services.search import (
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    DatasetPage,
    DatasetQuery,
    search_datasets,
)

ROWS_MAX = 1000
DEFAULT_ROWS = 10
DEFAULT_FACET_LIMIT = 50
DEFAULT_SORT = "score desc, metadata_modified desc"
# CKAN's search fields -> the registry's filters (a KeyError here when the registry drops one).
CKAN_FILTERS = {
    ckan_name: FILTERS_BY_PARAM[param]
    for ckan_name, param in {
        "organization": "department",
        "groups": "theme",
        "tags": "tag",
        "res_format": "format",
        "license_id": "license",
        "open_type": "open_type",
        "share_type": "share_type",
        "update_frequency": "update_frequency",
    }.items()
}
# CKAN's sort strings -> the service's sorts. The index orders by title, not by URL name:
# "name asc" is served in title order.
SORTS = {
    "score desc, metadata_modified desc": "relevance",
    "score desc": "relevance",
    "relevance": "relevance",
    "metadata_modified desc": "modified",
    "title_string asc": "title",
    "name asc": "title",
    "id asc": "id",
}
_FQ_TERM = re.compile(
    r"\s*(?:AND\s+)?\+?(?P<field>[A-Za-z_]+):"
    r'(?:"(?P<quoted>[^"]*)"|\((?P<any>[^)]*)\)|(?P<plain>[^\s()"]+))\s*'
)
_Q_TERM = re.compile(r"(?P<field>[A-Za-z_]+):(?P<value>\S+)")


@dataclass(frozen=True)
class SearchTerms:
    words: str
    filters: dict[str, list[str]]  # registry param -> accepted values
    matches_nothing: bool = False  # e.g. dataset_type:harvest


def parse_terms(q: str, fq: str) -> SearchTerms:
    """Split q into words and field terms, and read fq; raise SearchQueryError if either
    holds what the search cannot do."""
    filters: dict[str, list[str]] = {}
    matches_nothing = False
    words = []
    terms: list[tuple[str, list[str]]] = []
    for token in ("" if q.strip() == "*:*" else q).split():
        match = _Q_TERM.fullmatch(token)
        if match and (match["field"] in CKAN_FILTERS or match["field"] == "dataset_type"):
            terms.append((match["field"], [match["value"].strip('"')]))
        else:
            words.append(token)
    terms.extend(_fq_terms(fq))
    for field, values in terms:
        if field == "dataset_type":
            matches_nothing = matches_nothing or values != ["dataset"]
            continue
        param = CKAN_FILTERS[field].param
        if param in filters:
            raise SearchQueryError(f"{field} is given twice: use {field}:(a OR b).")
        filters[param] = [v.upper() for v in values] if field == "res_format" else values
    return SearchTerms(" ".join(words), filters, matches_nothing)


def _fq_terms(fq: str) -> list[tuple[str, list[str]]]:
    terms, position, text = [], 0, fq.strip()
    while position < len(text):
        match = _FQ_TERM.match(text, position)
        if match is None:
            raise SearchQueryError(
                f"Cannot read fq at {text[position : position + 40]!r}: use field:value, "
                'field:"a value" or field:(a OR b).'
            )
        field = match["field"]
        if field not in CKAN_FILTERS and field != "dataset_type":
            raise SearchQueryError(
                f"fq cannot filter on {field!r}; use one of "
                f"{', '.join([*CKAN_FILTERS, 'dataset_type'])}."
            )
        if match["any"] is not None:
            values = [v.strip().strip('"') for v in re.split(r"\s+OR\s+", match["any"].strip())]
        else:
            values = [match["quoted"] if match["quoted"] is not None else match["plain"]]
        terms.append((field, [v for v in values if v]))
        position = match.end()
    return terms


def find_datasets(
    actor: Actor, terms: SearchTerms, sort: str, start: int, rows: int
) -> tuple[list[Dataset], DatasetPage]:
    """Rows ``start`` to ``start + rows`` of the search, as the actor may see it, and the
    first page the service answered (its total and facets cover the whole search).

    The service pages by page number and at most 100 a page; a window that fits in one of
    its pages takes one call, a wider one a call per 100 rows.
    """
    if start + rows > MAX_RESULT_WINDOW:
        raise InvalidInput(
            {
                "start": [
                    f"Only the first {MAX_RESULT_WINDOW} results can be paged through; "
                    "narrow the search with q or fq."
                ]
            }
        )

    def page_of(page: int, per_page: int) -> DatasetPage:
        query = DatasetQuery(
            q=terms.words, filters=terms.filters, sort=sort, page=page, per_page=per_page
        )
        return search_datasets(db(), backends().catalog_index, actor, query)

    if rows == 0:
        return [], page_of(1, 1)
    per_page = _page_size_holding(start, rows)
    first = start // per_page
    items: list[Dataset] = []
    pages = []
    for page in range(first, (start + rows - 1) // per_page + 1):
        pages.append(page_of(page + 1, per_page))
        items.extend(pages[-1].items)
        if len(pages[-1].items) < per_page:
            break
    offset = start - first * per_page
    return items[offset : offset + rows], pages[0]


def _page_size_holding(start: int, rows: int) -> int:
    """The smallest page size one of whose pages holds the whole window, else the largest."""
    for size in range(rows, MAX_PAGE_SIZE + 1):
        page = start // size
        if page == (start + rows - 1) // size and (page + 1) * size <= MAX_RESULT_WINDOW:
            return size
    return MAX_PAGE_SIZE


def _facets(page: DatasetPage, fields: list[str], limit: int) -> tuple[dict, dict]:
    facets, search_facets = {}, {}
    for field in fields:
        counts: list[FacetCount] = page.facets.get(CKAN_FILTERS[field].param, [])
        if limit >= 0:
            counts = counts[:limit]
        facets[field] = {count.value: count.count for count in counts}
        search_facets[field] = {
            "title": field,
            "items": [
                {"name": count.value, "display_name": count.label, "count": count.count}
                for count in counts
            ],
        }
    return facets, search_facets


def package_search_result(data: dict[str, Any]) -> dict[str, Any]:
    """The result of package_search for the request's parameters."""
    sort_text = " ".join(params.text(data, "sort", DEFAULT_SORT).split()).lower()
    sort_text = re.sub(r"\s*,\s*", ", ", sort_text)
    if sort_text not in SORTS:
        raise InvalidInput({"sort": [f"Use one of: {'; '.join(SORTS)}."]})
    facet_fields = params.string_list(data, "facet.field")
    unknown = [field for field in facet_fields if field not in CKAN_FILTERS]
    if unknown:
        raise InvalidInput(
            {
                "facet.field": [
                    f"Cannot facet on {', '.join(unknown)}; use {', '.join(CKAN_FILTERS)}."
                ]
            }
        )
    facet_limit = params.integer(data, "facet.limit", DEFAULT_FACET_LIMIT, minimum=-1)
    rows = params.integer(data, "rows", DEFAULT_ROWS, maximum=ROWS_MAX)
    start = params.integer(data, "start", 0)
    terms = parse_terms(params.text(data, "q"), params.text(data, "fq"))
    # CKAN leaves private datasets out unless asked; asked, the caller gets all they may see.
    actor = current_actor() if params.boolean(data, "include_private") else Actor.anonymous()
    result = {"count": 0, "sort": sort_text, "facets": {}, "search_facets": {}, "results": []}
    if terms.matches_nothing:
        result["facets"] = {field: {} for field in facet_fields}
        result["search_facets"] = {field: {"title": field, "items": []} for field in facet_fields}
        return result
    items, page = find_datasets(actor, terms, SORTS[sort_text], start, rows)
    result["count"] = page.total
    result["facets"], result["search_facets"] = _facets(page, facet_fields, facet_limit)
    result["results"] = [package_dict(dataset) for dataset in items]
    return result
