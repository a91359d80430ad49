"""Every generated row of the demo agrees with itself: its places, the kinds its names
imply, its parts and wholes, its dates and the codes that carry them."""

import datetime as dt
import itertools
import json
import math
from pathlib import Path

import pytest

from catalog.demo import files, places, values, vocabulary

DATA_DIR = Path(files.__file__).with_name("data")
DATASETS = json.loads((DATA_DIR / "datasets.json").read_text(encoding="utf-8"))
REFERENCE = dt.datetime.fromisoformat(
    json.loads((DATA_DIR / "site.json").read_text(encoding="utf-8"))["reference_time"]
)
GENERATED = {
    dataset["slug"]: resource
    for dataset in DATASETS
    for resource in dataset["resources"]
    if "fields" in resource
}
# Fields where the row puts itself, and fields whose names may settle where that is.
PLACE_GENS = ("street", "community", "road", "address", "tiers", "standard_place_name")
COORDINATE_GENS = ("lat", "lon", "geo_point")


@pytest.fixture(scope="module")
def tables():
    """Every generated resource's rows, by dataset slug."""
    return {
        slug: list(
            values.iter_rows(
                resource["fields"], resource["rows"], values.resource_seed(slug, resource["name"])
            )
        )
        for slug, resource in GENERATED.items()
    }


def _kind(gen):
    kind, _, rest = gen.partition(":")
    return _kind(rest) if kind in ("suffix", "other_than") else kind


def _streets_of(fields, row):
    """The streets a row's place fields name: its first named place before them, and every
    place field (a template naming a community counts as one)."""
    streets, place_seen = set(), False
    for field in fields:
        kind, value = _kind(field["gen"]), row[field["name"]]
        street = places.locate(value)[0] if isinstance(value, str) else None
        if kind in PLACE_GENS or (kind == "template" and street):
            place_seen = True
            streets |= {street} if street else set()  # a district-wide service names none
        elif kind in values.NAMING_A_PLACE and not place_seen and not streets:
            streets |= {street} if street else set()
    return streets


@pytest.mark.parametrize("slug", sorted(GENERATED))
def test_a_rows_street_community_road_address_and_point_agree(tables, slug):
    fields = GENERATED[slug]["fields"]
    coordinates = [f["name"] for f in fields if f["gen"] in COORDINATE_GENS]
    for row in tables[slug]:
        streets = _streets_of(fields, row)
        assert len(streets) <= 1, (slug, row)
        if not streets or not coordinates:
            continue
        (lat_range, lon_range) = vocabulary.STREET_AREAS[streets.pop()]
        point = row.get("location") or (row.get("lat"), row.get("lon"))
        assert lat_range[0] <= point[0] <= lat_range[1], (slug, row)
        assert lon_range[0] <= point[1] <= lon_range[1], (slug, row)


def test_a_directory_of_one_street_lists_only_its_villages(tables):
    villages = {row["village"] for row in tables["agri-collective-asset-trading"]}
    assert villages == set(vocabulary.COMMUNITIES_BY_STREET["南庄镇"])


def test_service_directories_list_each_place_once(tables):
    for slug, name in [
        ("culture-libraries", "library"),
        ("data-service-centres", "centre"),
        ("justice-legal-service-stations", "station"),
        ("veterans-service-stations", "station"),
    ]:
        names = [row[name] for row in tables[slug]]
        assert len(set(names)) == len(names), slug
    for row in tables["data-service-centres"]:
        level = {"政务服务中心": "区级", "行政服务中心": "镇街", "党群服务中心": "村居"}
        assert level[next(e for e in level if row["centre"].endswith(e))] == row["level"]
    for row in tables["culture-libraries"]:
        books = {"区级": 300000, "镇街": 30000, "村居": 3000}[row["kind"]]
        assert books <= row["books"] < 10 * books


def test_a_schools_type_and_entry_grade_follow_its_name(tables):
    for row in tables["edu-school-directory"]:
        name, kind = row["school_name"], row["school_type"]
        if name.endswith("小学"):
            assert kind == "小学"
        elif name.endswith("学校"):
            assert kind == "九年一贯制学校"
        else:
            assert kind in ("初级中学", "完全中学")
    for slug in ("edu-enrollment-plan", "edu-points-admission"):
        for row in tables[slug]:
            if row["school_name"].endswith("小学"):
                assert row["grade"] == "一年级"
            elif row["school_name"].endswith("中学"):
                assert row["grade"] == "七年级"


def test_a_medical_institutions_kind_grade_beds_and_ownership_follow_its_name(tables):
    hospitals = vocabulary.HOSPITAL_KINDS_AND_GRADES
    for row in tables["health-medical-institutions"]:
        name = row["institution"]
        if name in hospitals:
            assert (row["kind"], row["grade"], row["ownership"]) == (*hospitals[name], "公立")
            assert row["beds"] > 0
        else:
            assert row["grade"] == "未定级"
            assert row["kind"] in name or name.endswith("卫生服务站")
            assert row["beds"] == 0 or row["kind"] in ("康复医院", "护理院")
    for row in tables["medsec-designated-institutions"]:
        assert row["grade"] == hospitals.get(row["institution"], ("", "未定级"))[1]
    for row in tables["health-family-doctor-teams"]:
        assert row["institution"].endswith(f"{row['community']}卫生服务站")


