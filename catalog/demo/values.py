"""The table contents of the demo's generated files: value generators and the rows they fill.

A generated resource in ``data/datasets.json`` carries ``rows`` and ``fields``; each field
names a value generator in ``gen``. The same fields and seed always give the same rows, so
the files written from them (:mod:`catalog.demo.files`) are byte-identical on every run.

Value generators
    ``VALUE_GENERATORS`` maps a plain ``gen`` name to ``(rng, row_index) -> value``.
    Parameterised names carry their arguments after colons: ``int:0:500``,
    ``num:0:100:2`` (two decimals), ``choice:小学|初中`` (at random), ``pick:甲|乙`` (in row
    order, for short fixed lists), ``serial:SGXK:6`` (prefix and zero-padded row number),
    ``date:2020:2025`` and ``datetime:2025:2025`` (year range), ``hourly:2025-06-01:4`` (a
    time series, four rows an hour), ``suffix:community:长者饭堂`` (another generator's
    value plus text), ``other_than:origin:bus_stop`` (a value unlike another field's),
    ``shop:便利店|超市`` (shops of those kinds) and ``uscc:52`` (a credit code of another
    registry and kind; plain ``uscc`` is a company's). :func:`generator_for` resolves
    either kind. Directory names (schools, rivers, bus lines, communities) follow the row
    index so that a directory lists each only once; a field marked ``"unique": true`` is
    redrawn until its value is new in the resource.

A row agrees with itself
    Street, community, road, address and coordinates follow the first place the row names
    (:mod:`catalog.demo.places`), and generators such as ``school_type:school_name`` or
    ``after:listed_on:1095:1095`` compute a field from others of the row
    (:mod:`catalog.demo.derived`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import random
from collections.abc import Callable, Iterator
from typing import Any

from catalog.demo.derived import DERIVED_FACTORIES
from catalog.demo.identifiers import USCC_CHARS, id_card_check_char, make_uscc
from catalog.demo.places import PLACE_FACTORIES, PLACE_GENERATORS, naming_place
from catalog.demo.rows import FieldGenerator, Row, RowGenerator, ValueGenerator, indexed, row_free
from catalog.demo.vocabulary import (
    BUS_LINES,
    CLINIC_KINDS,
    COMMUNITIES,
    ESTATE_KINDS,
    GIVEN_NAME_CHARS,
    HERITAGE_KINDS,
    HOSPITALS,
    INDUSTRIES,
    KINDERGARTEN_KINDS,
    MOBILE_PREFIXES,
    PARKS,
    PHARMACY_CHAINS,
    PLACE_NAMES,
    PROCUREMENT_GOODS,
    PROJECT_KINDS,
    REGION_CODE,
    RIVERS,
    ROADS,
    SERVICE_ITEM_VARIANTS,
    SERVICE_ITEMS,
    SOCIAL_ORG_DOMAINS,
    SOCIAL_ORG_KINDS,
    SURNAMES,
    TRADE_NAME_CHARS,
)


def _random_date(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    start = dt.date(first_year, 1, 1).toordinal()
    end = dt.date(last_year, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(start, end))


def _trade_name(rng: random.Random) -> str:
    return "".join(rng.sample(TRADE_NAME_CHARS, 2))


def _person_name(rng: random.Random, _row: int) -> str:
    given_length = 1 if rng.random() < 0.3 else 2
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAME_CHARS, k=given_length))


def _id_card(rng: random.Random, _row: int) -> str:
    birth = _random_date(rng, 1940, 2008).strftime("%Y%m%d")
    first17 = f"{REGION_CODE}{birth}{rng.randint(1, 999):03d}"
    return first17 + id_card_check_char(first17)


def _uscc(registry_and_kind: str) -> ValueGenerator:
    # Entities registered since 2015 get a 主体标识码 beginning "MA".
    def generate(rng: random.Random, _row: int) -> str:
        return make_uscc(
            registry_and_kind, REGION_CODE, "MA" + "".join(rng.choices(USCC_CHARS, k=6))
        )

    return generate


def _school_name(_rng: random.Random, row: int) -> str:
    kind = ("小学", "中学", "实验小学", "实验学校")[row // len(PLACE_NAMES) % 4]
    return f"佛山市禅城区{indexed(PLACE_NAMES, row)}{kind}"


def _kindergarten_name(_rng: random.Random, row: int) -> str:
    kind = KINDERGARTEN_KINDS[row // len(PLACE_NAMES) % len(KINDERGARTEN_KINDS)]
    return f"佛山市禅城区{indexed(PLACE_NAMES, row)}{kind}"


def _care_home_name(_rng: random.Random, row: int) -> str:
    kind = ("颐养院", "敬老院", "长者公寓", "护养院")[row // len(PLACE_NAMES) % 4]
    return f"佛山市禅城区{indexed(PLACE_NAMES, row)}{kind}"


def _hospital_name(_rng: random.Random, row: int) -> str:
    # The named hospitals first, then community stations, then clinics by place.
    if row < len(HOSPITALS):
        return HOSPITALS[row]
    row -= len(HOSPITALS)
    if row < len(COMMUNITIES):
        return f"佛山市禅城区{COMMUNITIES[row]}卫生服务站"
    row -= len(COMMUNITIES)
    kind = CLINIC_KINDS[row // len(PLACE_NAMES) % len(CLINIC_KINDS)]
    return f"佛山市禅城区{indexed(PLACE_NAMES, row)}{kind}"


def _park_name(_rng: random.Random, row: int) -> str:
    if row < len(PARKS):
        return PARKS[row]
    return indexed(COMMUNITIES, row - len(PARKS)) + "公园"


def _river_name(_rng: random.Random, row: int) -> str:
    if row < len(RIVERS):
        return RIVERS[row]
    suffix = "涌" if (row - len(RIVERS)) // len(PLACE_NAMES) % 2 == 0 else "支涌"
    return indexed(PLACE_NAMES, row - len(RIVERS)) + suffix


def _company_name(rng: random.Random, _row: int) -> str:
    district = "禅城区" if rng.random() < 0.6 else ""
    return f"佛山市{district}{_trade_name(rng)}{rng.choice(INDUSTRIES)}有限公司"


SHOP_KINDS = ("便利店", "餐厅", "茶餐厅", "超市", "烧腊店", "粥粉面店", "美发店", "五金店")


def _shop(kinds: str) -> ValueGenerator:
    """Shops of some kinds only (``shop:便利店|超市``): food is sampled at food shops."""
    choices = tuple(kinds.split("|"))
    return lambda rng, _row: f"{_trade_name(rng)}{rng.choice(choices)}（{rng.choice(ROADS)}店）"


def _pharmacy_name(rng: random.Random, _row: int) -> str:
    chain = rng.choice((*PHARMACY_CHAINS, _trade_name(rng) + "大药房"))
    return f"{chain}（{rng.choice(ROADS)}店）"


def _estate_name(rng: random.Random, _row: int) -> str:
    prefix = rng.choice(PLACE_NAMES) if rng.random() < 0.5 else _trade_name(rng)
    return prefix + rng.choice(ESTATE_KINDS)


def _project_name(rng: random.Random, row: int) -> str:
    return _estate_name(rng, row).removesuffix("小区") + rng.choice(PROJECT_KINDS)


def _social_org_name(rng: random.Random, _row: int) -> str:
    place = rng.choice(PLACE_NAMES) if rng.random() < 0.4 else ""
    return f"佛山市禅城区{place}{rng.choice(SOCIAL_ORG_DOMAINS)}{rng.choice(SOCIAL_ORG_KINDS)}"


def _heritage_name(rng: random.Random, _row: int) -> str:
    if rng.random() < 0.3:
        return f"{rng.choice(PLACE_NAMES)}{rng.choice(SURNAMES)}氏大宗祠"
    return rng.choice(PLACE_NAMES) + rng.choice(HERITAGE_KINDS)


def _service_item(_rng: random.Random, row: int) -> str:
    variant = SERVICE_ITEM_VARIANTS[row // len(SERVICE_ITEMS) % len(SERVICE_ITEM_VARIANTS)]
    return f"{indexed(SERVICE_ITEMS, row)}（{variant}）"


def _license_plate(rng: random.Random, _row: int) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # plates never use I or O
    if rng.random() < 0.25:  # new-energy plates: D (electric) or F (hybrid) + 5 digits
        return f"粤E{rng.choice('DF')}{rng.randint(0, 99999):05d}"
    tail = "".join(rng.choices(letters + "0123456789" * 3, k=4))
    return f"粤E{rng.choice(letters)}{tail}"


def _bus_stop(rng: random.Random, _row: int) -> str:
    road = rng.choice(ROADS)
    return rng.choice(
        (
            rng.choice(PLACE_NAMES) + "站",
            rng.choice(PARKS) + "站",
            road + "站",
            road.removesuffix("路") + "路口站",
            rng.choice(PLACE_NAMES) + rng.choice(("市场站", "小学站", "村委站", "社区站", "总站")),
        )
    )


def _parking_lot_name(rng: random.Random, _row: int) -> str:
    place = rng.choice((*PLACE_NAMES, *PARKS, *ROADS))
    return place + rng.choice(("停车场", "公共停车场", "地下停车场", "立体停车库"))


def _datetime_range(first_year: str, last_year: str) -> ValueGenerator:
    def generate(rng: random.Random, _row: int) -> dt.datetime:
        clock = dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
        return dt.datetime.combine(_random_date(rng, int(first_year), int(last_year)), clock)

    return generate


VALUE_GENERATORS: dict[str, ValueGenerator] = {
    "sequence": lambda _rng, row: row + 1,
    "person_name": _person_name,
    "gender": lambda rng, _row: rng.choice("男女"),
    "id_card": _id_card,
    "phone": lambda rng, _row: rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99999999):08d}",
    "landline": lambda rng, _row: f"0757-8{rng.randint(0, 9999999):07d}",
    "place": lambda _rng, row: indexed(PLACE_NAMES, row),
    "school_name": _school_name,
    "kindergarten_name": _kindergarten_name,
    "care_home_name": _care_home_name,
    "hospital_name": _hospital_name,
    "park_name": _park_name,
    "river_name": _river_name,
    "company_name": _company_name,
    "shop_name": _shop("|".join(SHOP_KINDS)),
    "pharmacy_name": _pharmacy_name,
    "estate_name": _estate_name,
    "project_name": _project_name,
    "social_org_name": _social_org_name,
    "heritage_name": _heritage_name,
    "procurement_item": lambda rng, _row: (
        f"禅城区{rng.choice(PLACE_NAMES)}{rng.choice(PROCUREMENT_GOODS)}采购项目"
    ),
    "service_item": _service_item,
    "uscc": _uscc("91"),  # 91: enterprise registered by market regulation
    "license_plate": _license_plate,
    "bus_line": lambda _rng, row: indexed(BUS_LINES, row, stride=97),  # 97 is coprime to 249
    "bus_stop": _bus_stop,
    "parking_lot_name": _parking_lot_name,
    "date": lambda rng, _row: _random_date(rng, 2015, 2026),
    "datetime": _datetime_range("2015", "2026"),
    "year": lambda rng, _row: rng.randint(2015, 2026),
    "month": lambda rng, _row: f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}",
    "boolean": lambda rng, _row: rng.random() < 0.5,
}
# The generators whose values may name a place of the district (in a school's, a shop's
# or a river's name), which the row's place fields then follow.
NAMING_A_PLACE = frozenset(
    """place school_name kindergarten_name care_home_name hospital_name park_name river_name
    shop_name pharmacy_name estate_name project_name social_org_name heritage_name
    procurement_item bus_stop parking_lot_name shop""".split()
)
ROW_GENERATORS: dict[str, RowGenerator] = {
    **{
        gen: naming_place(row_free(generate)) if gen in NAMING_A_PLACE else row_free(generate)
        for gen, generate in VALUE_GENERATORS.items()
    },
    **PLACE_GENERATORS,
}


def _int_range(low: str, high: str) -> ValueGenerator:
    return lambda rng, _row: rng.randint(int(low), int(high))


def _number_range(low: str, high: str, decimals: str) -> ValueGenerator:
    places = int(decimals)
    if places == 0:  # whole amounts (元) print as 1234, not 1234.0
        return lambda rng, _row: round(rng.uniform(float(low), float(high)))
    return lambda rng, _row: round(rng.uniform(float(low), float(high)), places)


def _choice(options: str) -> ValueGenerator:
    values = options.split("|")
    return lambda rng, _row: rng.choice(values)


def _pick(options: str) -> ValueGenerator:
    values = tuple(options.split("|"))
    return lambda _rng, row: indexed(values, row)


def _serial(prefix: str, width: str) -> ValueGenerator:
    return lambda _rng, row: f"{prefix}{row + 1:0{int(width)}d}"


def _date_range(first_year: str, last_year: str) -> ValueGenerator:
    return lambda rng, _row: _random_date(rng, int(first_year), int(last_year))


def _hourly(start: str, rows_per_hour: str) -> ValueGenerator:
    # Monitoring series: several stations report each hour, one row per station.
    first = dt.datetime.fromisoformat(start)
    return lambda _rng, row: first + dt.timedelta(hours=row // int(rows_per_hour))


def _suffix(gen: str, text: str) -> FieldGenerator:
    generator = ROW_GENERATORS[gen]
    return FieldGenerator(lambda rng, row, partial: generator(rng, row, partial) + text)


def _other_than(field: str, gen: str) -> FieldGenerator:
    """Another generator's value, drawn again while it equals the field's (a bus line's
    terminus is not its origin)."""
    generator = generator_for(gen)

    def draw(rng: random.Random, index: int, row: Row) -> Any:
        for _attempt in range(UNIQUE_ATTEMPTS):
            value = generator.draw(rng, index, row)
            if value != row.values[field]:
                return value
        raise ValueError(f"{gen!r} gave only {row.values[field]!r} at row {index}")

    return FieldGenerator(draw, (field, *generator.sources))


PARAMETERIZED_GENERATORS: dict[str, Callable[..., ValueGenerator]] = {
    "int": _int_range,
    "num": _number_range,
    "choice": _choice,
    "pick": _pick,
    "serial": _serial,
    "date": _date_range,
    "datetime": _datetime_range,
    "hourly": _hourly,
    "uscc": _uscc,
    "shop": _shop,
}
FIELD_FACTORIES: dict[str, Callable[..., FieldGenerator]] = {
    "suffix": _suffix,
    "other_than": _other_than,
    **PLACE_FACTORIES,
    **DERIVED_FACTORIES,
}


def _parameterized(kind: str, arguments: str) -> FieldGenerator:
    factory = PARAMETERIZED_GENERATORS.get(kind) or FIELD_FACTORIES[kind]
    # The last argument takes the rest, so choices may contain colons ("08:30-12:00").
    arity = len(inspect.signature(factory).parameters)
    made = factory(*arguments.split(":", arity - 1))
    if isinstance(made, FieldGenerator):
        return made
    draw = row_free(made)
    return FieldGenerator(naming_place(draw) if kind in NAMING_A_PLACE else draw)


def generator_for(gen: str) -> FieldGenerator:
    """The generator a field's ``gen`` names; ValueError if there is none."""
    if gen in ROW_GENERATORS:
        return FieldGenerator(ROW_GENERATORS[gen])
    kind, _, arguments = gen.partition(":")
    known = kind in PARAMETERIZED_GENERATORS or kind in FIELD_FACTORIES
    if not known or not arguments:
        raise ValueError(f"unknown value generator {gen!r}")
    try:
        generator = _parameterized(kind, arguments)
        if not generator.sources:  # fail here, not half-way through a file
            generator.draw(random.Random(0), 0, Row())
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"bad arguments in value generator {gen!r}: {error}") from error
    return generator


