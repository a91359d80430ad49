"""The data.json source type, harvesting real published catalogs served by a local server."""

import io
import json
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from harvesters.fetch import HttpFetcher
from harvesters.interfaces import FetchError, GatherFailure, HarvestSourceError, SourceSpec
from harvesters.registry import ENTRY_POINT_GROUP
from harvesters.sources.datajson import DataJsonSource, stream_datasets
from tests.unit.harvesters.http_server import LocalHttpServer, Reply

FIXTURES = Path(__file__).parents[2] / "fixtures" / "datajson"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server():
    with LocalHttpServer() as running:
        yield running


@pytest.fixture
def fetcher():
    with HttpFetcher(allow_private=True, timeout=5) as local:
        yield local


def harvest(server, fetcher, name: str, body: bytes | None = None, **config) -> list:
    content = body if body is not None else (FIXTURES / name).read_bytes()
    server.add(f"/{name}", lambda request: Reply(body=content, headers=JSON))
    spec = SourceSpec(url=server.url(f"/{name}"), config=config)
    return list(DataJsonSource(spec, fetcher).gather())


def by_id(found: list) -> dict:
    return {dataset.remote_id: dataset for dataset in found}


def test_registered_as_entry_point():
    (point,) = entry_points(group=ENTRY_POINT_GROUP, name="datajson")
    assert point.load() is DataJsonSource
    assert DataJsonSource.label == "data.json 目录"


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("cftc_gov__data.json", 7),
        ("data_ny_gov__data_excerpt.json", 1),
        ("datos_jus_gob_ar__data.json", 16),
        ("phila_gov__data.json", 402),
        ("pod_v1.1__catalog-sample.json", 3),
        ("usda_gov__data_excerpt.json", 3),
    ],
)
def test_every_fixture_harvests_completely(server, fetcher, name, count):
    found = harvest(server, fetcher, name)
    assert len(found) == count
    assert not [item for item in found if isinstance(item, GatherFailure)]
    assert len({dataset.remote_id for dataset in found}) == count
    published = json.loads((FIXTURES / name).read_text(encoding="utf-8"))["dataset"]
    assert [dataset.title for dataset in found] == [entry["title"] for entry in published]


def test_project_open_data_sample(server, fetcher):
    found = by_id(harvest(server, fetcher, "pod_v1.1__catalog-sample.json"))
    widgets = found["http://dx.doi.org/10.7927/H45X26V8"]
    assert widgets.title == "U.S. Widget Manufacturing Statistics"
    assert widgets.description.startswith("This dataset provides national statistics")
    assert widgets.tags == ("widget", "manufacturing", "factory")
    assert widgets.modified == datetime(2011, 11, 19, 12, 0, tzinfo=UTC)
    assert (widgets.contact_name, widgets.contact_email) == ("Jane Doe", "jane.doe@agency.gov")
    assert widgets.extras["publisher"] == "Widget Services"
    assert widgets.extras["accessLevel"] == "public"
    assert widgets.extras["bureauCode"] == ["018:10"]
    resources = [(r.url, r.format, r.store) for r in widgets.resources]
    assert resources == [
        ("https://data.agency.gov/datasets/widgets-statistics/widgets.csv", "CSV", True),
        ("https://data.agency.gov/datasets/widgets-statistics/widgets-all.zip", "ZIP", True),
        ("http://www.agency.gov/feeds/widgets-all.json", "JSON", True),
        ("https://data.agency.gov/api/widgets-statistics/", "", False),  # accessURL: a link
    ]
    assert json.loads(widgets.raw)["identifier"] == "http://dx.doi.org/10.7927/H45X26V8"


def test_modified_as_a_repeat_is_the_update_frequency(server, fetcher):
    found = by_id(harvest(server, fetcher, "cftc_gov__data.json"))
    traders = found["cftc-dc1"]
    assert traders.title == "Commitment of Traders"
    assert (traders.modified, traders.update_frequency) == (None, "weekly")  # "R/P1W"
    assert traders.extras["modified"] == "R/P1W"
    assert traders.spatial == "United States"
    assert (traders.contact_name, traders.contact_email) == ("Harold W. Hild", "hhild@CFTC.GOV")
    (link,) = traders.resources
    assert link.url == "https://www.cftc.gov/MarketReports/CommitmentsofTraders/index.htm"
    assert link.store is False
    assert found["cftc-dc2"].update_frequency == "monthly"  # "R/P1M"
    dated = [d for d in found.values() if d.modified is not None]
    assert dated and all(d.modified.tzinfo is UTC for d in dated)


