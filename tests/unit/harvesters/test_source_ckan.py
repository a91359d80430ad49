"""The CKAN source type, harvesting real captured CKAN answers served by a local server."""

import copy
import json
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from harvesters.fetch import HttpFetcher
from harvesters.interfaces import GatherFailure, HarvestSourceError, RemoteDataset, SourceSpec
from harvesters.registry import ENTRY_POINT_GROUP
from harvesters.sources.ckan import CkanSource, action_base
from tests.unit.harvesters.http_server import LocalHttpServer, Reply

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ckan"


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def envelope_reply(envelope) -> Reply:
    return Reply(
        body=json.dumps(envelope, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json;charset=utf-8"},
    )


def serve_search(server: LocalHttpServer, packages: list, envelope=None) -> None:
    """package_search over ``packages``, paged by rows/start and filtered by organization,
    in the envelope of a real package_search answer."""
    envelope = envelope or load("demo_ckan_org__package_search.json")

    def search(request):
        matching = packages
        fq = request.arg("fq")
        if fq.startswith("organization:"):
            wanted = fq.split()[0].removeprefix("organization:")
            matching = [p for p in packages if (p.get("organization") or {}).get("name") == wanted]
        start, rows = int(request.arg("start", "0")), int(request.arg("rows", "10"))
        answer = copy.deepcopy(envelope)
        answer["result"]["count"] = len(matching)
        answer["result"]["results"] = matching[start : start + rows]
        return envelope_reply(answer)

    server.add("/api/3/action/package_search", search)


@pytest.fixture
def server():
    with LocalHttpServer() as running:
        yield running


@pytest.fixture
def fetcher():
    with HttpFetcher(allow_private=True, timeout=5) as local:
        yield local


def harvest(server, fetcher, url_path="/", **config) -> list:
    spec = SourceSpec(url=server.url(url_path), config=config)
    return list(CkanSource(spec, fetcher).gather())


def by_id(found: list) -> dict[str, RemoteDataset]:
    return {dataset.remote_id: dataset for dataset in found}


def test_registered_as_entry_point():
    (point,) = entry_points(group=ENTRY_POINT_GROUP, name="ckan")
    assert point.load() is CkanSource
    assert CkanSource.label == "CKAN 门户"


def test_demo_portal_in_pages_smaller_than_the_catalog(server, fetcher):
    packages = load("demo_ckan_org__package_search.json")["result"]["results"]
    serve_search(server, packages)

    found = harvest(server, fetcher, page_size=2)

    assert [dataset.title for dataset in found] == [
        "100 Validated Species of Plants",
        "規管海外物業銷售",
        "2016 Regione Asia Est Oceania * Classi di età",
    ]
    searches = [r for r in server.requests if r.path.endswith("package_search")]
    assert [(r.arg("start"), r.arg("rows")) for r in searches] == [("0", "2"), ("2", "2")]
    assert searches[0].arg("sort") == "id asc"

    plants = by_id(found)["62513382-3b26-4bc8-9096-40b6ce8383c0"]
    assert plants.description == "This data includes the typical plants for machine learning test."
    assert plants.tags == ("flower", "image recognition", "machine learning")
    assert plants.license == "other-open"
    assert plants.issued == date(2017, 8, 5)
    assert plants.modified == datetime(2017, 8, 5, 3, 19, 33, 886925, tzinfo=UTC)
    assert (plants.contact_name, plants.contact_email) == ("TKKIM", "misoh049@gmail.com")
    assert plants.extras["ckan_name"] == "100-validated-species-of-plants"
    assert plants.extras["ckan_page"] == server.url("/dataset/100-validated-species-of-plants")
    (species,) = plants.resources
    assert species.remote_id == "bf4d5116-634e-43f2-a41c-9ae22d362083"
    assert species.name == "validated_100_species.csv"
    assert species.url == (
        "https://demo.ckan.org/dataset/62513382-3b26-4bc8-9096-40b6ce8383c0/resource/"
        "bf4d5116-634e-43f2-a41c-9ae22d362083/download/validated_100_species.csv"
    )
    assert (species.format, species.store) == ("CSV", True)
    assert species.description == "This file includes 100 species list for machine learning test."
    assert json.loads(plants.raw)["name"] == "100-validated-species-of-plants"


def test_chinese_title_and_source_url_as_landing_page(server, fetcher):
    packages = load("demo_ckan_org__package_search.json")["result"]["results"]
    serve_search(server, packages)

    legco = by_id(harvest(server, fetcher))["9c3036b8-f6ac-4a4e-9036-5a3cc90c3900"]

    assert legco.title == "規管海外物業銷售"
    assert legco.description == "規管海外物業銷售"
    assert legco.license == "cc-by"
    assert legco.landing_page.startswith("http://www.legco.gov.hk/research-publications/")
    (pdf,) = legco.resources
    assert (pdf.format, pdf.store) == ("PDF", True)
    assert "規管海外物業銷售" in legco.raw  # kept as text, not \\u escapes


def test_organization_and_extras(server, fetcher):
    packages = load("demo_ckan_org__package_search.json")["result"]["results"]
    serve_search(server, packages)

    asia = by_id(harvest(server, fetcher))["17be64bb-da74-4195-9bb8-565c39846af2"]

    assert asia.extras["Anno"] == "2016"
    assert asia.extras["organization"] == "sdb"
    assert asia.extras["organization_title"] == "SDB"
    assert asia.resources[0].url.endswith("/download/20161231_rase.csv")


def test_catalog_data_gov_package_dicts_one_per_page(server, fetcher):
    serve_search(server, load("catalog_data_gov__hud_package_dicts.json"))

    found = harvest(server, fetcher, page_size=1)

    assert len(found) == 3
    assert len([r for r in server.requests if r.path.endswith("package_search")]) == 3
    lenders = by_id(found)["8e81ab5c-d959-4401-8ac1-d73f1820c55d"]
    assert lenders.title == "HUD Subprime and Manufactured Home Lender List"
    assert lenders.themes == ("businessusa4208", "consumer9350", "energy9485", "finance3432")
    assert lenders.license == "notspecified"
    assert (lenders.temporal_start, lenders.temporal_end) == (date(1993, 1, 1), date(2005, 12, 31))
    assert (lenders.contact_name, lenders.contact_email) == (
        "Shula Markland",
        "Shula.Markland@HUD.gov",
    )
    assert lenders.extras["identifier"] == "HUD001"
    assert lenders.extras["bureauCode"] == ["025:09"]
    assert lenders.extras["organization"] == "hud-gov"
    (xls,) = lenders.resources
    assert xls.url == "http://www.HUDuser.org/portal/datasets/manu/subprime_2006_distributed.xls"
    assert (xls.format, xls.media_type, xls.store) == ("XLS", "application/xls", True)

    rental = by_id(found)["c7ef46a1-559f-4fb5-99c4-8797758e1537"]
    assert (rental.temporal_start, rental.temporal_end) == (date(2001, 1, 1), date(2001, 12, 31))
    (program,) = rental.resources
    assert (program.format, program.store) == ("EXE", False)  # a program, not data


def test_scheming_portal_filtered_by_organization(server, fetcher):
    organizations = load("transportdata_be__organization_list.json")
    cambio = load("transportdata_be__package_show_cambio-belgium.json")["result"]
    hud = load("catalog_data_gov__hud_package_dicts.json")
    server.add("/api/3/action/organization_list", lambda request: envelope_reply(organizations))
    serve_search(server, [*hud, cambio])

    found = harvest(server, fetcher, "/api/3/action", organization="cambio-belgium")

    assert [dataset.title for dataset in found] == ["cambio: Stations"]
    search = next(r for r in server.requests if r.path.endswith("package_search"))
    assert search.arg("fq") == "organization:cambio-belgium"
    (stations,) = found
    assert stations.description.startswith("Contains a list of stations")
    assert stations.description_en == stations.description
    assert stations.update_frequency == "other"  # "On occurence"
    assert stations.themes == ("http://publications.europa.eu/resource/authority/data-theme/TRAN",)
    assert stations.temporal_start == date(2020, 3, 11)
    assert stations.spatial == ""
    assert json.loads(stations.extras["spatial"])["type"] == "Polygon"
    assert stations.contact_name == "Ward Docx"
    assert stations.extras["p_tel"] == "+3292423235"
    assert stations.extras["regions_covered"][0] == "http://data.europa.eu/nuts/code/BE1"
    (api,) = stations.resources
    assert (api.url, api.format) == ("https://cwapi.cambio-carsharing.com/pub/stations/BEL", "JSON")


def test_unknown_organization_is_a_clear_error(server, fetcher):
    organizations = load("transportdata_be__organization_list.json")
    server.add("/api/3/action/organization_list", lambda request: envelope_reply(organizations))

    with pytest.raises(HarvestSourceError, match=r"no organization 'gemeente-x'.*autodelen-net"):
        harvest(server, fetcher, organization="gemeente-x")


def test_portal_without_package_search_is_read_with_list_and_show(server, fetcher):
    """An old CKAN without package_search: package_list, then package_show per dataset; a
    dataset package_show cannot read is a gather failure, the others are harvested."""
    not_known = {
        "help": "https://demo.ckan.org/api/3/action/help_show?name=package_search",
        "success": False,
        "error": {"message": "Bad request - Action name not known: package_search"},
    }
    shown = load("demo_ckan_org__package_show_62513382.json")

    def show(request):
        if request.arg("id") == shown["result"]["name"]:
            return envelope_reply(shown)
        missing = {"success": False, "error": {"message": "Not found", "__type": "Not Found Error"}}
        return Reply(404, json.dumps(missing).encode(), {"Content-Type": "application/json"})

    server.add(
        "/api/3/action/package_search",
        lambda request: Reply(400, json.dumps(not_known).encode()),
    )
    server.add(
        "/api/3/action/package_list",
        lambda request: envelope_reply(load("demo_ckan_org__package_list.json")),
    )
    server.add("/api/3/action/package_show", show)

    found = harvest(server, fetcher)

    assert [type(item) for item in found] == [RemoteDataset, GatherFailure, GatherFailure]
    assert found[0].title == "100 Validated Species of Plants"
    assert found[0].resources[0].format == "CSV"
    assert found[1].remote_id == "1617in10-regulation-of-sale-of-overseas-properties-20170426-c"
    assert "Not found" in found[1].message


def test_ckan_error_answer_carries_ckans_message(server, fetcher):
    refused = {
        "success": False,
        "error": {"__type": "Search Query Error", "message": "Search Query is invalid"},
    }
    json_type = {"Content-Type": "application/json"}
    server.add(
        "/api/3/action/package_search",
        lambda request: Reply(409, json.dumps(refused).encode(), json_type),
    )
    with pytest.raises(HarvestSourceError, match=r"CKAN refused package_search .*is invalid"):
        harvest(server, fetcher, fq="tags:(")


def test_success_false_with_status_200(server, fetcher):
    server.add(
        "/api/3/action/package_search",
        lambda request: envelope_reply({"success": False, "error": {"message": "Access denied"}}),
    )
    with pytest.raises(HarvestSourceError, match="Access denied"):
        harvest(server, fetcher)


def test_an_answer_that_is_not_ckan(server, fetcher):
    server.add(
        "/api/3/action/package_search",
        lambda request: Reply(body=b"<html><body>Welcome</body></html>"),
    )
    with pytest.raises(HarvestSourceError, match="did not answer as a CKAN Action API"):
        harvest(server, fetcher)


def test_a_bad_package_is_a_gather_failure_with_its_json(server, fetcher):
    packages = copy.deepcopy(load("demo_ckan_org__package_search.json")["result"]["results"])
    packages[1]["resources"] = 7  # a package no CKAN should send
    serve_search(server, packages)

    found = harvest(server, fetcher)

    assert [type(item) for item in found] == [RemoteDataset, GatherFailure, RemoteDataset]
    assert found[1].remote_id == "9c3036b8-f6ac-4a4e-9036-5a3cc90c3900"
    assert json.loads(found[1].raw)["title"] == "規管海外物業銷售"


def test_a_server_that_ignores_start_does_not_loop(server, fetcher):
    packages = load("demo_ckan_org__package_search.json")["result"]["results"]
    envelope = load("demo_ckan_org__package_search.json")
    envelope["result"]["count"] = 1000
    envelope["result"]["results"] = packages[:2]
    server.add("/api/3/action/package_search", lambda request: envelope_reply(envelope))

    found = harvest(server, fetcher, page_size=2)

    assert len(found) == 2
    assert len(server.requests) == 2


def test_loopback_portal_refused_without_allow_private(server):
    serve_search(server, [])
    with (
        HttpFetcher(allow_private=False) as strict,
        pytest.raises(HarvestSourceError, match="loopback"),
    ):
        list(CkanSource(SourceSpec(url=server.url("/")), strict).gather())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://demo.ckan.org", "https://demo.ckan.org/api/3/action/"),
        ("https://demo.ckan.org/", "https://demo.ckan.org/api/3/action/"),
        ("https://demo.ckan.org/api/3/action", "https://demo.ckan.org/api/3/action/"),
        ("https://demo.ckan.org/api/3/action/", "https://demo.ckan.org/api/3/action/"),
        ("https://data.gov.cn/ckan", "https://data.gov.cn/ckan/api/3/action/"),
        ("https://data.gov.cn/ckan/api/action", "https://data.gov.cn/ckan/api/3/action/"),
    ],
)
def test_action_base(url, expected):
    assert action_base(url) == expected


