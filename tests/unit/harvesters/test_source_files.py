"""The file-URL and folder harvest source types on the real fixtures (tests/fixtures/tabular,
tests/fixtures/geo; see tests/fixtures/SOURCES.md): URLs served from a local HTTP server and
fetched through the real HttpFetcher, folders in a temporary harvest folder root."""

import hashlib
import os
import shutil
from email.utils import formatdate
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import quote

import pytest

from harvesters.fetch import HttpFetcher
from harvesters.interfaces import GatherFailure, HarvestSourceError, RemoteDataset, SourceSpec
from harvesters.registry import ENTRY_POINT_GROUP
from harvesters.sources.access import configure_folder_roots
from harvesters.sources.files import FileUrlSource, FolderSource, disposition_file_name
from tests.unit.harvesters.http_server import LocalHttpServer, Reply

FIXTURES = Path(__file__).parents[2] / "fixtures"
TABULAR = FIXTURES / "tabular"
GEO = FIXTURES / "geo"
PROVINCES = TABULAR / "nbs_division_codes_2023__provinces.csv"
GDP_GBK = TABULAR / "nbs_province_annual__gdp__gbk.csv"
XLSX = TABULAR / "us_cdo_survey_2015.xlsx"
PCA_JSON = TABULAR / "nbs_division_codes_2023__pca-code.json"
BUS_STOPS = GEO / "shanghai_bus71_stops.geojson"
NOT_A_TABLE = TABULAR / "semic_dcat-ap_3.0.1__bee-population-series-combined__INVALID.ttl"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def gather(source_class, url: str, fetcher=None, **config) -> list:
    fetcher = fetcher or HttpFetcher(allow_private=True)
    return list(source_class(SourceSpec(url, config), fetcher).gather())


def read(resource) -> bytes:
    with resource.opener() as stream:
        return stream.read()


# -- file URL --------------------------------------------------------------------------------


def etag_route(path: Path, etag: str, headers: dict[str, str] | None = None):
    """The fixture's bytes with an ETag, answering 304 to a request that already has it."""

    def route(request) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(body=path.read_bytes(), headers={"ETag": etag, **(headers or {})})

    return route


@pytest.fixture
def server():
    with LocalHttpServer() as running:
        yield running


def registered(kind: str):
    [point] = entry_points(group=ENTRY_POINT_GROUP, name=kind)
    return point.load()


def test_the_url_types_are_registered():
    assert registered("url") is FileUrlSource
    assert registered("folder") is FolderSource
    assert (FileUrlSource.label, FolderSource.label) == ("文件地址", "文件夹")


@pytest.mark.parametrize(
    ("url", "config", "field"),
    [
        ("ftp://data.example/a.csv", {}, "url"),
        ("file:///etc/passwd", {}, "url"),
        ("https:///a.csv", {}, "url"),
        ("https://data.example:port/a.csv", {}, "url"),
        ("https://data.example/a.csv", {"format": "C S V"}, "config.format"),
        ("https://data.example/a.csv", {"title": 7}, "config.title"),
        ("https://data.example/a.csv", {"titel": "人口"}, "config"),
    ],
)
def test_file_url_check_spec_refuses(url, config, field):
    errors = FileUrlSource.check_spec(SourceSpec(url, config))
    assert field in errors, errors


def test_file_url_check_spec_accepts_a_file_url():
    spec = SourceSpec("https://data.example/人口.csv", {"title": "人口", "format": "csv"})
    assert FileUrlSource.check_spec(spec) == {}


@pytest.mark.parametrize(
    ("fixture", "file_format", "media_type"),
    [
        (PROVINCES, "CSV", "text/csv"),
        (XLSX, "XLSX", XLSX_TYPE),
        (PCA_JSON, "JSON", "application/json"),
        (BUS_STOPS, "GEOJSON", "application/geo+json"),
        (NOT_A_TABLE, "TTL", "text/turtle"),
    ],
)
def test_a_file_url_is_one_dataset_with_one_resource(server, fixture, file_format, media_type):
    url = server.url(f"/files/{fixture.name}")
    server.add_file(f"/files/{fixture.name}", fixture)

    [dataset] = gather(FileUrlSource, url)

    assert dataset.remote_id == url
    assert dataset.title == fixture.stem
    [resource] = dataset.resources
    assert (resource.remote_id, resource.url, resource.opener) == (url, url, None)
    assert (resource.format, resource.media_type) == (file_format, media_type)
    assert (resource.name, resource.file_name) == (fixture.name, fixture.name)
    assert resource.store
    assert server.requests == []  # the pipeline fetches the file, conditionally