# (dataset, part, whole): the part never exceeds the whole.
PARTS = [
    ("edu-teacher-stats", "senior_titles", "teachers"),
    ("edu-teacher-stats", "postgraduates", "teachers"),
    ("edu-enrollment-plan", "points_seats", "plan_seats"),
    ("edu-points-admission", "seats", "applicants"),
    ("health-family-doctor-teams", "key_groups", "signed"),
    ("health-elderly-checkups", "checked", "residents"),
    ("data-service-items", "promised_days", "legal_days"),
    ("data-service-reviews", "bad_reviews", "reviews"),
    ("drc-key-projects", "annual_plan", "total_investment"),
    ("agri-collective-asset-trading", "reserve_price", "deal_price"),
    ("eco-air-quality-hourly", "pm25", "pm10"),
    ("hrss-job-vacancies", "salary_min", "salary_max"),
    ("civil-community-committees", "households", "population"),
    ("emergency-shelters", "capacity", "area"),
]


@pytest.mark.parametrize(("slug", "part", "whole"), PARTS)
def test_parts_never_exceed_their_whole(tables, slug, part, whole):
    assert all(row[part] <= row[whole] for row in tables[slug])


def test_figures_that_follow_others(tables):
    for row in tables["health-elderly-checkups"]:
        assert row["rate"] == round(100 * row["checked"] / row["residents"], 1)
    for row in tables["edu-enrollment-plan"]:
        assert 40 * row["plan_classes"] <= row["plan_seats"] <= 50 * row["plan_classes"]
    for row in tables["data-service-reviews"]:
        assert row["good_rate"] + 100 * row["bad_reviews"] / row["reviews"] <= 100
    for row in tables["nr-ancient-trees"]:  # 古树 grades by age: 一级 500 years and more
        least = {"一级": 500, "二级": 300, "三级": 100}[row["level"]]
        assert least <= row["age"] < (least + 200 if least < 500 else 10_000)
    staples = ("大米", "鲜鸡蛋", "生菜", "西红柿", "菜心")
    meat_and_oil = ("猪肉（五花）", "猪肉（瘦肉）", "鲈鱼", "鸡（光鸡）", "花生油")
    for row in tables["market-food-prices"]:
        if row["product"] in staples:
            assert row["price"] <= 8
        elif row["product"] in meat_and_oil:
            assert row["price"] >= 12


FORWARD_DATES = {"valid_until", "next_inspection", "contract_end"}


@pytest.mark.parametrize("slug", sorted(GENERATED))
def test_dates_are_not_after_the_reference_time_unless_they_look_ahead(tables, slug):
    dated = [
        f["name"]
        for f in GENERATED[slug]["fields"]
        if f["type"] in ("date", "datetime") and f["name"] not in FORWARD_DATES
    ]
    latest = REFERENCE.replace(tzinfo=None)
    for row in tables[slug]:
        for name in dated:
            value = row[name]
            moment = (
                value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
            )
            assert moment <= latest, (slug, name, value)


def test_listings_end_after_they_begin(tables):
    for row in tables["drc-serious-dishonesty"]:
        assert row["valid_until"] == row["listed_on"] + dt.timedelta(days=1095)
        assert row["valid_until"] > REFERENCE.date()  # a published list shows live entries


def test_codes_carry_the_year_of_their_record(tables):
    for slug in ("hrss-labor-inspection-penalties", "market-admin-penalties"):
        for row in tables[slug]:
            assert f"〔{row['decided_on'].year}〕" in row["decision_no"]
    for row in tables["agri-collective-asset-trading"]:
        assert row["project_no"].startswith(f"CCJT{row['dealt_on'].year}")
    for row in tables["econ-high-tech-enterprises"]:
        assert row["certificate_no"].startswith(f"GR{row['certified']}44")
    for row in tables["data-hotline-tickets"]:
        assert row["created_at"].year == 2025  # its tickets are numbered CC2025…


# GB 3838-2002 (rivers), written apart from catalog.demo.derived: limits of 类 Ⅰ to Ⅴ.
RIVER_LIMITS = {"ammonia": (0.15, 0.5, 1.0, 1.5, 2.0), "phosphorus": (0.02, 0.1, 0.2, 0.3, 0.4)}
RIVER_LIMITS["cod"] = (15, 15, 20, 30, 40)
GRADES = ("Ⅰ类", "Ⅱ类", "Ⅲ类", "Ⅳ类", "Ⅴ类", "劣Ⅴ类")


def test_a_water_samples_grade_is_its_worst_measure(tables):
    for row in tables["eco-river-water-quality"]:
        worst = max(
            next((i for i, limit in enumerate(limits) if row[name] <= limit), len(limits))
            for name, limits in RIVER_LIMITS.items()
        )
        assert GRADES[worst] == row["grade"], row


