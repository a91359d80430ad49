"""Deterministic generator of the demo catalog's data files (CSV, XLSX, GeoJSON).

A generated resource in ``data/datasets.json`` carries ``rows`` and ``fields``; each field
names a value generator in ``gen``. The same resource spec and seed always give
byte-identical files, so the demo can be rebuilt anywhere and compared by checksum.

Columns and headers
    CSV and XLSX files are opened by people, mostly in Excel, so their header row holds
    each field's Chinese ``title``; column *i* is ``fields[i]`` and
    :func:`field_names_by_title` gives the title -> ``name`` mapping back. Titles are
    unique within a resource. GeoJSON is read by GIS tools, which prefer ASCII keys, so
    feature properties are keyed by field ``name``.

Encodings of values
    CSV is UTF-8 *with* a byte-order mark, the only way Excel on Chinese Windows
    recognises UTF-8 (read it back with ``encoding="utf-8-sig"``). Dates are ISO
    ``YYYY-MM-DD``, datetimes ``YYYY-MM-DD HH:MM:SS``, booleans ``true``/``false`` and a
    ``geo_point`` is ``"lat,lon"`` (the string form Elasticsearch accepts). XLSX cells keep
    native types (numbers, dates, booleans). GeoJSON takes the first ``geo_point`` field as
    the Point geometry, ``[lon, lat]`` per RFC 7946.

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

import csv
import datetime as dt
import hashlib
import inspect
import io
import json
import random
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

ValueGenerator = Callable[[random.Random, int], Any]

# Chancheng's extent; every generated point falls inside it.
LAT_RANGE = (22.96, 23.08)
LON_RANGE = (113.02, 113.15)
REGION_CODE = "440604"  # 行政区划代码 of 禅城区


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SURNAMES = _words(
    "陈 李 黄 梁 何 张 刘 林 罗 吴 冯 潘 区 麦 冼 霍 关 杨 周 郭 谢 邓 曾 叶 苏 卢 蔡 "
    "伍 谭 钟 邝 岑 彭 王 赵 徐 朱 胡 高 郑 许 韩 曹 欧阳 司徒"
)
GIVEN_NAME_CHARS = tuple(
    "伟芳敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力嘉俊欣颖婷志宏健晓慧"
    "梓浩宇子轩诗琪佳怡思雨泽瑞锦铭键彬燕雯婉锐永乐淑琳家豪凯峰翠"
)
# Two of these make a plausible shop or company 字号 (trade name).
TRADE_NAME_CHARS = tuple(
    "宏图华美鸿运骏达新锐瑞丰恒信粤佳金盛汇通嘉禾隆基南方联创德力兴发永利博雅顺景星辉鼎安泰"
    "锦程亿宝合和诚富源晟豪威洋润昌泽腾远卓越"
)
_ROADS_BY_STREET_TEXT = {
    "祖庙街道": "汾江中路 汾江南路 人民路 祖庙路 建新路 同济路 城门头路 朝安路 亲仁路 "
    "公正路 卫国路 岭南大道北 岭南大道中 文华北路 文华中路 兆祥路 锦华路 魁奇一路",
    "石湾镇街道": "季华四路 季华五路 季华六路 岭南大道南 文华南路 绿景一路 绿景二路 "
    "魁奇二路 石湾公园路 太平路 和平路 东平路 雾岗路 澜石一路 江湾三路",
    "张槎街道": "张槎一路 张槎二路 张槎三路 张槎四路 季华一路 季华二路 古新路 江湾一路 "
    "大富北路 莲塘路 上朗大道",
    "南庄镇": "南庄大道 紫洞路 吉利大道 禅港路 湖涌路 溶洲大道 罗格大道 绿岛湖大道",
}
ROADS_BY_STREET = {street: _words(roads) for street, roads in _ROADS_BY_STREET_TEXT.items()}
STREETS = tuple(ROADS_BY_STREET)
ROADS = tuple(road for roads in ROADS_BY_STREET.values() for road in roads)
COMMUNITIES = _words(
    "祖庙街道升平社区 祖庙街道兆祥社区 祖庙街道普君社区 祖庙街道同济社区 祖庙街道岭南社区 "
    "祖庙街道朝安社区 祖庙街道亲仁社区 祖庙街道惠景社区 祖庙街道东华里社区 "
    "石湾镇街道澜石社区 石湾镇街道石湾社区 石湾镇街道深村社区 石湾镇街道东风社区 "
    "石湾镇街道小雾岗社区 石湾镇街道东鄱社区 石湾镇街道绿景社区 张槎街道大富社区 "
    "张槎街道大江社区 张槎街道莲塘社区 张槎街道上朗社区 张槎街道江湾社区 张槎街道村头社区 "
    "南庄镇罗格村 南庄镇吉利村 南庄镇紫南村 南庄镇溶洲村 南庄镇杏头村 南庄镇湖涌村 "
    "南庄镇南庄社区"
)
PLACE_NAMES = _words(
    "惠景 元甲 张槎 南庄 石湾 澜石 环湖 铁军 东鄱 深村 绿岛湖 朝东 同济 升平 兆祥 普君 "
    "亲仁 大富 江湾 罗格 紫南 吉利 溶洲 杏头 湖涌 莲塘 上朗 绿景 雾岗 亚艺"
)
RIVERS = _words(
    "东平河 汾江河 佛山涌 潭洲水道 吉利涌 南庄涌 紫洞涌 罗格涌 石湾涌 澜石涌 张槎涌 "
    "大富涌 莲塘涌 上朗涌 江湾涌 东鄱涌"
)
HOSPITALS = _words(
    "佛山市第一人民医院 佛山市中医院 佛山市妇幼保健院 佛山市第二人民医院 "
    "佛山市禅城区中心医院 佛山市禅城区人民医院 佛山市禅城区妇幼保健院 佛山市中医院禅城医院 "
    "佛山市禅城区祖庙街道社区卫生服务中心 佛山市禅城区石湾镇街道社区卫生服务中心 "
    "佛山市禅城区张槎街道社区卫生服务中心 佛山市禅城区南庄镇社区卫生服务中心"
)
CLINIC_KINDS = _words(
    "门诊部 综合门诊部 中医门诊部 口腔门诊部 中医诊所 口腔诊所 社区诊所 康复医院 护理院 "
    "医学检验实验室"
)
KINDERGARTEN_KINDS = _words("幼儿园 中心幼儿园 实验幼儿园 第二幼儿园 艺术幼儿园 双语幼儿园")
PARKS = _words(
    "中山公园 亚艺公园 佛山公园 季华公园 石湾公园 文华公园 绿岛湖湿地公园 东平河滨水公园 "
    "大富公园 紫南公园 王借岗森林公园 南风古灶 梁园 岭南天地"
)
INDUSTRIES = _words(
    "贸易 陶瓷 五金制品 科技 电子 服装 建材 餐饮管理 物流 信息技术 装饰工程 机械设备 "
    "医药 纺织 家具 不锈钢 文化传播 物业管理 新材料 模具 包装材料 环保科技 卫浴 照明电器"
)
PHARMACY_CHAINS = _words("大参林 老百姓大药房 国大药房 海王星辰 益丰大药房 采芝林")
ESTATE_KINDS = _words("花园 新村 小区 雅苑 华庭 名苑 豪庭 御府 花城 公馆 半岛 君悦")
PROJECT_KINDS = _words(
    "住宅小区项目 商业综合体项目 学校改扩建工程 厂房建设项目 道路改造工程 安置房项目 "
    "产业园项目 医院扩建工程 公园提升工程 城市更新单元项目 污水管网工程 人才公寓项目"
)
SOCIAL_ORG_DOMAINS = _words(
    "陶瓷行业 餐饮业 青少年发展 长者关爱 社区营造 书法 摄影 武术 醒狮 篮球 义工 家庭教育 "
    "粤剧 咏春拳 心理咨询 残疾人康复 环保 科普 民办教育 物业管理 五金行业 女企业家 "
    "电子商务 律师 慈善 社会工作 乡贤 龙舟 曲艺 青年创业"
)
SOCIAL_ORG_KINDS = _words("协会 商会 促进会 研究会 社会工作服务中心 服务中心")
HERITAGE_KINDS = _words("古庙 书院 古井 大宅 旧址 祖祠 关帝庙 天后宫 北帝庙 古码头 家塾 门楼")
PROCUREMENT_GOODS = _words(
    "校园安防设备 办公设备 物业管理服务 绿化养护服务 信息化系统建设 医疗设备 环卫保洁服务 "
    "食材配送服务 法律顾问服务 课桌椅 空调设备 公务用车 审计服务 监理服务"
)
SERVICE_ITEMS = _words(
    "就业登记 失业登记 居住证签注 食品经营许可 公共场所卫生许可 建筑工程施工许可证核发 "
    "医师执业注册 民办学校设立审批 户外广告设施设置审批 最低生活保障对象认定 高龄津贴申领 "
    "城乡居民养老保险参保登记 社会团体成立登记 殡葬补贴申领 出生医学证明签发 "
    "商品房预售许可 排污许可 建设项目环境影响评价审批 特种设备使用登记 药品零售企业许可 "
    "道路运输经营许可 城镇污水排入排水管网许可 临时救助 残疾人两项补贴申领 "
    "人力资源服务许可 劳务派遣经营许可 烟花爆竹零售经营许可 古树名木迁移审批 "
    "校外培训机构设立审批 律师执业许可"
)
SERVICE_ITEM_VARIANTS = ("新办", "变更", "延续", "注销", "补办", "撤回")
BUS_LINES = (
    tuple(f"{number}路" for number in range(101, 300))
    + tuple(f"K{number}路" for number in range(1, 31))
    + tuple(f"G{number}路" for number in range(1, 21))
)
MOBILE_PREFIXES = _words(
    "130 131 132 133 135 136 137 138 139 150 151 152 157 158 159 "
    "176 177 178 180 181 182 183 185 186 187 188 189 191 198 199"
)

# GB 11643-1999 (居民身份证号码) check digit.
ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK_CHARS = "10X98765432"
# GB 32100-2015 (统一社会信用代码): the 31 characters it uses and the position weights.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997 (组织机构代码), the 9-character body of a USCC.
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def id_card_check_char(first17: str) -> str:
    """The GB 11643 check character of an 18-digit 居民身份证号."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_CARD_WEIGHTS, strict=True))
    return ID_CARD_CHECK_CHARS[total % 11]


