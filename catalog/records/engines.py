"""Record stores on Elasticsearch and OpenSearch: one builder, two thin clients.

Each resource's rows live in one index, ``{prefix}-records-{resource id}-{time_ns}``,
reached only through the alias ``{prefix}-records-{resource id}``. ``create`` builds a new
index, swaps the alias onto it in one atomic alias update and then deletes every other
index of the resource, so a reader sees the old rows or the new (empty) index, never a
half-built one. Field ``i`` is engine field ``f<i>`` and ``_id`` is ``row`` (a long, also the
document id and every sort's tie-breaker), so field names, Chinese or not, never reach the
engine; the fields (names, titles, types, sensitive flags, engine names) are kept in the
mapping's ``_meta``, so ``fields()`` and ``exists()`` need no other store.

Mapping: text is ``text`` analysed one character per token (lowercased) with a ``keyword``
subfield for eq, in, range, sort and grouping; integer ``long``; number ``double`` (not
``scaled_float``, which would round values to a fixed scale chosen in advance, so that
filters and sorts would disagree with the values returned and with the SQL store's doubles);
date and datetime ``date`` (the engines keep milliseconds: datetimes compare and sort to the
millisecond, though they come back exactly as stored); boolean ``boolean``; geo point
``geo_point``, stored as ``{"lat", "lon"}`` and returned as a (lat, lon) tuple.

Full text: each word of q must appear, as a substring, in one of the searched text fields,
ASCII case aside, as on the SQL store. A ``match_phrase`` over single-character tokens is
exactly that: 东华里第1 finds 东华里第15小学, ``a`` finds ``Grade``, ``100%`` and ``_`` are
plain characters. The catalog's CJK bigram analyser (catalog.search.engines) cannot: its
standard tokenizer drops punctuation and keeps 15 and Grade whole. No score is computed:
rows come in the query's sort order, ending in ``_id``, as on the SQL store.

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

import math
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import chain, islice
from types import ModuleType
from urllib.parse import urlsplit

from catalog.interfaces import RecordBatch, RecordField, RecordPage, RecordQuery, RecordRows
from catalog.records import (
    COUNT_EXACT_LIMIT,
    EXACT_TYPES,
    EXPORT_BATCH,
    ID,
    MAX_GROUPS,
    NEEDS_COERCION,
    CheckedQuery,
    check_fields,
    check_group_field,
    check_query,
    coerce,
    encode_cursor,
    resource_key,
)
from catalog.search.engines import INDEX_SETTINGS, client_url

BULK_CHUNK = 2000  # documents a request: 500 to 5000 measured alike here; ~0.5 MB each
PIT_KEEP_ALIVE = "5m"  # between two batches of an export, however slow its reader
PAGE_PIT_KEEP_ALIVE = "2m"  # between two pages of a walk by cursor
KEYWORD_CHARS = 8191  # Lucene's 32,766-byte term limit in UTF-8's worst case, 4 bytes a char
ROW = "row"
META_VERSION = 1
LONG_MAX, LONG_MIN = 2**63 - 1, -(2**63)
DAY_MS = 86_400_000
EPOCH = datetime(1970, 1, 1)
EPOCH_DATE = EPOCH.date()

SETTINGS = {
    "number_of_shards": INDEX_SETTINGS["number_of_shards"],
    "auto_expand_replicas": "0-1",
    "analysis": {
        "tokenizer": {"one_char": {"type": "ngram", "min_gram": 1, "max_gram": 1}},
        "analyzer": {"chars": {"type": "custom", "tokenizer": "one_char", "filter": ["lowercase"]}},
    },
}
# Rows are never scored: no norms on text, and every clause runs as a filter.
_TEXT = {
    "type": "text",
    "analyzer": "chars",
    "norms": False,
    "fields": {"keyword": {"type": "keyword", "ignore_above": KEYWORD_CHARS}},
}
_ENGINE_TYPES = {
    "text": _TEXT,
    "integer": {"type": "long"},
    "number": {"type": "double"},
    "date": {"type": "date"},
    "datetime": {"type": "date"},
    "boolean": {"type": "boolean"},
    "geo_point": {"type": "geo_point"},
}


# -- the schema: fields and their engine names -------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """A resource's index and fields, read from the index's ``_meta``."""

    alias: str
    index: str
    fields: tuple[RecordField, ...]
    columns: dict[str, str]  # field name -> engine field

    @classmethod
    def read(cls, alias: str, index: str, meta: dict) -> "Schema":
        if meta.get("version") != META_VERSION:
            raise RuntimeError(f"Index {index} is not a record index of this version.")
        fields = tuple(
            RecordField(f["name"], f["type"], f["title"], f["sensitive"]) for f in meta["fields"]
        )
        columns = {f["name"]: f["column"] for f in meta["fields"]}
        return cls(alias, index, fields, columns)

    def column(self, field: RecordField) -> str:
        """The engine field that filters, sorts and groups on this field."""
        if field.name == ID:
            return ROW
        column = self.columns[field.name]
        return f"{column}.keyword" if field.type == "text" else column


def build_mappings(key: str, fields: list[RecordField]) -> dict:
    columns = [f"f{i}" for i in range(len(fields))]
    meta = {
        "version": META_VERSION,
        "resource_id": key,
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "title": f.title,
                "sensitive": f.sensitive,
                "column": c,
            }
            for f, c in zip(fields, columns, strict=True)
        ],
    }
    properties = {ROW: {"type": "long"}}
    properties.update({c: _ENGINE_TYPES[f.type] for f, c in zip(fields, columns, strict=True)})
    return {"dynamic": "strict", "_meta": meta, "properties": properties}


# -- values: Python <-> engine -------------------------------------------------------------------


_TO_ENGINE = {
    "date": date.isoformat,
    "datetime": datetime.isoformat,  # naive: the engines read it as UTC
    "geo_point": lambda value: {"lat": value[0], "lon": value[1]},
}


def query_value(kind: str, value: object) -> object:
    """A typed value as a term or range takes it. Dates and datetimes go to the microsecond:
    the engines fill what a value leaves out of its time by rounding up in lte and term, so
    that 08:30:00 would take 08:30:00.999 too."""
    if kind == "datetime":
        return value.isoformat(timespec="microseconds")
    if kind == "date":
        return f"{value.isoformat()}T00:00:00.000000"
    return value


def _geo(value: dict) -> tuple[float, float]:
    return float(value["lat"]), float(value["lon"])


_FROM_SOURCE = {
    "text": str,
    "integer": int,
    "number": float,
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
    "boolean": bool,
    "geo_point": _geo,
}


def _missing(kind: str, descending: bool) -> object:
    """The value the engine sorts a missing value as, missing last (numbers as doubles,
    keywords as null, the rest as longs: booleans are sorted with numeric_type long)."""
    if kind == "text":
        return None
    if kind == "number":
        return "-Infinity" if descending else "Infinity"
    return LONG_MIN if descending else LONG_MAX


def from_sort_value(field: RecordField, descending: bool, value: object) -> object:
    """An engine sort value as the typed value the cursor carries (None: missing)."""
    if value is None or value == _missing(field.type, descending):
        return None
    kind = field.type
    if kind == "number":
        return None if isinstance(value, str) or math.isinf(value) else float(value)
    if kind == "date":
        return EPOCH_DATE + timedelta(days=value // DAY_MS)
    if kind == "datetime":
        return EPOCH + timedelta(milliseconds=value)
    if kind == "boolean":
        return bool(value)
    return value


def to_sort_value(field: RecordField, descending: bool, value: object) -> object:
    """A typed cursor value as search_after takes it."""
    if value is None:
        return _missing(field.type, descending)
    if field.type == "date":
        return (value - EPOCH_DATE).days * DAY_MS
    if field.type == "datetime":
        return (value - EPOCH) // timedelta(milliseconds=1)
    if field.type == "boolean":
        return int(value)
    return value


def from_group_key(field: RecordField, key: object) -> object:
    if field.type in ("date", "datetime"):
        return from_sort_value(field, False, key)
    return _FROM_SOURCE[field.type](key)


def document_maker(schema: Schema):
    """A function from a row dict to (row number, engine document). A value already of its
    field's exact type costs one type check; any other goes through coerce (and may fail)."""
    plan = [
        (
            f.name,
            schema.columns[f.name],
            f,
            EXACT_TYPES[f.type],
            NEEDS_COERCION.get(f.type),
            _TO_ENGINE.get(f.type),
        )
        for f in schema.fields
    ]
    known = frozenset([ID, *schema.columns])
    id_field = RecordField(ID, "integer")

    def make(row: dict) -> tuple[int, dict]:
        get = row.get
        row_id = get(ID)
        if type(row_id) is not int:
            row_id = coerce(id_field, row_id)
            if row_id is None:
                raise ValueError("Every row needs its _id (its position, from 1).")
        if not row.keys() <= known:
            raise ValueError(f"Row {row_id}: unknown fields {sorted(row.keys() - known)}.")
        document = {ROW: row_id}
        for name, column, field, exact, suspect, engine in plan:
            value = get(name)
            if value is None:
                continue
            if type(value) is not exact or (suspect is not None and suspect(value)):
                value = coerce(field, value)
            document[column] = value if engine is None else engine(value)
        return row_id, document

    return make