def test_argentine_catalog_frequencies_and_distributions(server, fetcher):
    found = harvest(server, fetcher, "datos_jus_gob_ar__data.json")
    infoleg = by_id(found)["d9a963ea-8b1d-4ca3-9dd9-07a4773e8c23"]
    assert infoleg.title == "Base de datos legislativos Infoleg"
    assert infoleg.themes == ("informacion-juridica",)
    assert infoleg.issued == date(2016, 9, 5)
    assert infoleg.modified == datetime(2016, 12, 19, 18, 19, 32, 496552, tzinfo=UTC)
    assert infoleg.license == "Open Data Commons Open Database License (ODbL)"
    assert infoleg.contact_email == "datosabiertos@saij.gob.ar"  # given without mailto:
    assert infoleg.landing_page == (
        "http://datos.jus.gob.ar/dataset/base-de-datos-legislativos-infoleg"
    )
    assert infoleg.extras["superTheme"] == ["JUST"]
    first = infoleg.resources[0]
    assert first.remote_id == "1"  # the distribution's own identifier
    assert first.name == "Base Infoleg de Normativa Nacional"
    assert first.url.endswith("/download/baseinfolegnormativanacional.csv")
    assert (first.format, first.store, first.last_modified) == (
        "CSV",
        True,
        "2016-12-19T12:38:58.700747",
    )
    frequencies = [dataset.update_frequency for dataset in found]
    assert frequencies.count("monthly") == 8  # six R/P1M and two R/P0.5M
    assert frequencies.count("quarterly") == 3
    assert frequencies.count("other") == 3  # "eventual"
    assert frequencies.count("daily") == 1
    assert frequencies.count("annual") == 1


def test_socrata_catalog_download_urls(server, fetcher):
    (mortgages,) = harvest(server, fetcher, "data_ny_gov__data_excerpt.json")
    assert mortgages.remote_id == "https://data.ny.gov/api/views/22ew-dxez"
    assert mortgages.issued == date(2016, 7, 21)
    assert mortgages.themes == ("Economic Development",)
    assert mortgages.landing_page == "https://data.ny.gov/d/22ew-dxez"
    assert [(r.format, r.store) for r in mortgages.resources] == [
        ("CSV", True),
        ("RDF", True),
        ("JSON", True),
        ("XML", True),
    ]
    assert mortgages.resources[0].url == (
        "https://data.ny.gov/api/views/22ew-dxez/rows.csv?accessType=DOWNLOAD"
    )


def test_arcgis_hub_catalog_keeps_resources_apart(server, fetcher):
    found = harvest(server, fetcher, "phila_gov__data.json")
    complaints = by_id(found)["2009-2012-police-advisory-commission-complaints"]
    assert (
        complaints.license
        == "https://metadata.phila.gov/#help/help-faqs/what-are-the-terms-of-use/"
    )
    assert complaints.spatial == "Philadelphia, Pennsylvania"
    formats = [(r.format, r.store) for r in complaints.resources]
    assert formats == [
        ("CSV", True),
        ("SHP", True),
        ("GEOJSON", True),
        ("API", False),
        ("HTML", False),
    ]
    # The CSV and the SHP share one download URL; their ids still differ.
    assert complaints.resources[0].url == complaints.resources[1].url
    assert len({r.remote_id for r in complaints.resources}) == 5
    assert sum(1 for d in found if d.license == "cc-by-4.0") == 1


def test_usda_catalog_extras_spatial_and_licence(server, fetcher):
    found = by_id(harvest(server, fetcher, "usda_gov__data_excerpt.json"))
    logs = found["USDA-DM-002"]
    assert logs.license == "cc0-1.0"
    assert logs.extras["additionalFieldDict"] == {"a": 3}
    assert logs.extras["additionalFieldListWDict"] == [1, 2, {"a": 3}]
    (xls,) = logs.resources
    assert (xls.format, xls.media_type, xls.store) == ("XLS", "application/vnd.ms-excel", True)
    forest = found[
        "http://enterprisecontent-usfs.opendata.arcgis.com/datasets/429428633a5e486289f6111d9cbe7065"
    ]
    assert forest.spatial.startswith("-134.91336517510808,21.082969302706488")
    assert forest.issued == date(2017, 11, 22)


def test_version_1_0_list_form(server, fetcher):
    """v1.0 catalogs are a bare list of datasets: the real sample's datasets served so."""
    published = json.loads((FIXTURES / "pod_v1.1__catalog-sample.json").read_text())
    bare_list = json.dumps(published["dataset"]).encode()
    found = harvest(server, fetcher, "data.json", body=bare_list)
    assert [d.remote_id for d in found] == [d["identifier"] for d in published["dataset"]]


