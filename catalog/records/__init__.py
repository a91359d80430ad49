"""Record stores: the rows of tabular resources (CKAN's DataStore), one port, several backends.

What every backend shares lives here, so they validate alike and answer alike: the limits,
the resource id check, the coercion of values to their field's type, the checking of a
query against the fields, and the cursor codec. Bad input raises ValueError, with a message
fit for the caller (the services turn it into a 400); an unknown resource raises KeyError.

Limits (the same for every backend; the API documents them):

- a page holds at most ``MAX_LIMIT`` rows (1000); ``RecordQuery.limit`` defaults to 100 and
  a larger one is cut to ``MAX_LIMIT``; 0 asks for the total alone;
- ``group_counts`` returns at most ``MAX_GROUPS`` values (1000);
- ``q`` is at most ``MAX_Q_CHARS`` characters and ``MAX_Q_WORDS`` words (whitespace splits
  words; a row must contain every word, as a substring of one of its searched text fields);
- at most ``MAX_FILTERS`` filters, ``MAX_IN_VALUES`` values in one ``in`` filter and
  ``MAX_SORT_FIELDS`` sort fields;
- totals: without ``q`` or filters the total is exact. With them it is exact up to
  ``COUNT_EXACT_LIMIT`` matching rows; beyond, counting would be slow, so the total is
  ``COUNT_EXACT_LIMIT`` with ``total_is_estimate=True``: a lower bound, as Elasticsearch's
  ``track_total_hits`` gives;
- exports read ``EXPORT_BATCH`` rows at a time, by cursor, whatever the size.

Sorting: by the given fields, then ``_id``; a field's missing values (None) come last in
both directions. Group counts leave missing values out.
"""

import base64
import binascii
import hashlib
import json
import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from catalog.interfaces import RecordField, RecordFilter, RecordQuery
from catalog.vocab import FieldType

MAX_LIMIT = 1000
MAX_GROUPS = 1000
MAX_Q_CHARS = 200
MAX_Q_WORDS = 10
MAX_FILTERS = 50
MAX_IN_VALUES = 1000
MAX_SORT_FIELDS = 5
COUNT_EXACT_LIMIT = 100_000
EXPORT_BATCH = 1000
MAX_CURSOR_CHARS = 4096

FIELD_TYPES = frozenset(FieldType.codes())
FILTER_OPS = frozenset({"eq", "in", "range", "exists"})
# Sorting, ranges and grouping need an order; a geo point has none.
ORDERED_TYPES = frozenset(FIELD_TYPES - {"geo_point"})
RANGE_TYPES = frozenset(ORDERED_TYPES - {"boolean"})
ID = "_id"
RESOURCE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ID_FIELD = RecordField(ID, "integer")
_TRUE = {"true", "1", "yes", "是"}
_FALSE = {"false", "0", "no", "否"}


def resource_key(resource_id: str) -> str:
    """The resource id in canonical form (a lowercase UUID with hyphens), safe to build a
    table or index name from; ValueError for anything else."""
    if isinstance(resource_id, str) and RESOURCE_ID.fullmatch(resource_id.lower()):
        return resource_id.lower()
    raise ValueError(f"{resource_id!r} is not a resource id (a UUID).")


def check_fields(fields: list[RecordField]) -> None:
    """Raise ValueError unless the fields have distinct names, none ``_id``, known types."""
    if not fields:
        raise ValueError("A record store needs at least one field.")
    seen: set[str] = set()
    for field in fields:
        if not isinstance(field.name, str) or not field.name.strip():
            raise ValueError("Every field needs a name.")
        if field.name == ID:
            raise ValueError(f"{ID!r} is the row number, not a field name.")
        if field.name in seen:
            raise ValueError(f"Field {field.name!r} appears twice.")
        if field.type not in FIELD_TYPES:
            raise ValueError(
                f"Field {field.name!r}: type {field.type!r} is not one of {sorted(FIELD_TYPES)}"
            )
        seen.add(field.name)


def coerce(field: RecordField, value: object) -> object:
    """The value as its field's type holds it: int, float, str, date, naive datetime (an
    aware one is converted to UTC), bool, or a (lat, lon) tuple of floats. ISO strings are
    taken for dates and datetimes, numeric strings for numbers. None stays None. Raises
    ValueError naming the field."""
    if value is None:
        return None
    try:
        return _COERCE[field.type](value)
    except (ValueError, TypeError, ArithmeticError) as error:
        raise ValueError(f"Field {field.name!r} ({field.type}): {error}") from None