@pytest.mark.parametrize(
    ("url", "config", "fields"),
    [
        ("https://demo.ckan.org", {}, set()),
        ("https://demo.ckan.org/api/3/action", {"page_size": 50, "organization": "sdb"}, set()),
        ("ftp://demo.ckan.org", {}, {"url"}),
        ("https://demo.ckan.org/api/3/action/package_search", {}, {"url"}),
        ("https://demo.ckan.org/?q=x", {}, {"url"}),
        ("https://demo.ckan.org", {"page_size": 0}, {"config.page_size"}),
        ("https://demo.ckan.org", {"page_size": 5000}, {"config.page_size"}),
        ("https://demo.ckan.org", {"page_size": "100"}, {"config.page_size"}),
        ("https://demo.ckan.org", {"organization": "SDB org"}, {"config.organization"}),
        ("https://demo.ckan.org", {"pagesize": 10}, {"config"}),
    ],
)
def test_check_spec(url, config, fields):
    assert set(CkanSource.check_spec(SourceSpec(url=url, config=config))) == fields


def test_gather_refuses_a_bad_spec(fetcher):
    with pytest.raises(HarvestSourceError, match=r"config\.page_size"):
        list(
            CkanSource(SourceSpec(url="https://x.org", config={"page_size": -1}), fetcher).gather()
        )
