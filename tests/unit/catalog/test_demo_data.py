"""The demo catalog's data files: well-formed, consistent and realistically spread."""

import datetime as dt
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from catalog.demo import files, values

DATA_DIR = Path(files.__file__).with_name("data")

OPEN_TYPES = {"unconditional", "conditional", "not_open"}
SHARE_TYPES = {"unconditional", "conditional", "not_shared"}
SHARE_METHODS = {"api", "file", "database"}
FREQUENCIES = set("realtime daily weekly monthly quarterly semiannual annual other".split())
LICENSES = {"cc-by-4.0", "cc0-1.0", "odc-by-1.0", "gov-open"}
STATES = {"published", "draft", "withdrawn"}
SPATIAL = {"佛山市禅城区", "祖庙街道", "石湾镇街道", "张槎街道", "南庄镇"}
LINK_FORMATS = {"API", "PDF", "HTML"}
FILE_FORMATS = {"CSV", "XLSX", "GeoJSON"}
FIELD_TYPES = {"text", "integer", "number", "date", "datetime", "boolean", "geo_point"}
PERSONAL_GENS = {"id_card", "phone", "person_name"}
# Titles that name people's own records (their statistics aside) may never be open.
PERSONAL_TITLE_WORDS = ("低保", "患者", "病案", "学籍", "参保人员", "救助对象", "优抚对象", "矫正")

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def load(name):
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


DEPARTMENTS = load("departments.json")
THEMES = load("themes.json")
DATASETS = load("datasets.json")
SITE = load("site.json")
USERS = load("users.json")
GRANTS = load("grants.json")
RESOURCES = [(dataset, resource) for dataset in DATASETS for resource in dataset["resources"]]
GENERATED = [(dataset, resource) for dataset, resource in RESOURCES if "fields" in resource]


def uscc_is_valid(code):
    """GB 32100-2015, written apart from catalog.demo.identifiers: weight i is 3**i mod 31."""
    if len(code) != 18 or any(char not in USCC_ALPHABET for char in code):
        return False
    total = sum(USCC_ALPHABET.index(char) * pow(3, i, 31) for i, char in enumerate(code[:17]))
    return code[17] == USCC_ALPHABET[-total % 31]


def test_departments_are_the_23_of_the_district():
    assert len(DEPARTMENTS) == 23
    assert len({d["slug"] for d in DEPARTMENTS}) == 23
    assert len({d["code"] for d in DEPARTMENTS}) == 23
    assert len({d["name"] for d in DEPARTMENTS}) == 23
    for department in DEPARTMENTS:
        assert re.fullmatch(r"[a-z]{2,12}", department["slug"])
        assert department["name"].startswith("佛山市")
        assert "禅城" in department["name"]
        assert department["name_en"]
        assert department["description"].endswith("。")
        assert department["contact_email"].endswith("@chancheng.gov.cn")
        assert re.fullmatch(r"0757-8\d{7}", department["contact_phone"])
        # Its pages lie on the district's site, under the name its mailbox has.
        mailbox = department["contact_email"].partition("@")[0]
        assert department["website"] == f"https://www.chancheng.gov.cn/{mailbox}"


def test_department_codes_are_well_formed_credit_codes_of_district_organs():
    for department in DEPARTMENTS:
        assert department["code"].startswith("11440604")  # organ (11) of 禅城区 (440604)
        assert uscc_is_valid(department["code"]), department["code"]


def test_themes():
    assert 12 <= len(THEMES) <= 16
    assert len({theme["slug"] for theme in THEMES}) == len(THEMES)
    assert len({theme["name"] for theme in THEMES}) == len(THEMES)
    assert {"教育文化", "医疗卫生", "社保就业", "信用服务"} <= {theme["name"] for theme in THEMES}


def test_about_300_datasets_with_unique_slugs_titles_and_resource_codes():
    assert 290 <= len(DATASETS) <= 310
    assert len({d["slug"] for d in DATASETS}) == len(DATASETS)
    assert len({d["title"] for d in DATASETS}) == len(DATASETS)
    assert len({d["resource_code"] for d in DATASETS}) == len(DATASETS)
    for dataset in DATASETS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", dataset["slug"])


def test_every_department_publishes_datasets_in_proportion():
    per_department = Counter(d["department"] for d in DATASETS)
    assert set(per_department) == {d["slug"] for d in DEPARTMENTS}
    assert min(per_department.values()) >= 5
    assert per_department["edu"] >= 15
    assert per_department["health"] >= 15


