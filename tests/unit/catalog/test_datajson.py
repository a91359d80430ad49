"""data.json: the public catalog as Project Open Data v1.1, streamed dataset by dataset.

No copy of the POD JSON schema is among the project's fixtures, so the fields the schema
requires of a non-federal catalog are checked one by one.
"""

import json
import re

import pytest

from catalog.datajson import data_json_pieces, pod_dataset
from catalog.services.metadata_export import public_dataset
from tests.unit.catalog.test_dcat import BASE, INFO, LINKS, PUBLIC_SLUGS, World, build_catalog

DOCUMENT_URL = BASE + "data.json"
# What POD v1.1 requires of every dataset (bureauCode and programCode only of US agencies).
REQUIRED = (
    "title",
    "description",
    "keyword",
    "modified",
    "publisher",
    "contactPoint",
    "identifier",
    "accessLevel",
)
ACCESS_LEVELS = {"public", "restricted public", "non-public"}
PERIODICITIES = {"R/PT1S", "R/P1D", "R/P1W", "R/P1M", "R/P3M", "R/P6M", "R/P1Y", "irregular"}
ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")


@pytest.fixture
def world(session, backends) -> World:
    return build_catalog(session, backends.object_store)


def catalog(session) -> tuple[list[str], dict]:
    pieces = list(data_json_pieces(session, INFO, LINKS, DOCUMENT_URL))
    return pieces, json.loads("".join(pieces))


def by_slug(document: dict) -> dict[str, dict]:
    return {entry["identifier"].rpartition("/")[2]: entry for entry in document["dataset"]}


def test_the_catalog_lists_exactly_the_public_datasets(session, world):
    pieces, document = catalog(session)
    assert document["conformsTo"] == "https://project-open-data.cio.gov/v1.1/schema"
    assert document["describedBy"] == "https://project-open-data.cio.gov/v1.1/schema/catalog.json"
    assert document["@context"] == "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld"
    assert document["@id"] == DOCUMENT_URL
    assert set(by_slug(document)) == PUBLIC_SLUGS
    # Sent as it is made: the opening, one piece per dataset, the closing.
    assert len(pieces) == len(PUBLIC_SLUGS) + 2
    # Chinese as it is, not \u escapes.
    assert "禅城区中小学校名录" in pieces[1] + pieces[2] + pieces[3]
    assert "\\u" not in "".join(pieces)


def test_every_dataset_has_what_pod_requires(session, world):
    _pieces, document = catalog(session)
    for entry in document["dataset"]:
        for field in REQUIRED:
            assert entry.get(field), (entry["identifier"], field)
        assert entry["@type"] == "dcat:Dataset"
        assert entry["accessLevel"] in ACCESS_LEVELS
        assert all(isinstance(word, str) and word for word in entry["keyword"])
        assert ISO_MOMENT.match(entry["modified"]) and ISO_MOMENT.match(entry["issued"])
        assert entry["publisher"]["name"] and entry["publisher"]["@type"] == "org:Organization"
        assert entry["contactPoint"]["fn"]
        assert entry["contactPoint"]["hasEmail"].startswith("mailto:")
        assert entry["language"] == ["zh-CN"]
        assert entry["accrualPeriodicity"] in PERIODICITIES
        if entry["accessLevel"] != "public":
            assert 0 < len(entry["rights"]) <= 255
        for distribution in entry.get("distribution", []):
            assert "downloadURL" in distribution or "accessURL" in distribution
            if "downloadURL" in distribution:
                assert re.match(r"^[-\w.+]+/[-\w.+]+$", distribution["mediaType"])


def test_a_dataset_in_pod_terms(session, world):
    entry = pod_dataset(public_dataset(session, "schools"), INFO, LINKS)
    assert entry["identifier"] == LINKS.dataset("schools")
    assert entry["landingPage"] == LINKS.dataset_page("schools")
    assert entry["publisher"] == {
        "@type": "org:Organization",
        "name": "佛山市禅城区教育局",
        "subOrganizationOf": {"@type": "org:Organization", "name": "佛山市禅城区人民政府"},
    }
    assert entry["contactPoint"] == {
        "@type": "vcard:Contact",
        "fn": "教育局数据管理员",
        "hasEmail": "mailto:ccjyj@chancheng.gov.cn",
    }
    assert entry["keyword"] == ["名录", "学校"]
    assert entry["theme"] == ["教育文化", "专题"]  # by the themes' slugs
    assert entry["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert entry["accrualPeriodicity"] == "R/P1Y"
    assert entry["temporal"] == "2020-01-01/2022-12-31"
    assert entry["spatial"] == "佛山市禅城区"
    assert entry["issued"] == "2023-03-14"
    distributions = {d["title"]: d for d in entry["distribution"]}
    stored = distributions["学校名录"]
    assert stored["downloadURL"].startswith(BASE + "api/v1/datasets/schools/resources/")
    assert (stored["mediaType"], stored["format"]) == ("text/csv", "CSV")
    api = distributions["数据查询接口"]
    assert api == {
        "@type": "dcat:Distribution",
        "title": "数据查询接口",
        "accessURL": "https://data.chancheng.gov.cn/api/schools",
        "format": "API",
    }
    outside_file = "https://files.chancheng.gov.cn/2019%20%E5%90%8D%E5%BD%95.csv"
    assert distributions["2019年名录"]["downloadURL"] == outside_file


def test_conditional_data_is_restricted_and_its_addresses_withheld(session, world):
    entry = pod_dataset(public_dataset(session, "teachers"), INFO, LINKS)
    assert entry["accessLevel"] == "restricted public"
    assert entry["rights"] == "用于科研与公益用途，需签署数据使用协议"
    assert entry["license"] == LINKS.licence("gov-open")
    assert entry["accrualPeriodicity"] == "R/PT1S"
    [distribution] = entry["distribution"]
    assert distribution["accessURL"] == LINKS.dataset_page("teachers")
    assert "downloadURL" not in distribution


def test_empty_fields_get_what_pod_requires(session, world):
    entry = pod_dataset(public_dataset(session, "bare"), INFO, LINKS)
    assert entry["description"] == "未填写描述的数据集"
    assert entry["keyword"] == ["佛山市禅城区教育局"]
    assert entry["contactPoint"]["fn"] == "佛山市禅城区教育局"
    assert "distribution" not in entry and "license" not in entry and "temporal" not in entry
