"""The DCAT source type, harvesting real DCAT-AP catalogs served by a local server."""

import urllib.request
from dataclasses import replace
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from harvesters.fetch import HttpFetcher
from harvesters.interfaces import GatherFailure, HarvestSourceError, RemoteDataset, SourceSpec
from harvesters.registry import ENTRY_POINT_GROUP
from harvesters.sources.dcat import DcatSource
from tests.unit.harvesters.http_server import LocalHttpServer, Reply

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dcat"
MEDIA_TYPES = {
    ".ttl": "text/turtle",
    ".rdf": "application/rdf+xml",
    ".jsonld": "application/ld+json",
}
SEMIC_CONTEXT = (
    "https://semiceu.github.io/uri.semic.eu-generated/DCAT-AP/releases/3.0.0/html/examples/"
    "context.jsonld"
)
PAGING = """
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
<{page}> a hydra:PartialCollectionView ; hydra:next <{next}> .
"""


@pytest.fixture
def server():
    with LocalHttpServer() as running:
        yield running


@pytest.fixture
def fetcher():
    with HttpFetcher(allow_private=True, timeout=5) as local:
        yield local


@pytest.fixture(autouse=True)
def no_fetching_behind_the_fetchers_back(monkeypatch):
    """rdflib fetches JSON-LD contexts with urllib unless they are inlined first: any such
    request here fails the test instead of leaving the harvest's address rules."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"urllib was asked to fetch {args[0]!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)


def serve(server, name: str, path: str | None = None, extra: bytes = b"", media_type=None):
    path = path or f"/{name}"
    body = (FIXTURES / name).read_bytes() + extra
    kind = media_type or MEDIA_TYPES[Path(name).suffix]
    server.add(path, lambda request: Reply(body=body, headers={"Content-Type": kind}))
    return server.url(path)


def harvest(fetcher, url: str, **config) -> list:
    return list(DcatSource(SourceSpec(url=url, config=config), fetcher).gather())


def datasets(found: list) -> dict[str, RemoteDataset]:
    return {item.remote_id: item for item in found if isinstance(item, RemoteDataset)}


def test_registered_as_entry_point():
    (point,) = entry_points(group=ENTRY_POINT_GROUP, name="dcat")
    assert point.load() is DcatSource
    assert DcatSource.label == "DCAT 目录"


@pytest.mark.parametrize(
    ("name", "count", "failures"),
    [
        ("dcat-ap-de_2.0__advanced.ttl", 2, 0),
        ("dcat-ap-de_2.0__advanced.rdf", 2, 0),
        ("dcat-ap-de_2.0__advanced.jsonld", 2, 0),
        ("dcat-ap-es__catalog_hvd.rdf", 1, 0),
        ("dcat-ap-es__catalog_nsip.ttl", 3, 0),
        ("semic_dcat-ap_3.0.1__bee-population-series-modified.ttl", 4, 0),
        ("w3c_dcat3__csiro-dap-examples.ttl", 4, 0),
        ("w3c_dcat3__genoa-busstop.jsonld", 0, 1),
    ],
)
def test_every_fixture_harvests(server, fetcher, name, count, failures):
    found = harvest(fetcher, serve(server, name))
    assert len(datasets(found)) == count
    assert sum(isinstance(item, GatherFailure) for item in found) == failures
    assert server.requests[0].headers["accept"].startswith("text/turtle")


def test_dcat_ap_de_is_the_same_in_every_serialisation(server, fetcher):
    by_format = {
        suffix: datasets(harvest(fetcher, serve(server, f"dcat-ap-de_2.0__advanced{suffix}")))
        for suffix in (".ttl", ".rdf", ".jsonld")
    }
    # The same datasets from each serialisation; only the raw Turtle and orders may differ.
    for suffix in (".rdf", ".jsonld"):
        assert by_format[suffix].keys() == by_format[".ttl"].keys()
        for remote_id, dataset in by_format[".ttl"].items():
            other = by_format[suffix][remote_id]
            assert _without_raw(other) == _without_raw(dataset), suffix

    bathing = by_format[".ttl"][
        "https://example.com/dataset/d4ce4e6e-ab89-44cb-bf5c-33a162c234de#dataset"
    ]
    assert bathing.title == "Badegewässer in Hamburg"
    assert bathing.description.startswith("Historische Daten der Badegewässer")
    assert set(bathing.tags) == {
        "wasserbelastung",
        "gewaesserqualitaet",
        "umweltueberwachung",
        "wasser",
        "badestelle",
    }
    assert bathing.themes == ("http://publications.europa.eu/resource/authority/data-theme/ENVI",)
    assert bathing.license == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"  # from a distribution
    assert (bathing.contact_name, bathing.contact_email) == (
        "Meister, Thomas, Herr",
        "thomas.meister@example.com",
    )
    assert (
        bathing.extras["publisher"] == "Behörde für Umwelt und Energie (BUE), Amt für Umweltschutz"
    )
    csv = next(r for r in bathing.resources if r.format == "CSV")
    assert csv.url == (
        "http://example.com/badegewaesser/Badegewaesser_messwerte_historisch_HH_2004-2013.zip"
    )
    assert csv.name == "Download Historische Messwerte Hamburg, 2004-2013 (CSV)"
    assert (csv.size, csv.store, csv.content_hash) == (
        42702,
        True,
        "a58d35bebefa4972898110b9f5da62bc",
    )
    assert csv.last_modified == "2018-09-04T19:39:09"

    police = by_format[".ttl"][
        "https://example.com/dataset/68180d85-df56-48e0-993e-b9da36103a72#dataset"
    ]
    assert police.update_frequency == "monthly"
    assert police.contact_phone == "+494012345665"
    (gml,) = police.resources
    assert (gml.format, gml.size) == ("GML", 935108)


def _without_raw(dataset: RemoteDataset) -> RemoteDataset:
    return replace(
        dataset,
        raw="",
        tags=tuple(sorted(dataset.tags)),
        resources=tuple(sorted(dataset.resources, key=lambda r: r.remote_id)),
    )


def test_multilingual_catalog_dates_and_temporal(server, fetcher):
    found = datasets(harvest(fetcher, serve(server, "dcat-ap-es__catalog_nsip.ttl")))
    economy = found["http://nsip.dcat-ap-es.ejemplo.org/dataset/datos-economicos-ejemplo"]
    # No Chinese and no untagged title: English is preferred to Spanish.
    assert economy.title == "Example Aggregated Economic Data"
    assert economy.title_en == ""
    assert set(economy.tags) == {"economy", "example", "fictitious", "aggregated"}
    assert economy.license == "cc-by-4.0"  # the EU licence IRI CC_BY_4_0
    assert economy.issued == date(2024, 1, 15)
    assert economy.modified == datetime(2025, 12, 1, tzinfo=UTC)
    assert economy.update_frequency == "annual"
    assert (economy.temporal_start, economy.temporal_end) == (date(2020, 1, 1), date(2024, 12, 31))
    assert economy.extras["identifier"] == "EJEMPLO-ECO-2024-001"
    assert economy.extras["access_rights"] == [
        "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"
    ]
    assert economy.contact_email == "economia@ejemplo.org"
    assert [r.format for r in economy.resources] == ["CSV", "JSON"]
    assert not any(r.store for r in economy.resources)  # only access URLs: links
    frequencies = sorted(d.update_frequency for d in found.values())
    assert frequencies == ["annual", "monthly", "quarterly"]


def test_time_ontology_temporal_and_nested_parts(server, fetcher):
    found = datasets(harvest(fetcher, serve(server, "w3c_dcat3__csiro-dap-examples.ttl")))
    assert sorted(found) == [
        "https://data.csiro.au/dataset/atnf-P366-2003SEPT",
        "https://data.csiro.au/dataset/atnf-P366-2003SEPT_1",
        "https://data.csiro.au/dataset/d33937",
        "https://data.csiro.au/dataset/d33937_1",
    ]
    pulsar = found["https://data.csiro.au/dataset/atnf-P366-2003SEPT_1"]
    assert (pulsar.temporal_start, pulsar.temporal_end) == (date(2003, 9, 1), date(2003, 12, 31))
    assert pulsar.modified == datetime(2017, 7, 30, 8, 55, 55, tzinfo=UTC)
    assert pulsar.license == "cc-by-4.0"
    assert (pulsar.contact_name, pulsar.contact_email) == (
        "Marta Burgay",
        "burgay@oa-cagliari.inaf.it",
    )
    # The files of its dct:hasPart parts are its resources.
    assert [r.name for r in pulsar.resources] == [
        "PH0090_0011.sf",
        "PH0090_0021.sf",
        "PH0090_0031.sf",
    ]
    timescale = found["https://data.csiro.au/dataset/d33937_1"]
    assert [r.format for r in timescale.resources] == ["JSONLD", "NT", "RDF", "TTL"]
    assert timescale.resources[0].size == 698039


def test_dataset_series_and_members(server, fetcher):
    name = "semic_dcat-ap_3.0.1__bee-population-series-modified.ttl"
    found = datasets(harvest(fetcher, serve(server, name)))
    series = found["https://data.gov.gr/id/datasetseries/BeePopulation"]
    assert series.extras["dcat_type"] == "DatasetSeries"
    assert series.extras["series_members"] == [
        "https://data.gov.gr/id/dataset/BeePopulation2000",
        "https://data.gov.gr/id/dataset/BeePopulation2022",
        "https://data.gov.gr/id/dataset/BeePopulation2023",
    ]
    member = found["https://data.gov.gr/id/dataset/BeePopulation2022"]
    assert member.title == "Bee population 2022 in the region of Thessaloniki"
    assert member.extras["in_series"] == ["https://data.gov.gr/id/datasetseries/BeePopulation"]
    assert (member.issued, member.modified) == (date(2022, 3, 1), datetime(2022, 3, 20, tzinfo=UTC))
    assert member.spatial == "https://sws.geonames.org/734077"


def test_remote_json_ld_context_is_fetched_through_the_fetcher(server, fetcher):
    context_url = serve(server, "semic_dcat-ap_3.0.1__examples_context.jsonld", "/ctx.jsonld")
    url = serve(server, "semic_dcat-ap_3.0.1__bee-population-series-modified.jsonld")

    found = harvest(fetcher, url, jsonld_contexts={SEMIC_CONTEXT: context_url})

    assert sorted(d.title for d in datasets(found).values()) == [
        "Bee population",
        "Bee population 2000 in Greece",
        "Bee population 2022 in the region of Thessaloniki",
        "Bee population 2023 in the region of Thessaloniki and Athens",
    ]
    assert [r.path for r in server.requests] == [
        "/semic_dcat-ap_3.0.1__bee-population-series-modified.jsonld",
        "/ctx.jsonld",
    ]


def test_a_dataset_without_title_is_a_gather_failure_with_its_turtle(server, fetcher):
    (failure,) = harvest(fetcher, serve(server, "w3c_dcat3__genoa-busstop.jsonld"))
    assert failure.remote_id == "https://dcat.example.org/genoaBusStopsDataset"
    assert "no dct:title" in failure.message
    assert "genoaBusStopsDataset" in failure.raw and "hasQualityMeasurement" in failure.raw


def test_invalid_turtle_names_the_line(server, fetcher):
    url = serve(server, "semic_dcat-ap_3.0.1__bee-population-series-combined__INVALID.ttl")
    with pytest.raises(HarvestSourceError, match=r"is not valid Turtle: line 32: expected '\.'"):
        harvest(fetcher, url)


def test_broken_rdf_xml_and_json_ld_name_the_place(server, fetcher):
    rdf = (FIXTURES / "dcat-ap-de_2.0__advanced.rdf").read_bytes()[:4000]
    server.add(
        "/cut.rdf", lambda request: Reply(body=rdf, headers={"Content-Type": "application/rdf+xml"})
    )
    with pytest.raises(HarvestSourceError, match=r"is not valid RDF/XML: line \d+, column \d+"):
        harvest(fetcher, server.url("/cut.rdf"))
    jsonld = (FIXTURES / "dcat-ap-de_2.0__advanced.jsonld").read_bytes()[:4000]
    server.add(
        "/cut.jsonld",
        lambda request: Reply(body=jsonld, headers={"Content-Type": "application/ld+json"}),
    )
    with pytest.raises(HarvestSourceError, match=r"is not valid JSON-LD: line \d+, column \d+"):
        harvest(fetcher, server.url("/cut.jsonld"))


def test_format_from_suffix_or_option_when_the_server_does_not_say(server, fetcher):
    generic = "application/octet-stream"
    by_suffix = serve(server, "dcat-ap-de_2.0__advanced.rdf", media_type=generic)
    assert len(datasets(harvest(fetcher, by_suffix))) == 2

    nameless = serve(server, "dcat-ap-de_2.0__advanced.ttl", "/catalog", media_type="text/plain")
    with pytest.raises(HarvestSourceError, match="set the source's format option"):
        harvest(fetcher, nameless)
    assert len(datasets(harvest(fetcher, nameless, format="turtle"))) == 2


def test_hydra_pages_are_followed_to_the_end(server, fetcher):
    pages = [server.url("/catalog"), server.url("/catalog?page=2"), server.url("/catalog?page=3")]
    bodies = {
        "": ("dcat-ap-de_2.0__advanced.ttl", PAGING.format(page=pages[0], next=pages[1])),
        "2": ("dcat-ap-es__catalog_nsip.ttl", PAGING.format(page=pages[1], next=pages[2])),
        "3": ("semic_dcat-ap_3.0.1__bee-population-series-modified.ttl", ""),
    }

    def page(request):
        name, paging = bodies[request.arg("page")]
        body = (FIXTURES / name).read_bytes() + b"\n" + paging.encode()
        return Reply(body=body, headers={"Content-Type": "text/turtle"})

    server.add("/catalog", page)

    found = harvest(fetcher, pages[0])

    assert len(datasets(found)) == 2 + 3 + 4
    assert [r.arg("page") for r in server.requests] == ["", "2", "3"]
    assert found[0].title in ("Badegewässer in Hamburg", "Gebietsgrenzen Polizeikommissariate")


def test_paging_loops_and_page_limit_are_errors(server, fetcher):
    first, second = server.url("/a"), server.url("/b")
    old_style = """
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
<{page}> a hydra:PagedCollection ; hydra:nextPage "{next}" .
"""
    serve(
        server,
        "dcat-ap-de_2.0__advanced.ttl",
        "/a",
        PAGING.format(page=first, next=second).encode(),
    )
    serve(
        server,
        "dcat-ap-de_2.0__advanced.ttl",
        "/b",
        old_style.format(page=second, next=first).encode(),
    )

    found = []
    with pytest.raises(HarvestSourceError, match=r"pages loop back to .*/a"):
        for item in DcatSource(SourceSpec(url=first), fetcher).gather():
            found.append(item)
    assert len(found) == 2  # the datasets repeated on page /b were given once

    with pytest.raises(HarvestSourceError, match="more than 1 pages"):
        harvest(fetcher, first, max_pages=1)


def test_chinese_titles_blank_node_dataset_and_schema_dates(server, fetcher):
    """No DCAT fixture carries Chinese text: a small hand-written catalog does."""
    turtle = """
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix schema: <http://schema.org/> .
@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
<https://data.example.gov.cn/catalog> a dcat:Catalog ; dcat:dataset [
    a dcat:Dataset ;
    dct:identifier "110105-tjj-0001" ;
    dct:title "Statistical yearbook"@en, "朝阳区统计年鉴"@zh-CN, "Jahrbuch"@de ;
    dct:description "全区人口与经济数据。"@zh, "Population and economy."@en ;
    dcat:keyword "统计"@zh, "年鉴"@zh, "statistics"@en ;
    dct:accrualPeriodicity <http://publications.europa.eu/resource/authority/frequency/ANNUAL> ;
    dct:temporal [ a dct:PeriodOfTime ; schema:startDate "2023-01-01" ; schema:endDate "2023-12" ] ;
    dcat:contactPoint [ vcard:fn "区统计局" ; vcard:hasEmail <mailto:tjj@example.gov.cn> ] ;
    dcat:distribution [
        dct:title "年鉴（表格）"@zh ;
        dcat:downloadURL <https://data.example.gov.cn/files/年鉴.xlsx> ;
        dcat:mediaType <http://www.iana.org/assignments/media-types/application/vnd.openxmlformats-officedocument.spreadsheetml.sheet>
    ]
] .
""".encode()
    server.add(
        "/catalog.ttl",
        lambda request: Reply(body=turtle, headers={"Content-Type": "text/turtle; charset=utf-8"}),
    )

    (yearbook,) = harvest(fetcher, server.url("/catalog.ttl"))

    assert yearbook.remote_id == "110105-tjj-0001"  # a blank node: its dct:identifier
    assert (yearbook.title, yearbook.title_en) == ("朝阳区统计年鉴", "Statistical yearbook")
    assert (yearbook.description, yearbook.description_en) == (
        "全区人口与经济数据。",
        "Population and economy.",
    )
    assert yearbook.tags == ("统计", "年鉴")
    assert yearbook.update_frequency == "annual"
    assert (yearbook.temporal_start, yearbook.temporal_end) == (
        date(2023, 1, 1),
        date(2023, 12, 31),
    )
    assert (yearbook.contact_name, yearbook.contact_email) == ("区统计局", "tjj@example.gov.cn")
    (table,) = yearbook.resources
    assert (table.name, table.format, table.store) == ("年鉴（表格）", "XLSX", True)
    assert "朝阳区统计年鉴" in yearbook.raw


@pytest.mark.parametrize(
    ("config", "fields"),
    [
        ({}, set()),
        ({"format": "jsonld", "max_pages": 10}, set()),
        ({"format": "n3"}, {"config.format"}),
        ({"max_pages": 0}, {"config.max_pages"}),
        ({"jsonld_contexts": {SEMIC_CONTEXT: "https://mirror.example.org/ctx.jsonld"}}, set()),
        ({"jsonld_contexts": {SEMIC_CONTEXT: "file:///etc/ctx"}}, {"config.jsonld_contexts"}),
        ({"jsonld_contexts": ["x"]}, {"config.jsonld_contexts"}),
        ({"pages": 3}, {"config"}),
    ],
)
def test_check_spec(config, fields):
    spec = SourceSpec(url="https://data.example.gov.cn/catalog.ttl", config=config)
    assert set(DcatSource.check_spec(spec)) == fields
    assert set(DcatSource.check_spec(SourceSpec(url="ftp://x/catalog.ttl"))) == {"url"}