def test_resource_codes_are_the_department_code_and_a_sequence():
    code_of = {d["slug"]: d["code"] for d in DEPARTMENTS}
    for dataset in DATASETS:
        department_code, _, sequence = dataset["resource_code"].partition("/")
        assert department_code == code_of[dataset["department"]]
        assert re.fullmatch(r"\d{5}", sequence)


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda d: d["slug"])
def test_dataset_metadata_is_valid(dataset):
    theme_slugs = {theme["slug"] for theme in THEMES}
    assert dataset["title"].startswith("禅城区") or "禅城" in dataset["title"]
    assert len(dataset["description"]) >= 30
    assert dataset["themes"]
    assert set(dataset["themes"]) <= theme_slugs
    assert dataset["tags"]
    assert dataset["update_frequency"] in FREQUENCIES
    assert dataset["open_type"] in OPEN_TYPES
    assert dataset["share_type"] in SHARE_TYPES
    assert dataset["share_method"] in SHARE_METHODS
    assert dataset["license"] in LICENSES
    assert dataset["spatial"] in SPATIAL
    assert dataset["state"] in STATES
    assert bool(dataset["open_condition"]) == (dataset["open_type"] == "conditional")
    assert bool(dataset["share_condition"]) == (dataset["share_type"] == "conditional")
    release = dt.date.fromisoformat(dataset["release_date"])
    assert dt.date(2018, 1, 1) <= release <= dt.date(2026, 12, 31)
    start, end = dataset["temporal_start"], dataset["temporal_end"]
    if start and end:
        assert dt.date.fromisoformat(start) <= dt.date.fromisoformat(end)
    elif end:
        pytest.fail("a temporal end needs a start")
    if dataset["open_type"] == "unconditional":
        assert dataset["share_type"] == "unconditional"  # open to all is shared with all


def test_open_and_share_types_are_spread_like_a_real_catalog():
    total = len(DATASETS)
    open_types = Counter(d["open_type"] for d in DATASETS)
    assert 0.50 <= open_types["unconditional"] / total <= 0.60
    assert 0.20 <= open_types["conditional"] / total <= 0.30
    assert 0.15 <= open_types["not_open"] / total <= 0.25
    closed_share_types = Counter(d["share_type"] for d in DATASETS if d["open_type"] == "not_open")
    assert closed_share_types["not_shared"] >= 1
    shared = closed_share_types["unconditional"] + closed_share_types["conditional"]
    assert shared > 2 * closed_share_types["not_shared"]


def test_states_are_mostly_published():
    states = Counter(d["state"] for d in DATASETS)
    assert 0.03 <= states["draft"] / len(DATASETS) <= 0.07
    assert 0.01 <= states["withdrawn"] / len(DATASETS) <= 0.03
    assert states["published"] / len(DATASETS) >= 0.9


def test_licences_are_mostly_the_government_licence():
    licences = Counter(d["license"] for d in DATASETS)
    assert licences["gov-open"] / len(DATASETS) > 0.6
    assert set(licences) == LICENSES


def test_personal_data_is_never_open():
    for dataset in DATASETS:
        gens = {
            field["gen"]
            for resource in dataset["resources"]
            for field in resource.get("fields", [])
        }
        personal_title = "统计" not in dataset["title"] and any(
            word in dataset["title"] for word in PERSONAL_TITLE_WORDS
        )
        if "id_card" in gens or personal_title:
            assert dataset["open_type"] == "not_open", dataset["slug"]


def test_every_dataset_has_one_to_three_resources_with_unique_names():
    counts = Counter(len(d["resources"]) for d in DATASETS)
    assert set(counts) <= {1, 2, 3}
    assert (counts[1] + counts[2]) / len(DATASETS) > 0.9
    for dataset in DATASETS:
        names = [resource["name"] for resource in dataset["resources"]]
        assert len(names) == len(set(names)), dataset["slug"]


def test_link_resources_are_the_portal_api_or_a_department_page_or_document():
    links = [resource for _, resource in RESOURCES if "fields" not in resource]
    assert len(links) > 150
    paths = set()
    for resource in links:
        assert resource["format"] in LINK_FORMATS
        assert resource["name"]
        assert "url" not in resource  # hosts come from site.json and departments.json
        if resource["format"] == "API":
            assert "path" not in resource  # always the dataset's own API
            continue
        extension = {"HTML": "html", "PDF": "pdf"}[resource["format"]]
        assert re.fullmatch(
            rf"(gkmlpt/content|attachment/0)(/\d+)+/(post_)?\d+\.{extension}", resource["path"]
        )
        paths.add(resource["path"])
    assert len(paths) == len([r for r in links if r["format"] != "API"])


