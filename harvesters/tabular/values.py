"""Values: which types a raw value fits, and how a raw value becomes its field's value.

The rules are those of ``harvesters.tabular.inference``. The raw text is normalised here
(thousands separators, percent signs, Chinese and slashed dates, missing-value markers);
``catalog.records.coerce`` then types and checks it, as every record store does, so a
value that passes here is one the store takes.
"""

import contextlib
import json
import math
import operator
import re
from collections.abc import Callable, Hashable, Iterator
from datetime import date, datetime, time

from catalog.interfaces import RecordField
from catalog.records import coerce
from harvesters.tabular.model import FieldPlan, Pair


class Unfit(ValueError):
    """A raw value that does not fit its field, with a reason fit for the report."""


BOOLEAN, INTEGER, NUMBER, DATE, DATETIME, GEO_POINT = 1, 2, 4, 8, 16, 32
CODE = 64  # a value that is a code: the column stays text
ORDER = (
    (BOOLEAN, "boolean"),
    (INTEGER, "integer"),
    (NUMBER, "number"),
    (DATE, "date"),
    (DATETIME, "datetime"),
    (GEO_POINT, "geo_point"),
)

MISSING = frozenset(
    ["", "-", "--", "—", "——", "…", "……", "...", "null", "none", "nan", "n/a", "na", "#n/a"]
)
_BOOLEAN_WORDS = frozenset(["true", "false", "yes", "no", "是", "否"])
_INTEGER = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)")
_NUMBER = re.compile(
    r"[+-]?(?:\d+(?:\.\d*)?|\.\d+|\d{1,3}(?:,\d{3})+(?:\.\d*)?)(?:[eE][+-]?\d+)?%?"
)
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?%?")
_LEADING_ZERO = re.compile(r"[+-]?0\d")
_DATE = r"(\d{4})(?:([-/.])(\d{1,2})\2(\d{1,2})|年(\d{1,2})月(\d{1,2})日)"
_TIME = r"(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?\s*(Z|[+-]\d{2}:?\d{2})?"
DATE_PATTERN = re.compile(_DATE)
DATETIME_PATTERN = re.compile(_DATE + _TIME)
_GEO_TEXT = re.compile(r"\s*([+-]?\d{1,2}\.\d+)\s*,\s*([+-]?\d{1,3}\.\d+)\s*")


def classify(value: object) -> int:
    """The types a value fits, as bits; 0 for an empty value, CODE for a code."""
    if isinstance(value, str):
        return _classify_text(value)
    if value is None:
        return 0
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER | NUMBER
    if isinstance(value, float):
        if not math.isfinite(value):
            return 0
        return NUMBER | (INTEGER if value.is_integer() and abs(value) < 2**53 else 0)
    if isinstance(value, datetime):
        return DATETIME | (DATE if value.time() == time() else 0)
    if isinstance(value, date):
        return DATE | DATETIME
    if isinstance(value, dict) and point_of(value) is not None:
        return GEO_POINT if on_earth(*point_of(value)) else -1
    return -1  # a value that fits no type: a time of day, a list, another geometry


def _classify_text(value: str) -> int:
    text = value.strip()
    if text.lower() in MISSING:
        return 0
    first = text[0]
    if not (first.isdigit() or first in "+-."):
        return BOOLEAN if text.lower() in _BOOLEAN_WORDS else -1
    if _INTEGER.fullmatch(text):
        digits = text.lstrip("+-").replace(",", "")
        if (len(digits) > 1 and digits[0] == "0") or len(digits) > 15:
            return CODE
        return INTEGER | NUMBER
    if _NUMBER.fullmatch(text):
        return CODE if _LEADING_ZERO.match(text) else NUMBER
    if DATE_PATTERN.fullmatch(text):
        return DATE | DATETIME if parse_date(text) else -1
    if DATETIME_PATTERN.fullmatch(text):
        return DATETIME if parse_datetime(text) else -1
    match = _GEO_TEXT.fullmatch(text)
    if match and on_earth(float(match[1]), float(match[2])):
        return GEO_POINT
    return -1  # text that fits no type


def point_of(value: dict) -> tuple[float, float] | None:
    """(lat, lon) of a GeoJSON Point geometry, else None."""
    coordinates = value.get("coordinates")
    if value.get("type") != "Point" or not isinstance(coordinates, list | tuple):
        return None
    if len(coordinates) < 2 or not all(
        isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates[:2]
    ):
        return None
    return float(coordinates[1]), float(coordinates[0])