def coerce_row_id(value: object) -> int:
    """A row's ``_id`` given as other than an int (the stores test ``type(v) is int`` first,
    inline, as that is every row of a load)."""
    row_id = coerce(RecordField(ID, "integer"), value)
    if row_id is None:
        raise ValueError("Every row needs its _id (its position, from 1).")
    return row_id


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    # PostgreSQL text cannot hold NUL; drop it everywhere so the backends agree.
    return value.replace("\x00", "") if "\x00" in value else value


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        number = int(value.strip())
    elif isinstance(value, float | Decimal) and value == int(value):
        number = int(value)
    else:
        raise ValueError(f"{value!r} is not an integer")
    if not -(2**63) <= number < 2**63:
        raise ValueError(f"{value!r} is out of the 64-bit range")
    return number


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        value = Decimal(value.strip())
    if not isinstance(value, int | float | Decimal):
        raise ValueError(f"{value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _date(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is a datetime, not a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise ValueError(f"{value!r} is not a date")


def _datetime(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a datetime")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{value!r} is not a boolean")


def _geo_point(value: object) -> tuple[float, float]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{value!r} is not a (lat, lon) pair")
    lat, lon = (_number(part) for part in value)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{value!r} is not a latitude and longitude")
    return lat, lon


_COERCE = {
    "text": _text,
    "integer": _integer,
    "number": _number,
    "date": _date,
    "datetime": _datetime,
    "boolean": _boolean,
    "geo_point": _geo_point,
}


@dataclass(frozen=True)
class CheckedQuery:
    """A RecordQuery checked against a resource's fields, its values coerced."""

    words: tuple[str, ...]  # of q, each to be found in one of search_fields
    search_fields: tuple[RecordField, ...]  # the text fields q searches
    filters: tuple[RecordFilter, ...]  # values coerced to the field's type
    sort: tuple[tuple[RecordField, bool], ...]  # (field, descending), always ending in _id
    fields: tuple[RecordField, ...]  # the fields each row carries besides _id
    limit: int
    after: tuple | None  # the previous page's last sort values, from the cursor
    fingerprint: str  # of words, filters and sort: a cursor belongs to one such query
    pit: str | None = None  # the engines' point in time the cursor's pages read, if any


def check_query(fields: list[RecordField], query: RecordQuery) -> CheckedQuery:
    """Check a query against the fields; raise ValueError saying what is wrong."""
    by_name = {field.name: field for field in fields}

    def known(name: str, purpose: str) -> RecordField:
        if name == ID:
            return _ID_FIELD
        if name not in by_name:
            raise ValueError(f"Unknown field {name!r} in {purpose}.")
        return by_name[name]

    q = query.q or ""
    if len(q) > MAX_Q_CHARS:
        raise ValueError(f"q is longer than {MAX_Q_CHARS} characters.")
    words = tuple(dict.fromkeys(q.split()))
    if len(words) > MAX_Q_WORDS:
        raise ValueError(f"q has more than {MAX_Q_WORDS} words.")
    # RecordQuery.search_fields (when the interface has it) narrows q to some text fields,
    # e.g. to leave out the sensitive ones a caller sees masked.
    wanted = getattr(query, "search_fields", ()) or ()
    if wanted:
        search_fields = tuple(known(name, "search_fields") for name in wanted)
        for field in search_fields:
            if field.type != "text":
                raise ValueError(f"Field {field.name!r} is not text: q cannot search it.")
    else:
        search_fields = tuple(field for field in fields if field.type == "text")

    if len(query.filters) > MAX_FILTERS:
        raise ValueError(f"More than {MAX_FILTERS} filters.")
    filters = tuple(_check_filter(known(f.field, "filters"), f) for f in query.filters)

    if len(query.sort) > MAX_SORT_FIELDS:
        raise ValueError(f"More than {MAX_SORT_FIELDS} sort fields.")
    sort: list[tuple[RecordField, bool]] = []
    for name, direction in query.sort:
        field = known(name, "sort")
        if field.type not in ORDERED_TYPES:
            raise ValueError(f"Field {name!r} ({field.type}) cannot be sorted on.")
        if direction not in ("asc", "desc"):
            raise ValueError(f"Sort direction of {name!r} must be 'asc' or 'desc'.")
        if any(seen.name == name for seen, _ in sort):
            raise ValueError(f"Field {name!r} is sorted on twice.")
        sort.append((field, direction == "desc"))
        if name == ID:
            break  # _id is unique: nothing after it can change the order
    if not sort or sort[-1][0].name != ID:
        sort.append((_ID_FIELD, False))

    selected = tuple(
        dict.fromkeys(known(name, "fields") for name in query.fields if name != ID)
    ) or tuple(fields)

    if query.limit is None or query.limit < 0:
        raise ValueError("limit must be 0 or more.")
    fingerprint = _fingerprint(words, search_fields, filters, sort)
    after, pit = None, None
    if query.cursor:
        after, pit = decode_cursor(query.cursor, sort, fingerprint)
    return CheckedQuery(
        words=words,
        search_fields=search_fields,
        filters=filters,
        sort=tuple(sort),
        fields=selected,
        limit=min(query.limit, MAX_LIMIT),
        after=after,
        fingerprint=fingerprint,
        pit=pit,
    )


def check_group_field(fields: list[RecordField], name: str) -> RecordField:
    for field in fields:
        if field.name == name:
            if field.type not in ORDERED_TYPES:
                raise ValueError(f"Field {name!r} ({field.type}) cannot be grouped on.")
            return field
    raise ValueError(f"Unknown field {name!r} to group on.")


def _check_filter(field: RecordField, condition: RecordFilter) -> RecordFilter:
    name = field.name
    if condition.op not in FILTER_OPS:
        raise ValueError(f"Filter on {name!r}: op {condition.op!r} is not one of {FILTER_OPS}.")
    if condition.op == "exists":
        if not isinstance(condition.value, bool):
            raise ValueError(f"Filter on {name!r}: exists takes True or False.")
        return condition
    if field.type == "geo_point":
        raise ValueError(f"Field {name!r} (geo_point) takes only the exists filter.")
    if condition.op == "eq":
        if condition.value is None:
            raise ValueError(f"Filter on {name!r}: eq needs a value (use exists for none).")
        return replace(condition, value=coerce(field, condition.value))
    if condition.op == "in":
        values = condition.values
        if isinstance(values, str | bytes) or not values:
            raise ValueError(f"Filter on {name!r}: in needs a list of values.")
        if len(values) > MAX_IN_VALUES:
            raise ValueError(f"Filter on {name!r}: more than {MAX_IN_VALUES} values.")
        if any(value is None for value in values):
            raise ValueError(f"Filter on {name!r}: in takes no None (use exists).")
        return replace(condition, values=tuple(coerce(field, value) for value in values))
    if field.type not in RANGE_TYPES:
        raise ValueError(f"Field {name!r} ({field.type}) takes no range.")
    if condition.gte is None and condition.lte is None:
        raise ValueError(f"Filter on {name!r}: range needs gte or lte.")
    return replace(condition, gte=coerce(field, condition.gte), lte=coerce(field, condition.lte))


def _jsonable(value: object) -> object:
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


def _fingerprint(words, search_fields, filters, sort) -> str:
    shape = [
        list(words),
        [field.name for field in search_fields],
        [[f.field, f.op, *map(_jsonable, (f.value, f.values, f.gte, f.lte))] for f in filters],
        [[field.name, descending] for field, descending in sort],
    ]
    return _digest(json.dumps(shape, ensure_ascii=False, sort_keys=True))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(query: CheckedQuery, values: tuple, pit: str | None = None) -> str:
    """An opaque, URL-safe cursor after the row whose sort values are ``values``, and on
    the engines the point in time its pages read.

    It carries a digest of its content and of the query, so an edited cursor, or one
    carried over to another query, is refused. The digest has no secret: it catches
    mistakes, not forgers, and needs none, since a cursor only holds values a caller
    could as well put in a filter, and the engines check that a point in time's hits come
    from the resource asked for."""
    body = json.dumps([_jsonable(value) for value in values], ensure_ascii=False)
    token = {"after": body, "digest": _digest(query.fingerprint + body + (pit or ""))}
    if pit:
        token["pit"] = pit
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str, sort: list[tuple[RecordField, bool]] | tuple, fingerprint: str
) -> tuple[tuple, str | None]:
    """The typed sort values a cursor carries and its point in time (None: none);
    ValueError if it is not one of this query's."""
    invalid = ValueError("The cursor is not valid for this query (start again without it).")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        token = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        body = token["after"]
        pit = token.get("pit")
        if not isinstance(body, str) or not isinstance(pit, str | None):
            raise invalid
        if token["digest"] != _digest(fingerprint + body + (pit or "")):
            raise invalid
        values = json.loads(body)
    except (
        binascii.Error,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        AttributeError,
    ):
        raise invalid from None
    if not isinstance(values, list) or len(values) != len(sort) or values[-1] is None:
        raise invalid
    try:
        after = tuple(coerce(field, value) for (field, _), value in zip(sort, values, strict=True))
    except ValueError:
        raise invalid from None
    return after, pit or None


# The fast path of loading: a value already of its field's exact Python type is taken as
# it is, unless it is one of these that coerce must still see (NUL in text, NaN or infinity,
# aware datetimes, geo points but pairs of floats in range). Shared by every backend.
EXACT_TYPES = {
    "text": str,
    "integer": int,
    "number": float,
    "date": date,
    "datetime": datetime,
    "boolean": bool,
    "geo_point": tuple,
}
NEEDS_COERCION = {
    "text": lambda value: "\x00" in value,
    "number": lambda value: not math.isfinite(value),
    "datetime": lambda value: value.tzinfo is not None,
    "geo_point": lambda value: (
        not (
            len(value) == 2
            and type(value[0]) is float
            and type(value[1]) is float
            and -90 <= value[0] <= 90
            and -180 <= value[1] <= 180
        )
    ),
}