# -- queries ---------------------------------------------------------------------------------


def build_query(schema: Schema, checked: CheckedQuery) -> dict:
    """The bool query of a checked query's filters and words, all in filter context."""
    clauses = []
    by_name = {field.name: field for field in schema.fields}
    for condition in checked.filters:
        field = by_name.get(condition.field) or RecordField(ID, "integer")
        if condition.op == "exists":
            # The text field itself: its keyword is absent for overlong values.
            name = ROW if field.name == ID else schema.columns[field.name]
            exists = {"exists": {"field": name}}
            clauses.append(exists if condition.value else {"bool": {"must_not": [exists]}})
            continue
        column = schema.column(field)
        if condition.op == "eq":
            clauses.append({"term": {column: query_value(field.type, condition.value)}})
        elif condition.op == "in":
            values = [query_value(field.type, value) for value in condition.values]
            clauses.append({"terms": {column: values}})
        else:
            bounds = {
                bound: query_value(field.type, value)
                for bound, value in (("gte", condition.gte), ("lte", condition.lte))
                if value is not None
            }
            clauses.append({"range": {column: bounds}})
    if checked.words:
        columns = [schema.columns[field.name] for field in checked.search_fields]
        if not columns:
            return {"match_none": {}}
        for word in checked.words:
            phrases = [{"match_phrase": {column: word}} for column in columns]
            clauses.append(phrases[0] if len(phrases) == 1 else {"bool": {"should": phrases}})
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