def org_code_check_char(first8: str) -> str:
    """The GB 11714 check character of an organisation code."""
    total = sum(
        int(char, 36) * weight for char, weight in zip(first8, ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of an 18-character 统一社会信用代码."""
    total = sum(
        USCC_CHARS.index(char) * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True)
    )
    return USCC_CHARS[(31 - total % 31) % 31]


def make_uscc(registry_and_kind: str, region: str, org_body: str) -> str:
    """A well-formed USCC from its parts, e.g. ("91", "440604", "MA4UL1234")."""
    org_code = org_body + org_code_check_char(org_body)
    first17 = registry_and_kind + region + org_code
    return first17 + uscc_check_char(first17)


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


def field_names_by_title(fields: list[dict]) -> dict[str, str]:
    """Map the CSV/XLSX header (field titles) back to field names."""
    return {field["title"]: field["name"] for field in fields}


def _text_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):  # geo_point
        return f"{value[0]},{value[1]}"
    return str(value)


def write_csv(fields: list[dict], rows: Iterable[dict], out: IO[bytes]) -> None:
    """Stream rows as UTF-8 (with BOM) CSV, header of field titles."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(field["title"] for field in fields)
        names = [field["name"] for field in fields]
        for row in rows:
            writer.writerow(_text_value(row[name]) for name in names)
        text.flush()
    finally:
        text.detach()  # leave the caller's file open


# Any fixed instant will do; it keeps the zip entries and docProps/core.xml stable.
XLSX_TIMESTAMP = dt.datetime(2024, 1, 1)


class _FixedTimeZipFile(zipfile.ZipFile):
    """A zip whose entries all carry one timestamp, as openpyxl otherwise stamps "now"."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = self._entry(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        with (
            open(filename, "rb") as source,
            self.open(self._entry(arcname or filename), "w") as target,
        ):
            shutil.copyfileobj(source, target)

    def _entry(self, name: str) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(name, date_time=XLSX_TIMESTAMP.timetuple()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED
        return entry


def _xlsx_value(value: Any) -> Any:
    return f"{value[0]},{value[1]}" if isinstance(value, tuple) else value


def write_xlsx(fields: list[dict], rows: Iterable[dict], out: IO[bytes]) -> None:
    """Stream rows into a one-sheet workbook (header of field titles), byte-deterministic."""
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "禅城区政府数据开放平台"
    workbook.properties.created = XLSX_TIMESTAMP
    workbook.properties.modified = XLSX_TIMESTAMP
    sheet = workbook.create_sheet("数据")
    sheet.append([field["title"] for field in fields])
    names = [field["name"] for field in fields]
    for row in rows:
        sheet.append([_xlsx_value(row[name]) for name in names])
    # openpyxl's save() stamps the current time; its ExcelWriter with our zip does not.
    # Write-only sheets already spool to temporary files, so buffer the zip the same way.
    with tempfile.TemporaryFile() as buffer:
        with _FixedTimeZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(workbook, archive).write_data()
        buffer.seek(0)
        shutil.copyfileobj(buffer, out)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [value[1], value[0]]
    return value


def write_geojson(fields: list[dict], rows: Iterable[dict], out: IO[bytes]) -> None:
    """Stream rows as a FeatureCollection of Points, one feature written at a time."""
    geometry_field = next((f["name"] for f in fields if f["type"] == "geo_point"), None)
    if geometry_field is None:
        raise ValueError("a GeoJSON resource needs a geo_point field")
    property_names = [field["name"] for field in fields if field["name"] != geometry_field]
    out.write(b'{"type": "FeatureCollection", "features": [')
    for index, row in enumerate(rows):
        lat, lon = row[geometry_field]
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {name: _json_value(row[name]) for name in property_names},
        }
        out.write(b",\n" if index else b"\n")
        out.write(json.dumps(feature, ensure_ascii=False).encode())
    out.write(b"\n]}\n")


FILE_WRITERS: dict[str, Callable[[list[dict], Iterable[dict], IO[bytes]], None]] = {
    "CSV": write_csv,
    "XLSX": write_xlsx,
    "GEOJSON": write_geojson,
}
MEDIA_TYPES = {
    "CSV": "text/csv",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "GEOJSON": "application/geo+json",
    "JSON": "application/json",
    "API": "application/json",
    "PDF": "application/pdf",
    "HTML": "text/html",
}


def media_type_for(file_format: str) -> str:
    """The media type of a resource format such as "CSV" or "GeoJSON"."""
    try:
        return MEDIA_TYPES[file_format.upper()]
    except KeyError:
        raise ValueError(f"unknown resource format {file_format!r}") from None


def write_resource_file(resource_spec: dict, seed: str, out: IO[bytes]) -> None:
    """Generate a resource's file (format, rows and fields from its spec) into ``out``."""
    writer = FILE_WRITERS.get(resource_spec["format"].upper())
    if writer is None:
        raise ValueError(f"cannot generate a {resource_spec['format']!r} file")
    fields = resource_spec["fields"]
    writer(fields, iter_rows(fields, resource_spec["rows"], seed), out)
