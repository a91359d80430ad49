"""The table contents of the demo's generated files: value generators and the rows they fill.

A generated resource in ``data/datasets.json`` carries ``rows`` and ``fields``; each field
names a value generator in ``gen``. The same fields and seed always give the same rows, so
the files written from them (:mod:`catalog.demo.files`) are byte-identical on every run.

Value generators
    ``VALUE_GENERATORS`` maps a plain ``gen`` name to ``(rng, row_index) -> value``.
    Parameterised names carry their arguments after colons: ``int:0:500``,
    ``num:0:100:2`` (two decimals), ``choice:小学|初中`` (at random), ``pick:甲|乙`` (in row
    order, for short fixed lists), ``serial:SGXK:6`` (prefix and zero-padded row number),
    ``date:2020:2025`` (year range), ``hourly:2025-06-01:4`` (a time series, four rows an
    hour), ``suffix:community:长者饭堂`` (another generator's value plus text) and
    ``uscc:52`` (a credit code of another registry and kind; plain ``uscc`` is a company's).
    :func:`generator_for` resolves either kind. Directory names (schools, rivers, bus
    lines, communities) follow the row index so that a directory lists each only once; a
    field marked ``"unique": true`` is redrawn until its value is new in the resource.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import random
from collections.abc import Callable, Iterator
from typing import Any

from catalog.demo.identifiers import USCC_CHARS, id_card_check_char, make_uscc
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
    LAT_RANGE,
    LON_RANGE,
    MOBILE_PREFIXES,
    PARKS,
    PHARMACY_CHAINS,
    PLACE_NAMES,
    PROCUREMENT_GOODS,
    PROJECT_KINDS,
    REGION_CODE,
    RIVERS,
    ROADS,
    ROADS_BY_STREET,
    SERVICE_ITEM_VARIANTS,
    SERVICE_ITEMS,
    SOCIAL_ORG_DOMAINS,
    SOCIAL_ORG_KINDS,
    STREETS,
    SURNAMES,
    TRADE_NAME_CHARS,
)

ValueGenerator = Callable[[random.Random, int], Any]


def _random_date(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    start = dt.date(first_year, 1, 1).toordinal()
    end = dt.date(last_year, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(start, end))


def _indexed(values: tuple[str, ...], row: int, stride: int = 1) -> str:
    # Directories list each school, river or bus line once: pick by row, not at random.
    return values[row * stride % len(values)]


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


def _address(rng: random.Random, _row: int) -> str:
    street = rng.choice(STREETS)
    return f"佛山市禅城区{street}{rng.choice(ROADS_BY_STREET[street])}{rng.randint(1, 380)}号"


def _school_name(_rng: random.Random, row: int) -> str:
    kind = ("小学", "中学", "实验小学", "实验学校")[row // len(PLACE_NAMES) % 4]
    return f"佛山市禅城区{_indexed(PLACE_NAMES, row)}{kind}"


def _kindergarten_name(_rng: random.Random, row: int) -> str:
    kind = KINDERGARTEN_KINDS[row // len(PLACE_NAMES) % len(KINDERGARTEN_KINDS)]
    return f"佛山市禅城区{_indexed(PLACE_NAMES, row)}{kind}"


def _care_home_name(_rng: random.Random, row: int) -> str:
    kind = ("颐养院", "敬老院", "长者公寓", "护养院")[row // len(PLACE_NAMES) % 4]
    return f"佛山市禅城区{_indexed(PLACE_NAMES, row)}{kind}"


def _hospital_name(_rng: random.Random, row: int) -> str:
    # The named hospitals first, then community stations, then clinics by place.
    if row < len(HOSPITALS):
        return HOSPITALS[row]
    row -= len(HOSPITALS)
    if row < len(COMMUNITIES):
        return f"佛山市禅城区{COMMUNITIES[row]}卫生服务站"
    row -= len(COMMUNITIES)
    kind = CLINIC_KINDS[row // len(PLACE_NAMES) % len(CLINIC_KINDS)]
    return f"佛山市禅城区{_indexed(PLACE_NAMES, row)}{kind}"


def _park_name(_rng: random.Random, row: int) -> str:
    if row < len(PARKS):
        return PARKS[row]
    return _indexed(COMMUNITIES, row - len(PARKS)) + "公园"


def _river_name(_rng: random.Random, row: int) -> str:
    if row < len(RIVERS):
        return RIVERS[row]
    suffix = "涌" if (row - len(RIVERS)) // len(PLACE_NAMES) % 2 == 0 else "支涌"
    return _indexed(PLACE_NAMES, row - len(RIVERS)) + suffix


def _company_name(rng: random.Random, _row: int) -> str:
    district = "禅城区" if rng.random() < 0.6 else ""
    return f"佛山市{district}{_trade_name(rng)}{rng.choice(INDUSTRIES)}有限公司"


def _shop_name(rng: random.Random, _row: int) -> str:
    kind = rng.choice(
        ("便利店", "餐厅", "茶餐厅", "超市", "烧腊店", "粥粉面店", "美发店", "五金店")
    )
    return f"{_trade_name(rng)}{kind}（{rng.choice(ROADS)}店）"


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
    return f"{_indexed(SERVICE_ITEMS, row)}（{variant}）"


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


def _geo_point(rng: random.Random, _row: int) -> tuple[float, float]:
    return (round(rng.uniform(*LAT_RANGE), 6), round(rng.uniform(*LON_RANGE), 6))


def _datetime(rng: random.Random, _row: int) -> dt.datetime:
    clock = dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    return dt.datetime.combine(_random_date(rng, 2015, 2026), clock)


VALUE_GENERATORS: dict[str, ValueGenerator] = {
    "sequence": lambda _rng, row: row + 1,
    "person_name": _person_name,
    "gender": lambda rng, _row: rng.choice("男女"),
    "id_card": _id_card,
    "phone": lambda rng, _row: rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99999999):08d}",
    "landline": lambda rng, _row: f"0757-8{rng.randint(0, 9999999):07d}",
    "address": _address,
    "street": lambda rng, _row: rng.choice(STREETS),
    "community": lambda _rng, row: _indexed(COMMUNITIES, row),
    "road": lambda rng, _row: rng.choice(ROADS),
    "place": lambda _rng, row: _indexed(PLACE_NAMES, row),
    "school_name": _school_name,
    "kindergarten_name": _kindergarten_name,
    "care_home_name": _care_home_name,
    "hospital_name": _hospital_name,
    "park_name": _park_name,
    "river_name": _river_name,
    "company_name": _company_name,
    "shop_name": _shop_name,
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
    "bus_line": lambda _rng, row: _indexed(BUS_LINES, row, stride=97),  # 97 is coprime to 249
    "bus_stop": _bus_stop,
    "parking_lot_name": _parking_lot_name,
    "date": lambda rng, _row: _random_date(rng, 2015, 2026),
    "datetime": _datetime,
    "year": lambda rng, _row: rng.randint(2015, 2026),
    "month": lambda rng, _row: f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}",
    "boolean": lambda rng, _row: rng.random() < 0.5,
    "geo_point": _geo_point,
    "lat": lambda rng, _row: round(rng.uniform(*LAT_RANGE), 6),
    "lon": lambda rng, _row: round(rng.uniform(*LON_RANGE), 6),
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
    return lambda _rng, row: _indexed(values, row)


def _serial(prefix: str, width: str) -> ValueGenerator:
    return lambda _rng, row: f"{prefix}{row + 1:0{int(width)}d}"


def _date_range(first_year: str, last_year: str) -> ValueGenerator:
    return lambda rng, _row: _random_date(rng, int(first_year), int(last_year))


def _hourly(start: str, rows_per_hour: str) -> ValueGenerator:
    # Monitoring series: several stations report each hour, one row per station.
    first = dt.datetime.fromisoformat(start)
    return lambda _rng, row: first + dt.timedelta(hours=row // int(rows_per_hour))


def _suffix(gen: str, text: str) -> ValueGenerator:
    generate = VALUE_GENERATORS[gen]
    return lambda rng, row: generate(rng, row) + text


PARAMETERIZED_GENERATORS: dict[str, Callable[..., ValueGenerator]] = {
    "int": _int_range,
    "num": _number_range,
    "choice": _choice,
    "pick": _pick,
    "serial": _serial,
    "date": _date_range,
    "hourly": _hourly,
    "suffix": _suffix,
    "uscc": _uscc,
}


def generator_for(gen: str) -> ValueGenerator:
    """The value generator a field's ``gen`` names; ValueError if there is none."""
    if gen in VALUE_GENERATORS:
        return VALUE_GENERATORS[gen]
    kind, _, arguments = gen.partition(":")
    factory = PARAMETERIZED_GENERATORS.get(kind)
    if factory is None or not arguments:
        raise ValueError(f"unknown value generator {gen!r}")
    try:
        # The last argument takes the rest, so choices may contain colons ("08:30-12:00").
        arity = len(inspect.signature(factory).parameters)
        generator = factory(*arguments.split(":", arity - 1))
        generator(random.Random(0), 0)  # fail here, not half-way through a file
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


def iter_rows(fields: list[dict], rows: int, seed: str) -> Iterator[dict]:
    """Yield ``rows`` dicts keyed by field name, the same for the same fields and seed.

    A field with ``"unique": true`` (a register's names) is drawn again until its value is
    new in this resource; ValueError if its generator cannot supply enough distinct values.
    """
    columns = [
        (field, generator_for(field["gen"]), _rng_for(seed, field["name"])) for field in fields
    ]
    seen: dict[str, set] = {field["name"]: set() for field in fields if field.get("unique")}
    for row in range(rows):
        record = {}
        for field, generate, rng in columns:
            value = generate(rng, row)
            used = seen.get(field["name"])
            if used is not None:
                for _attempt in range(UNIQUE_ATTEMPTS):
                    if value not in used:
                        break
                    value = generate(rng, row)
                else:
                    raise ValueError(f"{field['gen']!r} ran out of distinct values at row {row}")
                used.add(value)
            record[field["name"]] = value
        yield record