def test_the_resource_fetches_through_the_fetcher_with_its_etag(server):
    server.add("/gdp.csv", etag_route(GDP_GBK, '"gdp-v1"'))
    [dataset] = gather(FileUrlSource, server.url("/gdp.csv"))
    fetcher = HttpFetcher(allow_private=True)

    with fetcher.stream(dataset.resources[0].url) as answer:
        assert answer.headers["etag"] == '"gdp-v1"'
        assert b"".join(answer.chunks) == GDP_GBK.read_bytes()
    with fetcher.stream(dataset.resources[0].url, etag='"gdp-v1"') as unchanged:
        assert unchanged is None


def test_title_description_and_format_come_from_the_options(server):
    server.add_file("/export.txt", PROVINCES)
    config = {
        "title": "全国省份代码",
        "description": "国家统计局 2023 年统计用区划代码",
        "format": "csv",
    }

    [dataset] = gather(FileUrlSource, server.url("/export.txt"), **config)

    assert (dataset.title, dataset.description) == ("全国省份代码", config["description"])
    assert dataset.resources[0].format == "CSV"
    assert dataset.resources[0].description == config["description"]


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_a_chinese_file_name_in_the_url_is_decoded(server, encoding):
    path = "/data/" + quote("禅城区人口.csv", encoding=encoding)
    server.add_file(path, PROVINCES)

    [dataset] = gather(FileUrlSource, server.url(path))

    assert dataset.title == "禅城区人口"
    assert dataset.resources[0].file_name == "禅城区人口.csv"
    assert dataset.resources[0].format == "CSV"


@pytest.mark.parametrize(
    "disposition",
    [
        "attachment; filename*=UTF-8''%E7%A6%85%E5%9F%8E%E5%8C%BA%E4%BA%BA%E5%8F%A3.csv",
        # filename* wins over the plain name.
        "attachment; filename=\"export.csv\"; filename*=UTF-8''" + quote("禅城区人口.csv"),
        # Raw GBK bytes, as older Chinese servers send them.
        'attachment; filename="' + "禅城区人口.csv".encode("gbk").decode("latin-1") + '"',
        'attachment; filename="%E7%A6%85%E5%9F%8E%E5%8C%BA%E4%BA%BA%E5%8F%A3.csv"',
        'attachment; filename="..\\\\exports\\\\禅城区人口.csv"'.encode().decode("latin-1"),
    ],
)
def test_a_url_without_a_file_name_takes_the_content_disposition_name(server, disposition):
    server.add("/download", etag_route(PROVINCES, '"v1"', {"Content-Disposition": disposition}))

    [dataset] = gather(FileUrlSource, server.url("/download?id=7"))

    assert dataset.title == "禅城区人口"
    assert dataset.resources[0].file_name == "禅城区人口.csv"
    assert dataset.resources[0].url == server.url("/download?id=7")
    assert len(server.requests) == 1


def test_a_url_without_any_name_takes_its_format_from_the_media_type(server):
    server.add(
        "/api/export",
        lambda request: Reply(
            body=b"a,b\n1,2\n", headers={"Content-Type": "text/csv; charset=utf-8"}
        ),
    )

    [dataset] = gather(FileUrlSource, server.url("/api/export"))

    assert dataset.resources[0].file_name == "export.csv"
    assert dataset.resources[0].format == "CSV"


def test_a_format_option_spares_the_request_for_a_name(server):
    [dataset] = gather(FileUrlSource, server.url("/api/export"), format="xlsx")

    assert dataset.resources[0].file_name == "export.xlsx"
    assert dataset.resources[0].format == "XLSX"
    assert server.requests == []


def test_asking_for_a_name_follows_the_address_rule(server):
    with pytest.raises(HarvestSourceError, match="loopback"):
        gather(FileUrlSource, server.url("/download"), fetcher=HttpFetcher())


