"""Field types, names and sensitivity, inferred from a table's header and a sample of rows.

Rules (the sample is the first ``Limits.sample_rows`` data rows):

- Empty values (and, in typed fields, the usual markers of a missing number: ``-``, ``—``,
  ``…``, ``null``, ``N/A``, ``NaN``) say nothing and become None.
- A column takes the most specific type that fits at least 99% of its non-empty sampled
  values, preferring the type that fits most: boolean, integer, number, date, datetime,
  geo_point, else text. The values that do not fit are reported as failures when loaded,
  so one stray "n.d." does not turn a column of figures into text, and nothing is lost
  without a report.
- integer: ``123``, ``-4``, ``1,234,567`` (thousands separators); number: also decimals,
  exponents and percentages (``12.5%`` is stored as 12.5, the figure as printed).
- Codes stay text: any value with a leading zero (``0757``, ``001``) or more than 15
  digits (身份证号, bank cards), and any integer column whose title names a code or an
  identifier (代码, 编码, 编号, 号码, 电话, 邮编, code, id, zip, phone...): 440604 is a
  place, not a quantity.
- date: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``, ``YYYY年MM月DD日`` (months and
  days may have one digit); datetime: a date with ``HH:MM[:SS[.ffffff]]`` and an
  optional zone; spreadsheet dates are dates when every sampled one is at midnight.
- boolean: true/false, yes/no, 是/否.
- geo_point: ``"lat,lon"`` text with decimals in both parts, a GeoJSON Point geometry, or
  a pair of number columns titled as latitude and longitude (纬度/经度, lat/lon, latitude,
  longitude) when 90% of the sampled pairs are on the Earth: the pair gives one more
  field, ``location``, beside the two numbers.
- Names are safe ASCII: the title's ASCII letters and digits in lower case joined by
  ``_`` (``pozos_id``), or ``c<i>`` (the column's position) when the title has none
  (``地区`` is ``c0``; ``2024年`` is ``c1_2024``); repeats get ``_<i>``. The original
  header is the field's title. A name is how a later ingest finds its column again.
- Titles that name personal data (身份证, 证件号, 手机, 电话, 姓名, 联系人, 联系方式,
  住址, phone, mobile, email) mark the field ``sensitive``: a suggestion for the steward.
"""

import math
import re
import unicodedata
from collections.abc import Hashable

from catalog.interfaces import RecordField
from harvesters.tabular.model import Column, FieldPlan, Pair, Row
from harvesters.tabular.values import CODE, ORDER, classify, get_value, on_earth, pair_value

MAX_MISFIT_SHARE = 0.01
# The titles already say latitude and longitude; the values need only mostly agree (the
# rest are reported when loaded: a lost decimal point is a common slip).
MIN_PAIR_SHARE = 0.9
MAX_NAME_CHARS = 48

_CODE_WORDS = ("代码", "编码", "编号", "号码", "证号", "身份证", "电话", "手机", "邮编", "账号")
_CODE_TOKENS = frozenset(
    "id code zip zipcode postcode postal phone tel telephone mobile fax".split()
)
_SENSITIVE_WORDS = (
    "身份证", "证件号", "手机", "电话", "姓名", "联系人", "联系方式", "住址",
)  # fmt: skip
_SENSITIVE_TOKENS = frozenset("phone telephone mobile email".split())
_LAT_WORDS, _LAT_TOKENS = ("纬度",), frozenset(["lat", "latitude", "latitud"])
_LON_WORDS, _LON_TOKENS = ("经度",), frozenset(["lon", "lng", "long", "longitude", "longitud"])


