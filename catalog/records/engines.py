"""Record stores on Elasticsearch and OpenSearch: one builder, two thin clients.

Each resource's rows live in one index, ``{prefix}-records-{resource id}-{time_ns}``,
reached only through the alias ``{prefix}-records-{resource id}``. ``create`` builds a new
index, swaps the alias onto it in one atomic alias update and then deletes every other
index of the resource, so a reader sees the old rows or the new (empty) index, never a
half-built one. Field ``i`` is engine field ``f<i>`` and ``_id`` is ``row`` (a long, also the
document id and every sort's tie-breaker), so field names, Chinese or not, never reach the
engine; the fields (names, titles, types, sensitive flags, engine names) are kept in the
mapping's ``_meta``, so ``fields()`` and ``exists()`` need no other store.

Mapping, full text, documents and hits: catalog.records.engine_format.

Paging: pages go by ``search_after`` on the sort values carried in the shared cursor codec,
in a point in time, so a walk through the pages reads one snapshot: rows appended, changed
or removed meanwhile do not show. A first page that is also the last pays for none; one
with more pages opens it after its own search and puts its id in the cursor (a write that
lands between the two may show on later pages). Every page keeps it alive for
``PAGE_PIT_KEEP_ALIVE`` more; the last page closes it, and a walk left off lets it expire.
A cursor whose point in time has expired is refused ("start again"). The id is covered by
the cursor's digest, and every hit read through it must come from the resource's index, so
a cursor cannot read another resource. OpenSearch caps the open points in time of a node
(``search.max_open_pit_context``, 300 by default): a busy portal with many first pages may
need it raised. The sort always ends in the unique ``row``, so pages never skip or repeat
a row. An export is one generator that owns one point in time: it opens it at its first
batch and closes it in a ``finally``.

Totals are exact without q or filters; with them ``track_total_hits`` stops at
``COUNT_EXACT_LIMIT`` and says "gte", and the total is that limit with
``total_is_estimate=True`` (the same limits as every record store: catalog.records).

Loading: ``append`` streams rows through the client's ``streaming_bulk``, ``BULK_CHUNK``
documents a request, retrying what the engine refuses as too busy (``parallel_bulk`` has no
such retry and, measured, was no quicker: the engine is the bottleneck). For a load of more
than one chunk the index's refresh is switched off and its replicas set to 0 meanwhile, then
restored and the index refreshed, in a ``finally``; readers see the rows appear at the end.
A row whose ``_id`` is already there is refused (bulk ``create``), as the SQL primary key
does. Indexes have one shard (the catalog's ``INDEX_SETTINGS``): group counts are then exact
and sort and search_after need no shard tie-breaker; replicas expand to 1 when a second node
is there. A text value longer than ``KEYWORD_CHARS`` characters is found by q and exists,
but has no keyword: eq, in, range, sort and grouping treat it as missing.
"""

import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from itertools import chain, islice
from types import ModuleType
from urllib.parse import urlsplit

from catalog.interfaces import RecordBatch, RecordField, RecordPage, RecordQuery, RecordRows
from catalog.records import (
    COUNT_EXACT_LIMIT,
    EXPORT_BATCH,
    MAX_GROUPS,
    CheckedQuery,
    check_fields,
    check_group_field,
    check_query,
    encode_cursor,
    resource_key,
)
from catalog.records.engine_format import (
    SETTINGS,
    Schema,
    build_mappings,
    build_page_body,
    build_query,
    document_maker,
    from_group_key,
    last_sort_values,
    read_hit_columns,
    read_hits,
)
from catalog.search.engines import client_url

BULK_CHUNK = 2000  # documents a request: 500 to 5000 measured alike here; ~0.5 MB each
PIT_KEEP_ALIVE = "5m"  # between two batches of an export, however slow its reader
PAGE_PIT_KEEP_ALIVE = "2m"  # between two pages of a walk by cursor


# -- the store -------------------------------------------------------------------------------


