"""Value generators computed from other fields of the same row, so that a row never
contradicts itself: a school's type follows its name, a clinic has no 三级甲等 grade, a
listing expires after it was made, a decision number carries the year of its decision.

Each takes the names of its source fields as arguments (``school_type:school_name``,
``portion:teachers:0.1:0.35:0``); the sources are drawn before it, wherever they stand
among the columns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import string
from collections.abc import Callable
from typing import Any

from catalog.demo.rows import FieldGenerator, Row
from catalog.demo.vocabulary import (
    BEDS_BY_GRADE_OR_KIND,
    CLINIC_KIND_OF_ENDING,
    COMMUNITY_STATION_KIND,
    HOSPITAL_KINDS_AND_GRADES,
)

UNGRADED = "未定级"


def _derived(sources: tuple[str, ...], compute: Callable[..., Any]) -> FieldGenerator:
    """A field computed as ``compute(rng, *source values)``."""

    def draw(rng: random.Random, _index: int, row: Row) -> Any:
        return compute(rng, *(row.values[source] for source in sources))

    return FieldGenerator(draw, sources)


def _stable_pick(options: tuple[str, ...], key: str) -> str:
    # The same name gets the same answer in every dataset, unlike a draw from a row's rng.
    digest = hashlib.sha256(key.encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


# ---- schools and medical institutions, from their names


def _school_type(field: str) -> FieldGenerator:
    def compute(_rng: random.Random, name: str) -> str:
        if name.endswith("实验学校"):
            return "九年一贯制学校"
        if name.endswith("小学"):
            return "小学"
        return _stable_pick(("初级中学", "初级中学", "完全中学"), name)

    return _derived((field,), compute)


def _school_grade(field: str) -> FieldGenerator:
    """The grade a school enrols into: 一年级 at a primary, 七年级 at a secondary school."""

    def compute(rng: random.Random, name: str) -> str:
        if name.endswith("小学"):
            return "一年级"
        return rng.choice(("一年级", "七年级")) if name.endswith("学校") else "七年级"

    return _derived((field,), compute)


def institution_kind_and_grade(name: str) -> tuple[str, str]:
    """The kind and grade of a medical institution, from the name ``hospital_name`` gave it."""
    if name in HOSPITAL_KINDS_AND_GRADES:
        return HOSPITAL_KINDS_AND_GRADES[name]
    if name.endswith("卫生服务站"):
        return COMMUNITY_STATION_KIND, UNGRADED
    endings = sorted(CLINIC_KIND_OF_ENDING, key=len, reverse=True)
    ending = next((ending for ending in endings if name.endswith(ending)), None)
    if ending is None:
        raise ValueError(f"{name!r} is not the name of a medical institution")
    return CLINIC_KIND_OF_ENDING[ending], UNGRADED


def _institution_kind(field: str) -> FieldGenerator:
    return _derived((field,), lambda _rng, name: institution_kind_and_grade(name)[0])


def _institution_grade(field: str) -> FieldGenerator:
    return _derived((field,), lambda _rng, name: institution_kind_and_grade(name)[1])


def _beds(field: str) -> FieldGenerator:
    def compute(rng: random.Random, name: str) -> int:
        kind, grade = institution_kind_and_grade(name)
        limits = BEDS_BY_GRADE_OR_KIND.get(grade) or BEDS_BY_GRADE_OR_KIND.get(kind)
        return rng.randint(*limits) if limits else 0

    return _derived((field,), compute)


# ---- numbers, dates and codes that follow other fields


def _portion(field: str, low: str, high: str, decimals: str) -> FieldGenerator:
    """Another field's number times a factor between low and high (a part of a whole, or
    a price above its reserve); ``decimals`` 0 gives whole numbers."""
    places = int(decimals)

    def compute(rng: random.Random, whole: float) -> float:
        value = whole * rng.uniform(float(low), float(high))
        return round(value) if places == 0 else round(value, places)

    return _derived((field,), compute)


def _range_by(field: str, decimals: str, ranges: str) -> FieldGenerator:
    """A number whose range depends on another field's value:
    ``range_by:level:0:一级=500~520;二级=300~499;三级=100~299``."""
    places = int(decimals)
    bounds = {}
    for rule in ranges.split(";"):
        value, _, limits = rule.partition("=")
        low, _, high = limits.partition("~")
        bounds[value] = (float(low), float(high))

    def compute(rng: random.Random, value: Any) -> float:
        if str(value) not in bounds:
            raise ValueError(f"no range for {field} {value!r} in {ranges!r}")
        number = rng.uniform(*bounds[str(value)])
        return round(number) if places == 0 else round(number, places)

    return _derived((field,), compute)


def _ratio(numerator: str, denominator: str) -> FieldGenerator:
    """One field as a percentage of another, to one decimal."""
    return _derived(
        (numerator, denominator), lambda _rng, part, whole: round(100 * part / whole, 1)
    )


def _after(field: str, least_days: str, most_days: str) -> FieldGenerator:
    """A date (or date-time) some days after another field's."""

    def compute(rng: random.Random, start: dt.date) -> dt.date:
        return start + dt.timedelta(days=rng.randint(int(least_days), int(most_days)))

    return _derived((field,), compute)


def _options_by(field: str, rules: str, applies: Callable[[str, str], bool]) -> FieldGenerator:
    options = {}
    for rule in rules.split(";"):
        key, _, choices = rule.partition("=")
        options[key] = tuple(choices.split("|"))

    def compute(rng: random.Random, value: Any) -> str:
        key = next((key for key in options if key != "*" and applies(key, str(value))), "*")
        if key not in options:
            raise ValueError(f"no option for {field} {value!r} in {rules!r}")
        return rng.choice(options[key])

    return _derived((field,), compute)