def test_an_hours_aqi_and_primary_pollutant_follow_its_concentrations(tables):
    def pm25_index(concentration):  # HJ 633-2012, to 150
        points = ((0, 0), (35, 50), (75, 100), (115, 150))
        for (c0, i0), (c1, i1) in itertools.pairwise(points):
            if concentration <= c1:
                return i0 + (i1 - i0) * (concentration - c0) / (c1 - c0)
        return 150

    pollutants = {"PM2.5", "PM10", "臭氧", "二氧化氮"}
    for row in tables["eco-air-quality-hourly"]:
        assert row["aqi"] >= math.ceil(pm25_index(row["pm25"]))
        if row["aqi"] <= 50:
            assert row["primary_pollutant"] == "无"
        else:
            assert row["primary_pollutant"] in pollutants
        if row["primary_pollutant"] == "PM2.5" and row["pm25"] <= 115:
            assert row["aqi"] == math.ceil(pm25_index(row["pm25"]))


def test_results_kinds_and_scopes_follow_what_the_row_is_about(tables):
    for row in tables["market-food-sampling"]:
        assert (row["result"] == "合格") == (row["failed_item"] == "无")
        assert not row["unit"].split("（")[0].endswith(("美发店", "五金店"))
    food_shops = ("便利店", "超市", "烧腊店", "餐厅", "粥粉面店")
    for row in tables["market-food-business-licenses"]:
        assert row["operator"].split("（")[0].endswith(food_shops)
        assert row["items"].endswith("销售") == row["operator"].split("（")[0].endswith(
            ("便利店", "超市")
        )
    scope = {
        "美发店": "美容美发",
        "五金店": "五金建材零售",
        "便利店": "食品销售",
        "超市": "食品销售",
    }
    for row in tables["market-individual-businesses"]:
        shop = row["shop"].split("（")[0]
        assert scope.get(shop[-3:], scope.get(shop[-2:], row["scope"])) == row["scope"]
    material = {
        "陶塑": "陶",
        "瓷盘": "瓷",
        "木雕": "木",
        "铜": "铜",
        "戏服": "丝织品",
        "花盆": "陶",
    }
    for row in tables["culture-museum-collections"]:
        expected = next((m for key, m in material.items() if key in row["name"]), row["material"])
        assert row["material"] == expected
    for row in tables["market-ceramics-quality"]:
        fixture = row["model"].endswith(("坐便器", "台上盆"))
        assert fixture == (row["product"] == "卫生陶瓷")
    for row in tables["civil-place-names"]:
        category = row["category"]
        assert (row["place"] in vocabulary.ROADS) == (category == "道路")
        assert row["place"].endswith(
            {"街巷": "巷", "桥梁": "桥", "公园广场": ("公园", "广场")}.get(category, "")
        )
    for row in tables["transport-bus-lines"]:
        assert row["origin"] != row["terminus"]


# ---- the machinery behind it


def test_locate_finds_the_street_of_a_street_road_or_place():
    assert places.locate("佛山市禅城区祖庙街道汾江中路12号") == ("祖庙街道", "汾江中路")
    assert places.locate("大参林（季华六路店）") == ("石湾镇街道", "季华六路")
    assert places.locate("佛山市禅城区张槎小学") == ("张槎街道", None)
    assert places.locate("南庄镇罗格村") == ("南庄镇", None)
    assert places.locate("佛山市第一人民医院") == (None, None)
    assert set(vocabulary.STREET_OF_PLACE) == set(vocabulary.PLACE_NAMES)


def test_fields_computed_from_others_are_drawn_after_them_wherever_they_stand():
    fields = [
        {"name": "grade", "title": "年级", "type": "text", "gen": "school_grade:school"},
        {"name": "school", "title": "学校", "type": "text", "gen": "school_name"},
        {"name": "code", "title": "编号", "type": "text", "gen": "template:{school}-{number:03d}"},
    ]
    first = next(values.iter_rows(fields, 1, "seed"))
    assert list(first) == ["grade", "school", "code"]
    assert first == {
        "grade": "一年级",
        "school": "佛山市禅城区惠景小学",
        "code": "佛山市禅城区惠景小学-001",
    }


@pytest.mark.parametrize(
    "gen", ["school_type:nowhere", "portion:nowhere:0:1:0", "template:{nowhere}"]
)
def test_a_field_computed_from_a_missing_field_is_refused(gen):
    fields = [{"name": "x", "title": "X", "type": "text", "gen": gen}]
    with pytest.raises(ValueError, match="nowhere"):
        list(values.iter_rows(fields, 1, "seed"))


@pytest.mark.parametrize("gen", ["community:徐汇区", "match:x", "range_by:x:0:甲=1", "tiers:a|b"])
def test_malformed_derived_generators_are_refused(gen):
    with pytest.raises(ValueError):
        values.generator_for(gen)