def test_a_missing_file_without_a_name_fails_the_source(server):
    with pytest.raises(HarvestSourceError, match="404"):
        gather(FileUrlSource, server.url("/download"))


def test_gather_refuses_a_bad_spec():
    with pytest.raises(HarvestSourceError, match="url"):
        gather(FileUrlSource, "gopher://data.example/a.csv")


def test_disposition_without_a_name():
    assert disposition_file_name("inline") == ""
    assert disposition_file_name("attachment; filename=plain.csv") == "plain.csv"


# -- folder ----------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path):
    """A harvest folder root allowed for the test, and no root after it."""
    allowed = tmp_path / "root"
    allowed.mkdir()
    configure_folder_roots(str(allowed))
    yield allowed
    configure_folder_roots("")


@pytest.fixture
def folder(root):
    """A department's folder of real files: tables, one file that is no table, a hidden
    file, an Excel lock file and a sub-folder."""
    data = root / "统计局"
    data.mkdir()
    shutil.copy(PROVINCES, data / "禅城区人口.csv")
    for fixture in (GDP_GBK, XLSX, PCA_JSON, BUS_STOPS, NOT_A_TABLE):
        shutil.copy(fixture, data / fixture.name)
    shutil.copy(PROVINCES, data / ".hidden.csv")
    shutil.copy(XLSX, data / "~$us_cdo_survey_2015.xlsx")
    (data / "2024").mkdir()
    shutil.copy(GDP_GBK, data / "2024" / "gdp.csv")
    return data


def datasets_by_id(items) -> dict[str, RemoteDataset]:
    assert all(isinstance(item, RemoteDataset) for item in items), items
    return {item.remote_id: item for item in items}


def test_a_folder_gives_each_table_as_a_dataset(folder):
    found = datasets_by_id(gather(FolderSource, folder.as_uri()))

    assert list(found) == sorted(
        ["禅城区人口.csv", GDP_GBK.name, XLSX.name, PCA_JSON.name, BUS_STOPS.name]
    )
    chinese = found["禅城区人口.csv"]
    assert chinese.title == "禅城区人口"
    [resource] = chinese.resources
    assert (resource.remote_id, resource.name, resource.file_name) == ("禅城区人口.csv",) * 3
    assert (resource.format, resource.media_type) == ("CSV", "text/csv")
    assert resource.url == (folder / "禅城区人口.csv").as_uri()
    assert resource.size == PROVINCES.stat().st_size
    mtime = (folder / "禅城区人口.csv").stat().st_mtime
    assert resource.last_modified == formatdate(mtime, usegmt=True)
    assert resource.content_hash == sha256(PROVINCES)
    assert read(resource) == PROVINCES.read_bytes()
    assert read(resource) == PROVINCES.read_bytes()  # every opener call reads it whole again
    assert found[XLSX.name].resources[0].format == "XLSX"
    assert found[BUS_STOPS.name].resources[0].format == "GEOJSON"
    assert found[PCA_JSON.name].resources[0].content_hash == sha256(PCA_JSON)


def test_recursive_reads_sub_folders_and_a_pattern_chooses_files(folder):
    recursive = datasets_by_id(gather(FolderSource, folder.as_uri(), recursive=True))
    assert "2024/gdp.csv" in recursive
    assert recursive["2024/gdp.csv"].title == "gdp"

    turtle = datasets_by_id(gather(FolderSource, folder.as_uri(), pattern="*.ttl"))
    assert list(turtle) == [NOT_A_TABLE.name]
    assert turtle[NOT_A_TABLE.name].resources[0].format == "TTL"

    by_year = gather(FolderSource, folder.as_uri(), pattern="2024/*.csv", recursive=True)
    assert [item.remote_id for item in by_year] == ["2024/gdp.csv"]