def build_sort(schema: Schema, checked: CheckedQuery) -> list[dict]:
    sort = []
    for field, descending in checked.sort:
        order = {"order": "desc" if descending else "asc"}
        if field.name != ID:
            order["missing"] = "_last"
            if field.type == "boolean":  # sorted as long on every engine and version
                order["numeric_type"] = "long"
        sort.append({schema.column(field): order})
    return sort


def build_page_body(schema: Schema, checked: CheckedQuery, size: int) -> dict:
    # Filtering the source costs the engine as much again as fetching it: ask for it whole
    # unless some fields are left out.
    source = True
    if len(checked.fields) < len(schema.fields):
        source = {"includes": [ROW, *(schema.columns[f.name] for f in checked.fields)]}
    body = {"query": build_query(schema, checked), "size": size, "_source": source}
    if size:
        body["sort"] = build_sort(schema, checked)
    if checked.after is not None:
        body["search_after"] = [
            to_sort_value(field, descending, value)
            for (field, descending), value in zip(checked.sort, checked.after, strict=True)
        ]
    return body


def read_hits(schema: Schema, checked: CheckedQuery, hits: list[dict]) -> list[dict]:
    shape = [
        (field.name, schema.columns[field.name], _FROM_SOURCE[field.type])
        for field in checked.fields
    ]
    rows = []
    for hit in hits:
        source = hit["_source"]
        row = {ID: source[ROW]}
        for name, column, convert in shape:
            value = source.get(column)
            row[name] = None if value is None else convert(value)
        rows.append(row)
    return rows


# Sources hold these as the field's Python type already (JSON strings, integers, booleans).
_SOURCE_AS_IS = frozenset({"text", "integer", "boolean"})


def read_hit_columns(schema: Schema, checked: CheckedQuery, hits: list[dict]) -> RecordBatch:
    """The hits as a batch by column: the values read_hits gives, a column at a time."""
    sources = [hit["_source"] for hit in hits]
    columns = []
    for field in checked.fields:
        column = schema.columns[field.name]
        if field.type in _SOURCE_AS_IS:
            columns.append([source.get(column) for source in sources])
        else:
            convert = _FROM_SOURCE[field.type]
            values = [source.get(column) for source in sources]
            columns.append([None if value is None else convert(value) for value in values])
    names = tuple(field.name for field in checked.fields)
    return RecordBatch(names, [source[ROW] for source in sources], columns)


def last_sort_values(checked: CheckedQuery, hit: dict) -> tuple:
    return tuple(
        from_sort_value(field, descending, value)
        for (field, descending), value in zip(checked.sort, hit["sort"], strict=True)
    )


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