def _tokens(title: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", title)  # cityCode -> city Code
    return set(re.findall(r"[a-z0-9]+", spaced.lower()))


def _names_a(title: str, words: tuple[str, ...], tokens: frozenset[str]) -> bool:
    return any(word in title for word in words) or bool(_tokens(title) & tokens)


def is_code_title(title: str) -> bool:
    return _names_a(title, _CODE_WORDS, _CODE_TOKENS)


def is_sensitive_title(title: str) -> bool:
    return _names_a(title, _SENSITIVE_WORDS, _SENSITIVE_TOKENS) or "e-mail" in title.lower()


def slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", ascii_title)
    return re.sub(r"[^0-9a-z]+", "_", spaced.lower()).strip("_")[:MAX_NAME_CHARS].strip("_")


def field_names(titles: list[str]) -> list[str]:
    """Safe, distinct ASCII names for the columns, stable for the same header."""
    names: list[str] = []
    used: set[str] = set()
    for index, title in enumerate(titles):
        base = slug(title)
        if not base:
            name = f"c{index}"
        elif base[0].isdigit():
            name = f"c{index}_{base}"
        else:
            name = base
        while name in used:
            name = f"{name}_{index}"
        used.add(name)
        names.append(name)
    return names


def _free_name(wanted: str, used: set[str]) -> str:
    name, suffix = wanted, 2
    while name in used:
        name, suffix = f"{wanted}_{suffix}", suffix + 1
    return name


def column_titles(columns: list[Column]) -> list[str]:
    return [column.title.strip() or f"第{index + 1}列" for index, column in enumerate(columns)]


def infer_type(values: list[object], title: str) -> str:
    """The field type of a column from its sampled values (see the module's rules)."""
    counts = dict.fromkeys((bit for bit, _ in ORDER), 0)
    filled = 0
    for value in values:
        kinds = classify(value)
        if kinds == 0:
            continue
        if kinds == CODE:
            return "text"
        filled += 1
        if kinds > 0:
            for bit in counts:
                if kinds & bit:
                    counts[bit] += 1
    if not filled:
        return "text"
    needed = filled - math.floor(filled * MAX_MISFIT_SHARE)
    fitting = [(counts[bit], -rank, name) for rank, (bit, name) in enumerate(ORDER)]
    best = max((f for f in fitting if f[0] >= needed), default=None)
    if best is None:
        return "text"
    kind = best[2]
    if kind == "integer" and is_code_title(title):
        return "text"
    return kind


def plan_fields(columns: list[Column], sample: list[Row]) -> tuple[list[FieldPlan], list[str]]:
    """The proposed fields for a table's columns, and notes on what was decided."""
    titles = column_titles(columns)
    names = field_names([column.title for column in columns])
    plans = []
    notes = []
    for column, title, name in zip(columns, titles, names, strict=True):
        values = [get_value(row.values, column.key) for row in sample]
        kind = infer_type(values, title)
        plans.append(
            FieldPlan(RecordField(name, kind, title, is_sensitive_title(title)), column.key)
        )
    pair = _lat_lon_pair(plans, sample)
    if pair is not None:
        lat, lon = pair
        name = _free_name("location", set(names))
        title = f"经纬度（{lat.field.title}, {lon.field.title}）"
        plans.append(FieldPlan(RecordField(name, "geo_point", title), Pair(lat.source, lon.source)))
        notes.append(f"{name}: a geo point made of {lat.field.name} and {lon.field.name}.")
    return plans, notes


def _lat_lon_pair(plans: list[FieldPlan], sample: list[Row]):
    if any(plan.field.type == "geo_point" for plan in plans):
        return None
    numeric = [plan for plan in plans if plan.field.type in ("integer", "number")]
    lats = [p for p in numeric if _names_a(p.field.title, _LAT_WORDS, _LAT_TOKENS)]
    lons = [p for p in numeric if _names_a(p.field.title, _LON_WORDS, _LON_TOKENS)]
    if len(lats) != 1 or len(lons) != 1:
        return None
    lat, lon = lats[0], lons[0]
    both = fits = 0
    for row in sample:
        try:
            point = pair_value(get_value(row.values, lat.source), get_value(row.values, lon.source))
        except ValueError:
            both += 1
            continue
        if point is None:
            continue
        both += 1
        try:
            fits += on_earth(float(point[0]), float(point[1]))
        except (ValueError, TypeError):
            continue
    if not both or fits < both * MIN_PAIR_SHARE:
        return None
    return lat, lon


def bind_fields(columns: list[Column], fields: list[RecordField]) -> list[FieldPlan]:
    """Plans for fields a steward confirmed (from an earlier ``infer_schema``): each found
    again by name in this file's header. KeyError names a field the file has no column for."""
    titles = column_titles(columns)
    sources: dict[str, Hashable] = {}
    for column, name in zip(columns, field_names([c.title for c in columns]), strict=True):
        sources[name] = column.key
    lat = [
        c.key for c, t in zip(columns, titles, strict=True) if _names_a(t, _LAT_WORDS, _LAT_TOKENS)
    ]
    lon = [
        c.key for c, t in zip(columns, titles, strict=True) if _names_a(t, _LON_WORDS, _LON_TOKENS)
    ]
    plans = []
    for field in fields:
        if field.name in sources:
            plans.append(FieldPlan(field, sources[field.name]))
        elif field.type == "geo_point" and len(lat) == 1 and len(lon) == 1:
            plans.append(FieldPlan(field, Pair(lat[0], lon[0])))
        else:
            raise KeyError(field.name)
    return plans
