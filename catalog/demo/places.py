"""Places in a generated row agree with each other.

The first field of a row that names a place (a school or clinic named after a place, a
community, a road in a shop's name, an address) settles the street the row is about, and
its road if it names one. The place fields after it (street, community, road, address and
coordinates) put themselves there: a school in 张槎 has its address in 张槎街道 and its
point inside 张槎街道's extent. A row whose fields name no place draws its street at random,
once, in the first place field.
"""

from __future__ import annotations

import random

from catalog.demo.rows import FieldGenerator, Row, RowGenerator, indexed
from catalog.demo.vocabulary import (
    COMMUNITIES,
    COMMUNITIES_BY_STREET,
    ESTATE_KINDS,
    PLACE_NAMES,
    ROADS,
    ROADS_BY_STREET,
    STREET_AREAS,
    STREET_OF_PLACE,
    STREETS,
)

STREET_OF_ROAD = {road: street for street, roads in ROADS_BY_STREET.items() for road in roads}
# Longest first, so "季华四路" is found rather than a shorter name inside it.
_ROADS_LONGEST_FIRST = sorted(STREET_OF_ROAD, key=len, reverse=True)
_PLACES_LONGEST_FIRST = sorted(STREET_OF_PLACE, key=len, reverse=True)


def locate(text: str) -> tuple[str | None, str | None]:
    """The street, and the road if any, that a name or address lies in: (None, None) when
    it names no street, road or place of the district."""
    road = next((road for road in _ROADS_LONGEST_FIRST if road in text), None)
    street = next((street for street in STREETS if street in text), None)
    if street is not None:
        return street, road if road and STREET_OF_ROAD[road] == street else None
    if road is not None:
        return STREET_OF_ROAD[road], road
    place = next((place for place in _PLACES_LONGEST_FIRST if place in text), None)
    return (STREET_OF_PLACE[place], None) if place else (None, None)


def naming_place(generate: RowGenerator) -> RowGenerator:
    """A generator of names that may name a place: the first such name settles the row."""

    def draw(rng: random.Random, index: int, row: Row) -> str:
        value = generate(rng, index, row)
        if row.street is None:
            row.street, row.road = locate(value)
        return value

    return draw


def _row_street(rng: random.Random, row: Row) -> str:
    if row.street is None:
        row.street = rng.choice(STREETS)
    return row.street


def _row_road(rng: random.Random, row: Row) -> str:
    if row.road is None:
        row.road = rng.choice(ROADS_BY_STREET[_row_street(rng, row)])
    return row.road


def _street(rng: random.Random, _index: int, row: Row) -> str:
    return _row_street(rng, row)


def _road(rng: random.Random, _index: int, row: Row) -> str:
    return _row_road(rng, row)


def _address(rng: random.Random, _index: int, row: Row) -> str:
    street = _row_street(rng, row)
    return f"佛山市禅城区{street}{_row_road(rng, row)}{rng.randint(1, 380)}号"


def _community(rng: random.Random, index: int, row: Row) -> str:
    if row.street is None:  # the row is about this community: a directory lists each once
        community = indexed(COMMUNITIES, index)
        row.street = next(street for street in STREETS if community.startswith(street))
        return community
    return rng.choice(COMMUNITIES_BY_STREET[row.street])


def _area(rng: random.Random, row: Row) -> tuple[tuple[float, float], tuple[float, float]]:
    return STREET_AREAS[_row_street(rng, row)]


def _lat(rng: random.Random, _index: int, row: Row) -> float:
    latitudes, _longitudes = _area(rng, row)
    return round(rng.uniform(*latitudes), 6)


def _lon(rng: random.Random, _index: int, row: Row) -> float:
    _latitudes, longitudes = _area(rng, row)
    return round(rng.uniform(*longitudes), 6)


def _geo_point(rng: random.Random, _index: int, row: Row) -> tuple[float, float]:
    latitudes, longitudes = _area(rng, row)
    return (round(rng.uniform(*latitudes), 6), round(rng.uniform(*longitudes), 6))


# A standard place name (标准地名) of each category, made of the district's names.
PLACE_NAME_CATEGORIES = {
    "道路": lambda rng: rng.choice(ROADS),
    "街巷": lambda rng: f"{rng.choice(PLACE_NAMES)}{rng.choice('一二三四五六七八九十')}巷",
    "桥梁": lambda rng: f"{rng.choice(PLACE_NAMES)}{rng.choice(('桥', '大桥'))}",
    "住宅区": lambda rng: rng.choice(PLACE_NAMES) + rng.choice(ESTATE_KINDS),
    "公园广场": lambda rng: rng.choice(PLACE_NAMES) + rng.choice(("公园", "广场", "文化广场")),
    "自然村": lambda rng: f"{rng.choice(PLACE_NAMES)}{rng.choice('东西南北')}村",
}
CATEGORY_OF_ENDING = {
    **dict.fromkeys(ESTATE_KINDS, "住宅区"),  # before 村, as 新村 is an estate's
    "巷": "街巷",
    "桥": "桥梁",
    "村": "自然村",
    "公园": "公园广场",
    "广场": "公园广场",
}


def _standard_place_name(rng: random.Random, _index: int, _row: Row) -> str:
    return PLACE_NAME_CATEGORIES[rng.choice(tuple(PLACE_NAME_CATEGORIES))](rng)


PLACE_GENERATORS: dict[str, RowGenerator] = {
    "street": _street,
    "community": _community,
    "road": _road,
    "address": _address,
    "lat": _lat,
    "lon": _lon,
    "geo_point": _geo_point,
    "standard_place_name": naming_place(_standard_place_name),
}


def _community_in(street: str) -> FieldGenerator:
    """The communities (村居) of one street in turn, for a dataset about that street."""
    communities = COMMUNITIES_BY_STREET[street]

    def draw(_rng: random.Random, index: int, row: Row) -> str:
        row.street = row.street or street
        return indexed(communities, index)

    return FieldGenerator(draw)


def _tiers(names: str) -> FieldGenerator:
    """A service at each level in turn: ``区图书馆|分馆|服务点`` gives 区图书馆, then
    祖庙街道分馆 and the other streets', then 祖庙街道升平社区服务点 and the others."""
    district, street_suffix, community_suffix = names.split("|")
    services = (
        district,
        *(street + street_suffix for street in STREETS),
        *(community + community_suffix for community in COMMUNITIES),
    )
    return FieldGenerator(naming_place(lambda _rng, index, _row: indexed(services, index)))


def _place_category(field: str) -> FieldGenerator:
    """The category of a standard place name from ``standard_place_name``."""

    def draw(_rng: random.Random, _index: int, row: Row) -> str:
        name = row.values[field]
        if name in ROADS:
            return "道路"
        ending = next(ending for ending in CATEGORY_OF_ENDING if name.endswith(ending))
        return CATEGORY_OF_ENDING[ending]

    return FieldGenerator(draw, (field,))


def _place_level(field: str) -> FieldGenerator:
    """区级, 镇街 or 村居: the level of the place another field's name is about."""

    def draw(_rng: random.Random, _index: int, row: Row) -> str:
        name = row.values[field]
        if any(community in name for community in COMMUNITIES):
            return "村居"
        return "镇街" if locate(name)[0] else "区级"

    return FieldGenerator(draw, (field,))


PLACE_FACTORIES = {
    "community": _community_in,
    "tiers": _tiers,
    "place_level": _place_level,
    "place_category": _place_category,
}
