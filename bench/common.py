"""What every benchmark shares: the generated data, timing, percentiles and the tables.

The data is deterministic (a seeded random.Random) and generated lazily: a million records
are never a list in memory. Records have ten fields of every type the record store keeps,
with Chinese text (school and company names, the four streets of Chancheng, addresses) and
about 5% missing values; catalog datasets look like the demo catalog's, 100,000 of them.
"""

import argparse
import os
import platform
import random
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta

from catalog.interfaces import RecordField
from catalog.vocab import UpdateFrequency

SEED = 20240601
FULL_ROWS = 1_000_000
SMALL_ROWS = 20_000
FULL_DATASETS = 100_000
SMALL_DATASETS = 2_000
MISSING = 0.05  # share of missing values in every field but the name

# -- records ---------------------------------------------------------------------------------

STREETS = ("祖庙街道", "石湾镇街道", "张槎街道", "南庄镇")
PLACES = "祖庙 石湾 张槎 南庄 澜石 环市 文华 惠景 铁军 东华里 季华 绿景 朝安 普君 莲峰 江湾".split()
SCHOOL_KINDS = ("小学", "中学", "实验学校", "幼儿园", "职业技术学校", "外国语学校")
BRANDS = "华信 佛陶 金沙 宏达 新城 顺联 南方 鸿图 科达 盈峰 国星 天安 创美 恒通 广发 荣信".split()
INDUSTRIES = (
    "电子科技",
    "陶瓷",
    "贸易",
    "物业管理",
    "餐饮管理",
    "建筑工程",
    "医疗器械",
    "信息技术",
    "物流",
    "文化传播",
)
ROADS = (
    "季华路 汾江中路 岭南大道 文华北路 佛山大道 魁奇路 绿景路 张槎路 石湾公园路 南庄大道 "
    "轻工三路 祖庙路 建新路 同济路 雾岗路 港口路"
).split()

RECORD_FIELDS = [
    RecordField("名称", "text", "单位名称"),
    RecordField("街道", "text", "所属镇街"),
    RecordField("地址", "text", "地址"),
    RecordField("联系电话", "text", "联系电话", sensitive=True),
    RecordField("人数", "integer", "从业人数"),
    RecordField("金额", "number", "注册资本（万元）"),
    RecordField("成立日期", "date", "成立日期"),
    RecordField("更新时间", "datetime", "数据更新时间"),
    RecordField("公办", "boolean", "是否公办"),
    RecordField("位置", "geo_point", "经纬度"),
]


def record_rows(count: int, seed: int = SEED) -> Iterator[dict]:
    """count records of RECORD_FIELDS, _id from 1; the same seed gives the same rows, and
    a smaller count the first rows of a larger one."""
    rng = random.Random(seed)
    rand, pick = rng.random, rng.randrange
    first_day = date(1950, 1, 1).toordinal()
    first_time = datetime(2020, 1, 1)
    for position in range(1, count + 1):
        if rand() < 0.5:
            name = f"{PLACES[pick(16)]}第{pick(1, 40)}{SCHOOL_KINDS[pick(6)]}"
        else:
            name = f"佛山市{BRANDS[pick(16)]}{INDUSTRIES[pick(10)]}有限公司"
        street = STREETS[pick(4)]
        if rand() < 0.5:
            phone = f"0757-8{pick(1_000_000, 10_000_000)}"
        else:
            phone = f"13{pick(10)}{pick(10_000_000, 100_000_000)}"
        yield {
            "_id": position,
            "名称": name,
            "街道": None if rand() < MISSING else street,
            "地址": None
            if rand() < MISSING
            else f"佛山市禅城区{street}{ROADS[pick(16)]}{pick(1, 300)}号",
            "联系电话": None if rand() < MISSING else phone,
            "人数": None if rand() < MISSING else pick(0, 5000),
            "金额": None if rand() < MISSING else round(rand() * 10_000, 2),
            "成立日期": None if rand() < MISSING else date.fromordinal(first_day + pick(27_000)),
            "更新时间": (
                None if rand() < MISSING else first_time + timedelta(seconds=pick(150_000_000))
            ),
            "公办": None if rand() < MISSING else rand() < 0.6,
            "位置": (
                None
                if rand() < MISSING
                else (round(22.98 + rand() * 0.12, 6), round(113.03 + rand() * 0.14, 6))
            ),
        }