def test_the_site_has_a_public_address_and_a_reference_time_after_every_release():
    assert SITE["portal_url"] == "https://data.chancheng.gov.cn"
    assert SITE["dataset_api_description"]
    reference = dt.datetime.fromisoformat(SITE["reference_time"])
    assert reference.utcoffset() == dt.timedelta(hours=8)
    assert max(dt.date.fromisoformat(d["release_date"]) for d in DATASETS) <= reference.date()


def test_demo_users_are_public_users_with_plain_names():
    assert [user["name"] for user in USERS] == ["citizen"]
    for user in USERS:
        assert re.fullmatch(r"[a-z][a-z0-9-]*", user["name"])
        assert not user["name"].endswith("-steward") and user["name"] != "admin"
        assert user["display_name"] and "@" in user["email"]


def test_grants_open_conditional_data_to_whom_its_condition_names():
    datasets = {d["slug"]: d for d in DATASETS}
    departments = {d["slug"] for d in DEPARTMENTS}
    reference = dt.datetime.fromisoformat(SITE["reference_time"]).date()
    grantees = [(g["dataset"], g.get("department"), g.get("user")) for g in GRANTS]
    assert len(set(grantees)) == len(GRANTS)
    for grant in GRANTS:
        dataset = datasets[grant["dataset"]]
        assert dataset["state"] == "published"
        assert any("fields" in resource for resource in dataset["resources"])  # data to fetch
        assert ("department" in grant) != ("user" in grant)
        assert grant["reason"]
        assert (
            dt.date.fromisoformat(dataset["release_date"])
            <= dt.date.fromisoformat(grant["granted_on"])
            <= reference
        )
        if "department" in grant:
            assert grant["department"] in departments - {dataset["department"]}
            assert dataset["share_type"] == "conditional"
        else:
            assert grant["user"] in {user["name"] for user in USERS}
            assert dataset["open_type"] == "conditional"
    assert sum("department" in grant for grant in GRANTS) >= 3
    assert sum("user" in grant for grant in GRANTS) == 1


def test_about_40_percent_of_datasets_have_a_generated_file():
    with_files = {dataset["slug"] for dataset, _ in GENERATED}
    assert 0.35 <= len(with_files) / len(DATASETS) <= 0.45
    formats = Counter(resource["format"] for _, resource in GENERATED)
    assert set(formats) == FILE_FORMATS
    assert formats["CSV"] > formats["XLSX"]
    assert 10 <= formats["GeoJSON"] <= 20


@pytest.mark.parametrize(("dataset", "resource"), GENERATED, ids=[d["slug"] for d, _ in GENERATED])
def test_generated_resource_specs_are_valid(dataset, resource):
    assert resource["format"] in FILE_FORMATS
    assert 20 <= resource["rows"] <= 5000
    fields = resource["fields"]
    assert 4 <= len(fields) <= 10
    assert len({f["name"] for f in fields}) == len(fields)
    assert len({f["title"] for f in fields}) == len(fields)  # CSV and XLSX headers
    for field in fields:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", field["name"])
        assert field["type"] in FIELD_TYPES
        values.generator_for(field["gen"])  # raises for an unknown gen
        if field["gen"] in PERSONAL_GENS:
            assert field.get("sensitive") is True, field["name"]
    geo_points = [f for f in fields if f["type"] == "geo_point"]
    if resource["format"] == "GeoJSON":
        assert len(geo_points) == 1
    else:
        assert not geo_points  # tables carry 经度/纬度 columns instead


PYTHON_TYPES = {
    "text": (str,),
    "integer": (int,),
    "number": (int, float),
    "date": (dt.date,),
    "datetime": (dt.datetime,),
    "boolean": (bool,),
    "geo_point": (tuple,),
}


@pytest.mark.parametrize(("dataset", "resource"), GENERATED, ids=[d["slug"] for d, _ in GENERATED])
def test_generated_values_have_the_declared_types(dataset, resource):
    seed = values.resource_seed(dataset["slug"], resource["name"])
    for row in itertools.islice(values.iter_rows(resource["fields"], resource["rows"], seed), 30):
        for field in resource["fields"]:
            value = row[field["name"]]
            assert isinstance(value, PYTHON_TYPES[field["type"]]), (field, value)
            if field["type"] in ("integer", "number"):
                assert not isinstance(value, bool)
            if field["type"] == "date":
                assert not isinstance(value, dt.datetime)


def test_unique_fields_can_be_filled_for_every_row():
    for dataset, resource in GENERATED:
        unique = [field["name"] for field in resource["fields"] if field.get("unique")]
        if not unique:
            continue
        seed = values.resource_seed(dataset["slug"], resource["name"])
        rows = list(values.iter_rows(resource["fields"], resource["rows"], seed))
        for name in unique:
            assert len({row[name] for row in rows}) == resource["rows"]