def _match(field: str, rules: str) -> FieldGenerator:
    """Options that depend on another field's value:
    ``match:result:合格=无;*=农药残留超标|菌落总数超标`` (``*`` for any other value)."""
    return _options_by(field, rules, lambda key, value: key == value)


def _match_in(field: str, rules: str) -> FieldGenerator:
    """Options by the first rule whose text the other field's value contains:
    ``match_in:shop:美发店=美容美发;餐厅=餐饮服务``."""
    return _options_by(field, rules, lambda key, value: key in value)


def _template(template: str) -> FieldGenerator:
    """A code or name written from the row's fields and its row number:
    ``template:禅市监罚〔{decided_on:%Y}〕{number}号``."""
    sources = tuple(
        dict.fromkeys(
            name.split(".")[0].split("[")[0]
            for _text, name, _spec, _conversion in string.Formatter().parse(template)
            if name and name != "number"
        )
    )

    def draw(_rng: random.Random, index: int, row: Row) -> str:
        return template.format(number=index + 1, **{name: row.values[name] for name in sources})

    return FieldGenerator(draw, sources)


# ---- environmental measures


# GB 3838-2002 upper limits of 类 Ⅰ to Ⅴ for rivers; above Ⅴ is 劣Ⅴ类.
WATER_GRADES = ("Ⅰ类", "Ⅱ类", "Ⅲ类", "Ⅳ类", "Ⅴ类", "劣Ⅴ类")
WATER_LIMITS = {
    "ammonia": (0.15, 0.5, 1.0, 1.5, 2.0),  # 氨氮 mg/L
    "phosphorus": (0.02, 0.1, 0.2, 0.3, 0.4),  # 总磷 mg/L
    "cod": (15, 15, 20, 30, 40),  # 化学需氧量 mg/L
}
WORSE_THAN_V = 2.5  # how far past the 类 Ⅴ limit a 劣Ⅴ类 measure may go, as a factor


def _water_measure(grade_field: str, indicator: str) -> FieldGenerator:
    """A measure within the band of the sample's water grade, so that the grade holds."""
    limits = WATER_LIMITS[indicator]

    def compute(rng: random.Random, grade: str) -> float:
        level = WATER_GRADES.index(grade)
        low = limits[level - 1] if level else 0.0
        high = limits[level] if level < len(limits) else limits[-1] * WORSE_THAN_V
        # Never on the band's lower edge, which belongs to the better grade.
        value = low + (high - low) * rng.uniform(0.1, 1.0)
        return round(value, 1 if indicator == "cod" else 2)

    return _derived((grade_field,), compute)


# HJ 633-2012: concentration breakpoints (μg/m³) of IAQI 0, 50, 100, 150, 200, 300, 400, 500.
# The hourly report reads PM2.5 and PM10 against their 24-hour breakpoints.
IAQI_LEVELS = (0, 50, 100, 150, 200, 300, 400, 500)
AQI_BREAKPOINTS = {
    "PM2.5": (0, 35, 75, 115, 150, 250, 350, 500),
    "PM10": (0, 50, 150, 250, 350, 420, 500, 600),
    "臭氧": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "二氧化氮": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
}
NO_PRIMARY_POLLUTANT = "无"  # AQI 50 or below names none


def _iaqi(pollutant: str, concentration: float) -> float:
    points = AQI_BREAKPOINTS[pollutant]
    for level in range(1, len(points)):
        if concentration <= points[level]:
            low, high = points[level - 1], points[level]
            span = IAQI_LEVELS[level] - IAQI_LEVELS[level - 1]
            return IAQI_LEVELS[level - 1] + span * (concentration - low) / (high - low)
    return IAQI_LEVELS[-1]


def _sub_indices(concentrations: tuple[float, ...]) -> dict[str, float]:
    return {
        pollutant: _iaqi(pollutant, value)
        for pollutant, value in zip(AQI_BREAKPOINTS, concentrations, strict=True)
    }


def _aqi(pm25: str, pm10: str, o3: str, no2: str) -> FieldGenerator:
    """The AQI of the row's PM2.5, PM10, O₃ and NO₂ fields: the highest sub-index."""
    return _derived(
        (pm25, pm10, o3, no2),
        lambda _rng, *values: math.ceil(max(_sub_indices(values).values())),
    )


def _primary_pollutant(pm25: str, pm10: str, o3: str, no2: str) -> FieldGenerator:
    """The pollutant with the highest sub-index, or 无 while the AQI is 50 or below."""

    def compute(_rng: random.Random, *values: float) -> str:
        indices = _sub_indices(values)
        worst = max(indices, key=indices.__getitem__)
        return worst if math.ceil(indices[worst]) > IAQI_LEVELS[1] else NO_PRIMARY_POLLUTANT

    return _derived((pm25, pm10, o3, no2), compute)


DERIVED_FACTORIES: dict[str, Callable[..., FieldGenerator]] = {
    "school_type": _school_type,
    "school_grade": _school_grade,
    "institution_kind": _institution_kind,
    "institution_grade": _institution_grade,
    "beds": _beds,
    "portion": _portion,
    "range_by": _range_by,
    "ratio": _ratio,
    "after": _after,
    "match": _match,
    "match_in": _match_in,
    "template": _template,
    "water_measure": _water_measure,
    "aqi": _aqi,
    "primary_pollutant": _primary_pollutant,
}