# -- catalog datasets --------------------------------------------------------------------------

TOPICS = (
    ("学校", "名录"),
    ("医疗机构", "基本信息"),
    ("医疗保险", "参保人数统计"),
    ("社会保险", "缴费情况"),
    ("公共交通", "线路站点"),
    ("企业", "登记信息"),
    ("停车场", "泊位信息"),
    ("养老机构", "床位统计"),
    ("食品经营", "许可信息"),
    ("环境空气", "质量监测"),
    ("河涌水质", "监测数据"),
    ("公共厕所", "分布"),
    ("文物保护单位", "名录"),
    ("体育场馆", "开放信息"),
    ("人口", "年度统计"),
    ("财政预算", "执行情况"),
    ("招商引资", "项目清单"),
    ("就业", "岗位信息"),
    ("垃圾分类", "收运点"),
    ("消防", "重点单位"),
)
QUALIFIERS = ("", "街道", "年度", "季度", "月度", "公办", "民办", "重点", "新增", "历史")
YEARS = tuple(str(year) for year in range(2015, 2025))
FORMATS = ("CSV", "XLSX", "JSON", "GEOJSON", "API", "PDF")
TAG_WORDS = (
    "学校 教育 医疗 医保 社保 交通 企业 停车 养老 食品 环境 水质 厕所 文物 体育 人口 财政 "
    "招商 就业 垃圾分类 消防 统计 名录 监测 许可"
).split()
FIELD_TITLES = (
    "名称 地址 所属镇街 联系电话 统计日期 数量 金额 经度 纬度 类型 负责人 状态 面积 人数 备注"
).split()
OPEN_TYPES = ("unconditional", "conditional", "not_open")
SHARE_TYPES = ("unconditional", "conditional", "not_shared")
FREQUENCIES = ("realtime", "daily", "weekly", "monthly", "quarterly", "annual", "other")
LICENSES = ("gov-open", "cc-by-4.0", None)  # ids of catalog.services.departments.LICENSES


def catalog_datasets(
    count: int, departments: list[dict], themes: list[dict], seed: int = SEED
) -> Iterator[dict]:
    """Plain descriptions of count datasets (owned by the given demo departments, filed
    under the given demo themes): the source both the catalog rows and the index documents
    are made from. Deterministic for a seed."""
    rng = random.Random(seed + 1)
    rand, pick = rng.random, rng.randrange
    epoch = datetime(2024, 1, 1, tzinfo=UTC)
    for number in range(count):
        department = departments[pick(len(departments))]
        subject, kind = TOPICS[pick(len(TOPICS))]
        qualifier = QUALIFIERS[pick(len(QUALIFIERS))]
        year = YEARS[pick(len(YEARS))]
        place = PLACES[pick(len(PLACES))]
        title = f"禅城区{place}{qualifier}{subject}{kind}（{year}）"
        n_resources = 1 + pick(3)
        resources = []
        for position in range(n_resources):
            fmt = FORMATS[pick(len(FORMATS))]
            titles = sorted({FIELD_TITLES[pick(len(FIELD_TITLES))] for _ in range(4)})
            resources.append(
                {
                    "position": position,
                    "name": f"{subject}{kind}{year}年第{position + 1}部分",
                    "format": fmt,
                    "fields": [{"name": f"f{i}", "title": t} for i, t in enumerate(titles)],
                }
            )
        # Most datasets are open and published, as in the demo; some are hidden from the
        # public, so the policy's label filter has something to do.
        roll = rand()
        open_type = "unconditional" if roll < 0.6 else OPEN_TYPES[pick(3)]
        state = "published" if rand() < 0.95 else "draft"
        yield {
            "number": number,
            "slug": f"bench-{number:06d}",
            "title": title,
            "title_en": f"Chancheng {place} dataset {number} ({year})",
            "description": (
                f"{department['name']}发布的{place}{subject}{kind}数据，"
                f"含{'、'.join(r['fields'][0]['title'] for r in resources)}等信息项，"
                f"{year}年起{UpdateFrequency(FREQUENCIES[pick(len(FREQUENCIES))]).label}更新。"
            ),
            "department": department,
            "themes": sorted({themes[pick(len(themes))]["slug"] for _ in range(1 + pick(2))}),
            "tags": sorted({TAG_WORDS[pick(len(TAG_WORDS))] for _ in range(1 + pick(4))}),
            "license": LICENSES[pick(len(LICENSES))],
            "resource_code": f"{department['code']}/B{number:06d}",
            "open_type": open_type,
            "share_type": SHARE_TYPES[pick(3)],
            "update_frequency": FREQUENCIES[pick(len(FREQUENCIES))],
            "state": state,
            "release_date": date(2015, 1, 1) + timedelta(days=pick(3600)),
            "modified_at": epoch - timedelta(seconds=pick(300_000_000)),
            "downloads": pick(10_000),
            "resources": resources,
        }