def resource_seed(dataset_slug: str, resource_name: str) -> str:
    """The seed of a dataset's generated resource, stable across runs and machines."""
    return f"{dataset_slug}/{resource_name}"


UNIQUE_ATTEMPTS = 100


def _rng_for(seed: str, field_name: str) -> random.Random:
    # One stream per field, so adding a field leaves the other columns unchanged.
    digest = hashlib.sha256(f"{seed}#{field_name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _drawing_order(fields: list[dict], generators: list[FieldGenerator]) -> list[int]:
    """Column positions, each field after the fields it is computed from."""
    names = [field["name"] for field in fields]
    order: list[int] = []
    pending = list(range(len(fields)))
    while pending:
        drawn = {names[position] for position in order}
        ready = [p for p in pending if set(generators[p].sources) <= drawn]
        if not ready:
            missing = {s for p in pending for s in generators[p].sources} - set(names)
            problem = f"no field {sorted(missing)}" if missing else "a cycle"
            raise ValueError(f"fields computed from others name {problem}")
        order.extend(ready)
        pending = [p for p in pending if p not in ready]
    return order


def iter_rows(fields: list[dict], rows: int, seed: str) -> Iterator[dict]:
    """Yield ``rows`` dicts keyed by field name, in column order, the same for the same
    fields and seed.

    A field with ``"unique": true`` (a register's names) is drawn again until its value is
    new in this resource; ValueError if its generator cannot supply enough distinct values.
    """
    generators = [generator_for(field["gen"]) for field in fields]
    columns = [
        (fields[p], generators[p].draw, _rng_for(seed, fields[p]["name"]))
        for p in _drawing_order(fields, generators)
    ]
    seen: dict[str, set] = {field["name"]: set() for field in fields if field.get("unique")}
    for index in range(rows):
        row = Row()
        for field, draw, rng in columns:
            place = (row.street, row.road)
            value = draw(rng, index, row)
            used = seen.get(field["name"])
            if used is not None:
                for _attempt in range(UNIQUE_ATTEMPTS):
                    if value not in used:
                        break
                    row.street, row.road = place  # the value drawn again may name another
                    value = draw(rng, index, row)
                else:
                    raise ValueError(f"{field['gen']!r} ran out of distinct values at row {index}")
                used.add(value)
            row.values[field["name"]] = value
        yield {field["name"]: row.values[field["name"]] for field in fields}
