"""Records in the engines' terms: the index's mapping and ``_meta``, the document a row
becomes, the query, sort and search_after of a page, and the rows read back from its hits.

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
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from catalog.interfaces import RecordBatch, RecordField
from catalog.records import EXACT_TYPES, ID, NEEDS_COERCION, CheckedQuery, coerce, coerce_row_id
from catalog.search.engines import INDEX_SETTINGS

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

    def make(row: dict) -> tuple[int, dict]:
        get = row.get
        row_id = get(ID)
        if type(row_id) is not int:
            row_id = coerce_row_id(row_id)
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