def on_earth(lat: float, lon: float) -> bool:
    return -90 <= lat <= 90 and -180 <= lon <= 180


def _ymd(match: re.Match) -> date | None:
    year, month, day = match[1], match[3] or match[5], match[4] or match[6]
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """A date in one of the accepted forms (stripped text), else None."""
    match = DATE_PATTERN.fullmatch(text)
    return _ymd(match) if match else None


def parse_datetime(text: str) -> datetime | None:
    """A date and time in one of the accepted forms (stripped text), else None; an aware
    one keeps its zone (coerce turns it to UTC)."""
    match = DATETIME_PATTERN.fullmatch(text)
    day = _ymd(match) if match else None
    if day is None:
        return None
    hour, minute, second, fraction, zone = match.group(7, 8, 9, 10, 11)
    iso = f"{day}T{int(hour):02d}:{minute}:{second or '00'}{fraction or ''}{zone or ''}"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def get_value(values: list | dict, key: Hashable) -> object:
    if type(values) is dict:
        return values.get(key)
    return values[key] if key < len(values) else None


def is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING


def _as_text(value: object) -> str:
    """A spreadsheet's or a JSON document's value as the text a text field keeps."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _figure(text: str) -> str | None:
    """Number text without thousands separators or a percent sign; None if missing."""
    text = text.strip()
    if text.lower() in MISSING:
        return None
    if "," in text and _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    return text[:-1] if text.endswith("%") else text


DESCRIPTION = {
    "text": "text",
    "integer": "an integer",
    "number": "a number",
    "date": "a date (YYYY-MM-DD, YYYY/MM/DD or YYYY年MM月DD日)",
    "datetime": "a date and time",
    "boolean": "true/false (是/否)",
    "geo_point": "a latitude and longitude",
}


# Parsers: a raw value to its field's value, None when it is missing, ValueError when it
# does not fit. catalog.records.coerce decides what a value may be. Anything unusual is
# normalised (separators, percent signs, Chinese and slashed dates, missing markers) and
# handed to it; it checks integers (64-bit), numbers (finite), datetimes (to UTC) and geo
# points (on the Earth) as the record stores do. Two shortcuts, for speed on millions of
# rows, route values without deciding anything coerce would decide otherwise:
# - a value the C parsers read (int(), float()) that is plainly within coerce's bounds is
#   taken as it is (coerce would give it back unchanged); one that is not goes to coerce;
# - booleans, dates and datetimes repeat, so coerce's answer for each distinct raw text is
#   remembered (up to MEMO_SIZE texts per field).
MEMO_SIZE = 4096
_INT64 = 2**63


def _memoized(parse: Callable[[str], object]) -> Callable[[object], object]:
    memo: dict[str, object] = {}

    def remembered(value):
        if type(value) is not str:
            return parse(value)
        try:
            return memo[value]
        except KeyError:
            pass
        result = parse(value)  # a ValueError is raised again each time: failures are few
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[value] = result
        return result

    return remembered


def _text_parser(field: RecordField) -> Callable[[object], object]:
    def parse(value):
        if type(value) is str:
            return value.strip() or None
        return None if value is None else coerce(field, _as_text(value))

    return parse


def _figure_parser(field: RecordField, fast: type) -> Callable[[object], object]:
    def parse(value):
        if type(value) is str:
            if "," in value or "%" in value:
                value = _figure(value)
                if value is None:
                    return None
            try:
                value = fast(value)
            except ValueError:
                if is_missing(value):
                    return None
            else:
                if -_INT64 < value < _INT64:  # not inf, nan, nor past 64 bits
                    return value
        return None if value is None else coerce(field, value)

    return parse


def _date_parser(field: RecordField) -> Callable[[object], object]:
    def parse(value):
        if type(value) is str:
            text = value.strip()
            day = parse_date(text)
            if day is not None:
                return day
            if text.lower() in MISSING:
                return None
        elif type(value) is datetime:
            if value.time() != time():
                raise Unfit(f"{value} has a time of day")
            return value.date()
        return None if value is None else coerce(field, value)

    return _memoized(parse)


def _datetime_parser(field: RecordField) -> Callable[[object], object]:
    def parse(value):
        if type(value) is str:
            text = value.strip()
            moment = parse_datetime(text) or parse_date(text)
            if moment is not None:
                value = moment
            elif text.lower() in MISSING:
                return None
        return None if value is None else coerce(field, value)

    return _memoized(parse)


def _boolean_parser(field: RecordField) -> Callable[[object], object]:
    def parse(value):
        if value is None:
            return None
        try:
            return coerce(field, value)
        except ValueError:
            if isinstance(value, str) and is_missing(value):
                return None
            raise

    return _memoized(parse)


def _point_parser(field: RecordField) -> Callable[[object], object]:
    def parse(value):
        if isinstance(value, dict):
            point = point_of(value)
            if point is None:
                raise Unfit(f"a {value.get('type')} geometry, not a Point")
            value = point
        elif isinstance(value, str) and is_missing(value):
            return None
        return None if value is None else coerce(field, value)

    return parse


def pair_value(lat: object, lon: object) -> tuple | None:
    """(lat, lon) from two columns' raw values, each a float where it reads as a number;
    None if both are missing."""
    lat = _figure(lat) if isinstance(lat, str) else lat
    lon = _figure(lon) if isinstance(lon, str) else lon
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        raise Unfit("has only one of latitude and longitude")
    with contextlib.suppress(TypeError, ValueError):  # else coerce says what is wrong
        return float(lat), float(lon)
    return lat, lon


def _pair_parser(field: RecordField) -> Callable[[tuple], object]:
    def parse(pair):
        try:
            lat, lon = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            point = pair_value(*pair)
            return None if point is None else coerce(field, point)
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return lat, lon
        return coerce(field, (lat, lon))  # it says what is wrong

    return parse


_PARSERS: dict[str, Callable[[RecordField], Callable[[object], object]]] = {
    "text": _text_parser,
    "integer": lambda field: _figure_parser(field, int),
    "number": lambda field: _figure_parser(field, float),
    "date": _date_parser,
    "datetime": _datetime_parser,
    "boolean": _boolean_parser,
    "geo_point": _point_parser,
}


class RowConverter:
    """Source rows to records: their fields' values by field name."""

    def __init__(self, plans: list[FieldPlan], keyed: bool):
        self.fields = [plan.field for plan in plans]
        self.parsers = [
            _pair_parser(plan.field)
            if isinstance(plan.source, Pair)
            else _PARSERS[plan.field.type](plan.field)
            for plan in plans
        ]
        self.named = [
            (field.name, parse) for field, parse in zip(self.fields, self.parsers, strict=True)
        ]
        self.raw = _raw_getter([plan.source for plan in plans], keyed)

    def __call__(self, values: list | dict) -> dict:
        """The record; ValueError (or TypeError) at the first value that does not fit."""
        return {
            name: parse(raw)
            for (name, parse), raw in zip(self.named, self.raw(values), strict=True)
        }

    def each(self, values: list | dict) -> Iterator[tuple[RecordField, object, object]]:
        """(field, raw value, value or the error it raised), one by one."""
        for field, parse, raw in zip(self.fields, self.parsers, self.raw(values), strict=True):
            try:
                yield field, raw, parse(raw)
            except (ValueError, TypeError, ArithmeticError) as error:
                yield field, raw, error


def _raw_getter(sources: list, keyed: bool) -> Callable[[list | dict], tuple | list]:
    """A function from a row to the raw value of each source (a (lat, lon) pair for a
    Pair). List rows are as wide as the header (the readers pad them), so plain
    positions are taken at once with itemgetter."""
    if keyed:

        def raw_keyed(values: dict) -> list:
            get = values.get
            return [
                (get(source.lat), get(source.lon)) if isinstance(source, Pair) else get(source)
                for source in sources
            ]

        return raw_keyed
    plain = [source for source in sources if not isinstance(source, Pair)]
    pairs = [(i, source) for i, source in enumerate(sources) if isinstance(source, Pair)]
    take = operator.itemgetter(*plain) if len(plain) > 1 else _one_or_none(plain)
    if not pairs:
        return take

    def with_pairs(values: list) -> list:
        raws = list(take(values))
        for position, (lat, lon) in pairs:
            raws.insert(position, (values[lat], values[lon]))
        return raws

    return with_pairs


def _one_or_none(positions: list[int]) -> Callable[[list], tuple]:
    def take(values: list) -> tuple:
        return tuple(values[position] for position in positions)

    return take