def test_chinese_catalog_with_byte_order_mark(server, fetcher):
    """No published data.json fixture is Chinese: a small hand-written one, UTF-8 with a
    byte order mark as Windows tools save it."""
    catalog = {
        "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
        "dataset": [
            {
                "identifier": "sjj-2024-001",
                "title": "朝阳区统计年鉴 2024",
                "description": "全区人口、经济与社会发展统计数据。",
                "keyword": ["统计", "年鉴"],
                "accrualPeriodicity": "R/P1Y",
                "temporal": "2023-01-01/2023-12-31",
                "contactPoint": {"fn": "区统计局", "hasEmail": "mailto:tjj@example.gov.cn"},
                "distribution": [
                    {"downloadURL": "https://data.example.gov.cn/年鉴.xlsx", "title": "年鉴"}
                ],
            }
        ],
    }
    body = b"\xef\xbb\xbf" + json.dumps(catalog, ensure_ascii=False).encode()
    (yearbook,) = harvest(server, fetcher, "data.json", body=body)
    assert yearbook.title == "朝阳区统计年鉴 2024"
    assert yearbook.tags == ("统计", "年鉴")
    assert yearbook.update_frequency == "annual"
    assert (yearbook.temporal_start, yearbook.temporal_end) == (
        date(2023, 1, 1),
        date(2023, 12, 31),
    )
    assert yearbook.contact_name == "区统计局"
    assert (yearbook.resources[0].format, yearbook.resources[0].store) == ("XLSX", True)
    assert "朝阳区统计年鉴" in yearbook.raw


def test_catalog_is_parsed_incrementally():
    """The first dataset comes out after reading the start of a 1.2 MB catalog, not all."""

    class CountingFile(io.BytesIO):
        consumed = 0

        def read(self, size=-1):
            data = super().read(size)
            self.consumed += len(data)
            return data

    content = (FIXTURES / "phila_gov__data.json").read_bytes()
    catalog = CountingFile(content)
    datasets = stream_datasets(catalog, "http://127.0.0.1/data.json")
    first = next(datasets)
    assert first["identifier"] == "2009-2012-police-advisory-commission-complaints"
    assert catalog.consumed < len(content) // 4
    assert sum(1 for _ in datasets) == 401


def test_a_dataset_without_identifier_is_a_gather_failure(server, fetcher):
    catalog = json.loads((FIXTURES / "pod_v1.1__catalog-sample.json").read_text())
    del catalog["dataset"][1]["identifier"]
    catalog["dataset"].insert(0, "not a dataset")
    found = harvest(server, fetcher, "data.json", body=json.dumps(catalog).encode())
    assert [type(item).__name__ for item in found] == [
        "GatherFailure",
        "RemoteDataset",
        "GatherFailure",
        "RemoteDataset",
    ]
    assert found[2].remote_id == "#3"
    assert "no identifier" in found[2].message
    assert json.loads(found[2].raw)["title"] == catalog["dataset"][2]["title"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!DOCTYPE html><html><body>Maintenance</body></html>", "not a data.json catalog"),
        (b"", "is empty"),
        (b'{"error": "rate limited"}', "without a 'dataset' list"),
        ((FIXTURES / "cftc_gov__data.json").read_bytes()[:3000], "not valid JSON"),
    ],
)
def test_a_document_that_is_no_catalog(server, fetcher, body, message):
    with pytest.raises(HarvestSourceError, match=message):
        harvest(server, fetcher, "data.json", body=body)


def test_missing_catalog_and_size_limit(server):
    with (
        HttpFetcher(allow_private=True, max_file_bytes=100_000) as small,
        pytest.raises(FetchError, match="over the limit of 100000 bytes"),
    ):
        harvest(server, small, "phila_gov__data.json")
    with HttpFetcher(allow_private=True) as local, pytest.raises(FetchError, match="HTTP 404"):
        list(DataJsonSource(SourceSpec(url=server.url("/none.json")), local).gather())


@pytest.mark.parametrize(
    ("url", "config", "fields"),
    [
        ("https://www.cftc.gov/data.json", {}, set()),
        ("file:///etc/data.json", {}, {"url"}),
        ("https://www.cftc.gov/data.json", {"page_size": 3}, {"config"}),
    ],
)
def test_check_spec(url, config, fields):
    assert set(DataJsonSource.check_spec(SourceSpec(url=url, config=config))) == fields