# -- timing ------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """The share-th percentile (0..100), interpolating between ranks as numpy does."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * share / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def interleaved(
    layers: list[tuple[str, Callable[[], object]]],
    seconds: float,
    least: int,
    most: int,
    cap: float,
) -> dict[str, list[float]]:
    """Milliseconds of each call of each layer, in rounds that call every layer once in
    turn, so that a change of the machine's load falls on all layers alike.

    As many rounds as fit in about ``seconds`` (at least ``least``, at most ``most``), after
    one or two rounds that are not counted; when ``least`` rounds would take longer than
    ``cap`` seconds, fewer, down to one, so a slow case cannot hold the run for long."""
    started = time.perf_counter()
    for _name, call in layers:
        call()
    one_round = time.perf_counter() - started
    if one_round < 1:
        for _name, call in layers:
            call()
    rounds = max(least, min(most, int(seconds / max(one_round, 1e-6))))
    if rounds * one_round > cap:
        rounds = max(1, int(cap / one_round))
    samples: dict[str, list[float]] = {name: [] for name, _call in layers}
    for _ in range(rounds):
        for name, call in layers:
            started = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def timed(call: Callable[[], object]) -> tuple[object, float]:
    """(what call returned, seconds it took)."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def drain(rows: Iterable) -> int:
    count = 0
    for _ in rows:
        count += 1
    return count


# -- printing ----------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    """A plain-text table, numbers right-aligned, Chinese counted as two columns wide."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [
        max([_width(header)] + [_width(row[i]) for row in cells])
        for i, header in enumerate(headers)
    ]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and rows
        for i in range(len(headers))
    ]

    def line(values: list[str]) -> str:
        parts = []
        for i, value in enumerate(values):
            pad = " " * (widths[i] - _width(value))
            parts.append(pad + value if numeric[i] else value + pad)
        return "  ".join(parts).rstrip()

    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def ratio(value: float | None, reference: float | None) -> float | None:
    if not value or not reference:
        return None
    return value / reference


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def machine_note() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {platform.node()}, "
        f"{os.cpu_count()} CPUs, load average {load}, Python {platform.python_version()}"
    )


def say(message: str) -> None:
    """Progress, on stderr, so the tables on stdout stay clean."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- arguments ---------------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every benchmark takes."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument(
        "--small", action="store_true", help="a smoke run: small sizes, a few seconds each"
    )
    arguments.add_argument(
        "--backends",
        default="sqlite,postgresql,opensearch",
        help="comma-separated, of sqlite, postgresql, opensearch (default: all reachable)",
    )
    arguments.add_argument(
        "--data-dir",
        default=None,
        help="keep the loaded record stores here between benchmarks (run_all passes one); "
        "by default a temporary folder, removed at the end",
    )
    return arguments


def chosen_backends(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(names) - {"sqlite", "postgresql", "opensearch"}
    if unknown:
        raise SystemExit(f"Unknown backends: {sorted(unknown)}")
    return names