class EngineRecordStore:
    """RecordStore on a search engine; subclasses only make the client and call it."""

    engine_name = "engine"
    helpers: ModuleType  # the client's bulk helpers
    not_found: type[Exception]  # what the client raises for a missing index or alias
    bad_request: type[Exception]  # what the client raises for a request the engine refuses
    bulk_chunk = BULK_CHUNK
    export_batch = EXPORT_BATCH

    def __init__(self, client, prefix: str, where: str = ""):
        self.client = client
        self.prefix = prefix
        self.where = where

    @classmethod
    def from_settings(cls, settings) -> "EngineRecordStore":
        url = client_url(settings.search_url)
        where = urlsplit(url)._replace(netloc=urlsplit(url).netloc.rpartition("@")[2]).geturl()
        return cls(cls.make_client(url), settings.search_index_prefix, where)

    # -- the client: all that differs between the engines -----------------------------------

    @staticmethod
    def make_client(url: str):
        raise NotImplementedError

    def _body(self, response) -> dict:
        """A response as a plain dict."""
        raise NotImplementedError

    def _create_index(self, name: str, settings: dict, mappings: dict) -> None:
        raise NotImplementedError

    def _search(self, body: dict, index: str | None = None) -> dict:
        """Search the index, or the point in time the body names when index is None."""
        raise NotImplementedError

    def _update_aliases(self, actions: list[dict]) -> None:
        raise NotImplementedError

    def _put_settings(self, index: str, settings: dict) -> None:
        raise NotImplementedError

    def _open_pit(self, index: str, keep_alive: str) -> str:
        raise NotImplementedError

    def _close_pit(self, pit_id: str) -> None:
        raise NotImplementedError

    # -- names and schema --------------------------------------------------------------------

    def _alias(self, key: str) -> str:
        return f"{self.prefix}-records-{key}"

    def _indices(self, alias: str) -> list[str]:
        """Every index of the resource, whether the alias points to it or not."""
        found = self.client.indices.get(
            index=f"{alias}-*", allow_no_indices=True, ignore_unavailable=True
        )
        return sorted(name for name in self._body(found) if name.startswith(f"{alias}-"))

    def _schema(self, resource_id: str) -> Schema:
        alias = self._alias(resource_key(resource_id))
        try:
            found = self.client.indices.get_mapping(index=alias, filter_path="*.mappings._meta")
        except self.not_found:
            raise KeyError(f"No records for resource {resource_id}.") from None
        found = self._body(found)
        if not found:
            raise KeyError(f"No records for resource {resource_id}.")
        index = max(found)  # the one; were an operator to add another, the newest
        return Schema.read(alias, index, found[index]["mappings"].get("_meta", {}))

    def _read(self, resource_id: str, work):
        """Run work on the resource's current index. A create or drop may delete it between
        reading its schema and searching it; then read the schema again."""
        for attempt in range(2):
            schema = self._schema(resource_id)
            try:
                return work(schema)
            except self.not_found:
                if attempt:
                    raise KeyError(f"No records for resource {resource_id}.") from None
        raise AssertionError("unreachable")

    def exists(self, resource_id: str) -> bool:
        try:
            key = resource_key(resource_id)
        except ValueError:
            return False
        return bool(self.client.indices.exists_alias(name=self._alias(key)))

    def fields(self, resource_id: str) -> list[RecordField]:
        return list(self._schema(resource_id).fields)

    def check(self) -> str:
        version = self._body(self.client.info())["version"]["number"]
        try:
            aliases = self._body(self.client.indices.get_alias(name=f"{self.prefix}-records-*"))
        except self.not_found:
            aliases = {}
        count = len({a for entry in aliases.values() for a in entry.get("aliases", {})})
        return (
            f"{self.engine_name} {version} record store at {self.where}, "
            f"indexes {self.prefix}-records-*, {count} resources"
        )

    # -- writing -----------------------------------------------------------------------------

    def create(self, resource_id: str, fields: list[RecordField]) -> None:
        key = resource_key(resource_id)
        check_fields(fields)
        fields = [RecordField(f.name, f.type, f.title or "", bool(f.sensitive)) for f in fields]
        alias = self._alias(key)
        name = f"{alias}-{time.time_ns()}"
        self._create_index(name, SETTINGS, build_mappings(key, fields))
        try:
            try:
                current = list(self._body(self.client.indices.get_alias(name=alias)))
            except self.not_found:
                current = []
            self._update_aliases(
                [{"remove": {"index": old, "alias": alias}} for old in current]
                + [{"add": {"index": name, "alias": alias}}]
            )
        except BaseException:
            self._delete([name])
            raise
        # Every other index of the resource, not only the alias's: one left by a create
        # that raced this one, or failed half way, would otherwise stay forever.
        self._delete([old for old in self._indices(alias) if old != name])

    def _delete(self, names: list[str]) -> None:
        # One name at a time: wildcard deletes are refused where destructive_requires_name.
        for name in names:
            with suppress(self.not_found):
                self.client.indices.delete(index=name)

    def drop(self, resource_id: str) -> None:
        self._delete(self._indices(self._alias(resource_key(resource_id))))

    def append(self, resource_id: str, rows: Iterator[dict]) -> int:
        """Add rows, BULK_CHUNK documents a request. If a row fails, the chunks before it
        stay; load again with create + append."""
        schema = self._schema(resource_id)
        make = document_maker(schema)
        rows = iter(rows)
        first = list(islice(rows, self.bulk_chunk))
        if not first:
            return 0
        if len(first) < self.bulk_chunk:  # too small to be worth retuning the index
            added = self._bulk(schema, map(make, first))
            self.client.indices.refresh(index=schema.index)
            return added
        loading = {"refresh_interval": "-1", "number_of_replicas": 0}
        keys = ["refresh_interval", "number_of_replicas", "auto_expand_replicas"]
        found = self._body(self.client.indices.get_settings(index=schema.index))
        current = found[schema.index]["settings"]["index"]
        earlier = {name: current.get(name) for name in keys}
        if earlier["auto_expand_replicas"] not in (None, "false"):
            loading["auto_expand_replicas"] = "false"  # else it overrides number_of_replicas
        self._put_settings(schema.index, loading)
        try:
            return self._bulk(schema, map(make, chain(first, rows)))
        finally:
            try:
                self._put_settings(schema.index, earlier)  # None puts the default back
                self.client.indices.refresh(index=schema.index)
            except self.not_found:
                pass  # replaced by a create meanwhile: nothing to restore

    def _bulk(self, schema: Schema, documents: Iterator[tuple[int, dict]]) -> int:
        actions = (({"create": {"_id": str(row_id)}}, doc) for row_id, doc in documents)
        added = 0
        try:
            for ok, _item in self.helpers.streaming_bulk(
                self.client,
                actions,
                chunk_size=self.bulk_chunk,
                expand_action_callback=_as_is,
                max_retries=3,  # on 429, the engine's "too busy", with backoff
                initial_backoff=1,
                index=schema.alias,
                require_alias=True,  # so a bulk never auto-creates an index under the alias
            ):
                added += ok
        except self.helpers.BulkIndexError as error:
            raise _bulk_failure(error.errors) from None
        return added

    # -- reading -----------------------------------------------------------------------------

    def query(self, resource_id: str, query: RecordQuery) -> RecordPage:
        def work(schema: Schema) -> RecordPage:
            checked = check_query(list(schema.fields), query)
            exact = not checked.words and not checked.filters
            body = build_page_body(schema, checked, checked.limit + 1 if checked.limit else 0)
            body["track_total_hits"] = True if exact else COUNT_EXACT_LIMIT
            pit = checked.pit
            if pit is None:
                response = self._search(body, schema.index)
            else:
                response = self._search_pit(schema, body, pit)
                pit = response.get("pit_id", pit)
            hits = response["hits"]["hits"]
            rows = read_hits(schema, checked, hits[: checked.limit])
            cursor = None
            if len(hits) > checked.limit > 0:
                if pit is None:
                    pit = self._open_pit(schema.index, PAGE_PIT_KEEP_ALIVE)
                last = last_sort_values(checked, hits[checked.limit - 1])
                cursor = encode_cursor(checked, last, pit)
            elif pit is not None:
                with suppress(self.not_found):  # the walk is over: free the engine's context
                    self._close_pit(pit)
            total = response["hits"]["total"]
            if total["relation"] == "gte":
                return RecordPage(rows, COUNT_EXACT_LIMIT, True, cursor)
            return RecordPage(rows, total["value"], False, cursor)

        return self._read(resource_id, work)

    def _search_pit(self, schema: Schema, body: dict, pit: str) -> dict:
        """A page in the cursor's point in time; ValueError if it expired or is not one of
        this resource's."""
        body["pit"] = {"id": pit, "keep_alive": PAGE_PIT_KEEP_ALIVE}
        try:
            response = self._search(body)
        except self.not_found:
            raise ValueError(
                "The cursor has expired (pages are kept for "
                f"{PAGE_PIT_KEEP_ALIVE} between requests): start again without it."
            ) from None
        except self.bad_request:  # an id the engine cannot read at all
            raise ValueError(
                "The cursor is not valid for this query (start again without it)."
            ) from None
        if any(hit["_index"] != schema.index for hit in response["hits"]["hits"]):
            raise ValueError("The cursor is not valid for this query (start again without it).")
        return response

    def group_counts(
        self, resource_id: str, field: str, query: RecordQuery, limit: int
    ) -> list[tuple[object, int]]:
        if limit < 1:
            raise ValueError("limit must be 1 or more.")

        def work(schema: Schema) -> list[tuple[object, int]]:
            grouped = check_group_field(list(schema.fields), field)
            checked = check_query(list(schema.fields), replace(query, cursor=None, limit=0))
            terms = {
                "field": schema.column(grouped),
                "size": min(limit, MAX_GROUPS),
                "order": [{"_count": "desc"}, {"_key": "asc"}],
            }
            body = {
                "query": build_query(schema, checked),
                "size": 0,
                "track_total_hits": False,
                "aggs": {"groups": {"terms": terms}},
            }
            buckets = self._search(body, schema.index)["aggregations"]["groups"]["buckets"]
            return [(from_group_key(grouped, b["key"]), b["doc_count"]) for b in buckets]

        return self._read(resource_id, work)

    def export(self, resource_id: str, query: RecordQuery) -> RecordRows:
        """Every matching row in the query's order, export_batch at a time by search_after
        in one point in time; the generator closes it when done, failed or closed. Each
        batch is made by column from the hits' sources, no dict per row."""
        schema = self._schema(resource_id)
        # Checked now, so a bad query or resource fails before any row is streamed.
        checked = check_query(list(schema.fields), query)
        return RecordRows(self._export(schema, replace(checked, limit=self.export_batch)))

    def _export(self, schema: Schema, checked: CheckedQuery) -> Iterator[RecordBatch]:
        pit_id = self._open_pit(schema.index, PIT_KEEP_ALIVE)
        try:
            while True:
                body = build_page_body(schema, checked, checked.limit)
                body["track_total_hits"] = False
                body["pit"] = {"id": pit_id, "keep_alive": PIT_KEEP_ALIVE}
                response = self._search(body)
                pit_id = response.get("pit_id", pit_id)
                hits = response["hits"]["hits"]
                if hits:
                    yield read_hit_columns(schema, checked, hits)
                if len(hits) < checked.limit:
                    return
                checked = replace(checked, after=last_sort_values(checked, hits[-1]))
        finally:
            with suppress(self.not_found):  # expired already: the reader took too long
                self._close_pit(pit_id)


def _as_is(action: tuple[dict, dict]) -> tuple[dict, dict]:
    """The bulk helpers' expand_action_callback for actions already split in two."""
    return action


def _bulk_failure(errors: list[dict]) -> Exception:
    """ValueError when rows repeat an _id (the caller's data); RuntimeError otherwise: the
    values were checked, so a refusal is the engine's."""
    items = [item for error in errors for item in error.values()]
    repeated = [item.get("_id") for item in items if item.get("status") == 409]
    if repeated:
        return ValueError(f"Rows {', '.join(repeated[:5])}: their _id is there already.")
    reasons = [f"row {item.get('_id')}: {item.get('error')}" for item in items[:3]]
    return RuntimeError(f"The engine refused {len(items)} rows: " + "; ".join(reasons))


def __getattr__(name: str):
    # The thin clients live in their own modules, each importing its client library, and
    # import this one; loading them here on first use keeps the import one way.
    if name == "OpenSearchRecordStore":
        from catalog.records.opensearch import OpenSearchRecordStore

        return OpenSearchRecordStore
    if name == "ElasticsearchRecordStore":
        from catalog.records.elasticsearch import ElasticsearchRecordStore

        return ElasticsearchRecordStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