def test_an_unchanged_file_keeps_its_hash_and_a_changed_one_does_not(folder):
    first = datasets_by_id(gather(FolderSource, folder.as_uri()))
    target = folder / "禅城区人口.csv"
    os.utime(target, (1_000_000_000, 1_000_000_000))  # touched, not changed
    second = datasets_by_id(gather(FolderSource, folder.as_uri()))
    assert {key: item.resources[0].content_hash for key, item in first.items()} == {
        key: item.resources[0].content_hash for key, item in second.items()
    }
    assert first["禅城区人口.csv"].title == second["禅城区人口.csv"].title

    with target.open("ab") as out:
        out.write("440604,禅城区\n".encode())
    third = datasets_by_id(gather(FolderSource, folder.as_uri()))
    assert third["禅城区人口.csv"].resources[0].content_hash == sha256(target)
    assert third["禅城区人口.csv"].resources[0].content_hash != sha256(PROVINCES)
    assert third[GDP_GBK.name].resources[0].content_hash == sha256(GDP_GBK)


def test_a_gbk_file_name_on_disk_reads_as_chinese(root):
    folder = root / "gbk"
    folder.mkdir()
    shutil.copy(PROVINCES, os.path.join(bytes(folder), "人口普查.csv".encode("gbk")))

    [dataset] = gather(FolderSource, folder.as_uri())

    assert dataset.remote_id == "人口普查.csv"
    assert dataset.title == "人口普查"
    assert read(dataset.resources[0]) == PROVINCES.read_bytes()


def test_a_link_out_of_the_root_is_reported_not_read(folder, tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("password\nhunter2\n")
    (folder / "escape.csv").symlink_to(outside)
    (folder / "inside.csv").symlink_to(folder / "禅城区人口.csv")

    items = gather(FolderSource, folder.as_uri())

    failures = [item for item in items if isinstance(item, GatherFailure)]
    assert [failure.remote_id for failure in failures] == ["escape.csv"]
    assert "outside" in failures[0].message
    inside = datasets_by_id([item for item in items if isinstance(item, RemoteDataset)])
    assert inside["inside.csv"].resources[0].content_hash == sha256(PROVINCES)


def test_a_pipe_is_reported_not_waited_for(folder):
    os.mkfifo(folder / "stream.csv")

    items = gather(FolderSource, folder.as_uri())

    [failure] = [item for item in items if isinstance(item, GatherFailure)]
    assert failure.remote_id == "stream.csv"
    assert "regular file" in failure.message


def test_check_spec_accepts_a_folder_inside_a_root(folder):
    assert FolderSource.check_spec(SourceSpec(folder.as_uri(), {"recursive": True})) == {}
    assert FolderSource.check_spec(SourceSpec(f"file://localhost{quote(str(folder))}")) == {}


@pytest.mark.parametrize(
    ("make_url", "fragment"),
    [
        (lambda root, tmp: (tmp / "elsewhere").as_uri(), "not inside"),
        (lambda root, tmp: (root / "missing").as_uri(), "not a folder"),
        (lambda root, tmp: f"file://{root}/../elsewhere", "'..'"),
        (lambda root, tmp: f"https://files.example{root}", "file:///"),
        (lambda root, tmp: f"file://fileserver{root}", "this machine"),
        (lambda root, tmp: (root / "link").as_uri(), "not inside"),
    ],
)
def test_check_spec_refuses_folders_outside_the_roots(root, tmp_path, make_url, fragment):
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")

    errors = FolderSource.check_spec(SourceSpec(make_url(root, tmp_path)))

    assert fragment in errors["url"][0]


def test_no_folder_is_allowed_until_the_portal_names_roots(tmp_path):
    errors = FolderSource.check_spec(SourceSpec(tmp_path.as_uri()))
    assert "harvest_folder_roots" in errors["url"][0]


def test_folder_options_are_checked(folder):
    errors = FolderSource.check_spec(SourceSpec(folder.as_uri(), {"recursive": "yes"}))
    assert list(errors) == ["config.recursive"]


def test_gather_checks_the_roots_again(folder, tmp_path):
    spec = SourceSpec(folder.as_uri())
    assert FolderSource.check_spec(spec) == {}
    configure_folder_roots(str(tmp_path / "other"))

    with pytest.raises(HarvestSourceError, match="not inside"):
        list(FolderSource(spec, HttpFetcher()).gather())


def test_a_relative_root_is_refused():
    with pytest.raises(ValueError, match="absolute"):
        configure_folder_roots("relative/folder")
