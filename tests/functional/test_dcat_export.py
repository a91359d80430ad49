"""The open-metadata documents over HTTP: DCAT-AP in three formats, paged with Hydra, one
dataset at a time, data.json; caching, content negotiation, errors; this portal's own DCAT
and data.json harvesters reading them from a live server, as another instance would; and
the whole demo catalog exported and validated with pySHACL."""

import json
from datetime import date
from urllib.parse import urlsplit

import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS
from sqlalchemy import select

from catalog.dcat_terms import HYDRA
from catalog.models import Dataset, Department
from catalog.policy import Actor, visible_clause
from catalog.services.datasets import DatasetValues, update_dataset
from harvesters.fetch import HttpFetcher
from harvesters.interfaces import RemoteDataset, SourceSpec
from harvesters.sources.datajson import DataJsonSource
from harvesters.sources.dcat import DcatSource
from tests.factories import SYSTEM, make_dataset
from tests.functional.demo_instance import load_demo_instance
from tests.unit.catalog.test_dcat import (
    HIDDEN_SLUGS,
    PUBLIC_SLUGS,
    assert_conforms_to_dcat_ap_3,
    build_catalog,
)

pytest_plugins = ("tests.functional.live_server",)

HOST = "http://localhost/"
MEDIA_TYPES = {
    "ttl": ("text/turtle; charset=utf-8", "turtle"),
    "rdf": ("application/rdf+xml", "xml"),
    "jsonld": ("application/ld+json", "json-ld"),
}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def world(session, backends):
    return build_catalog(session, backends.object_store)


def parse(response, extension: str = "ttl") -> Graph:
    return Graph().parse(data=response.get_data(), format=MEDIA_TYPES[extension][1])


def path_of(url) -> str:
    """The path and query of one of the portal's absolute URLs, for the test client."""
    parts = urlsplit(str(url))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def walk_catalog(client, first: str) -> tuple[list[URIRef], int, Graph]:
    """Follow hydra:next from the first page to the last: the datasets met, the number of
    pages read and all they said."""
    datasets, pages, url, everything = [], 0, first, Graph()
    while url is not None:
        response = client.get(path_of(url))
        assert response.status_code == 200, response.get_data(as_text=True)
        graph = parse(response)
        catalog = URIRef(HOST + "catalog")
        datasets.extend(graph.objects(catalog, DCAT.dataset))
        everything += graph
        url = graph.value(graph.value(catalog, HYDRA.view), HYDRA.next)
        pages += 1
        assert pages < 1000, "the pages loop"
    return datasets, pages, everything


@pytest.mark.parametrize("extension", ["ttl", "rdf", "jsonld"])
def test_the_catalog_in_each_format(client, world, extension):
    response = client.get(f"/catalog.{extension}")
    assert response.status_code == 200
    assert response.content_type == MEDIA_TYPES[extension][0]
    assert "禅城区中小学校名录".encode() in response.get_data()
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    graph = parse(response, extension)
    listed = set(graph.objects(URIRef(HOST + "catalog"), DCAT.dataset))
    assert listed == {URIRef(f"{HOST}dataset/{slug}") for slug in PUBLIC_SLUGS}


def test_the_pages_walk_the_whole_catalog_once(client, session, world):
    department = session.scalar(select(Department).where(Department.slug == "edu"))
    for number in range(4):
        make_dataset(session, department, slug=f"more-{number}")
    datasets, pages, _graph = walk_catalog(client, "/catalog.ttl?page_size=2")
    public = PUBLIC_SLUGS | {f"more-{number}" for number in range(4)}
    assert pages == 4
    assert sorted(datasets) == sorted(URIRef(f"{HOST}dataset/{slug}") for slug in public)
    last = parse(client.get("/catalog.ttl?page=4&page_size=2"))
    view = URIRef(HOST + "catalog.ttl?page=4&page_size=2")
    assert last.value(view, HYDRA.previous) == URIRef(HOST + "catalog.ttl?page=3&page_size=2")
    assert last.value(view, HYDRA.next) is None


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=0", "page"), ("page=x", "page"), ("page_size=1001", "page_size"), ("page=１", "page")],
)
def test_bad_paging_is_refused_clearly(client, world, query, field):
    response = client.get(f"/catalog.ttl?{query}")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_a_page_past_the_end_is_not_found(client, world):
    response = client.get("/catalog.rdf?page=2")
    assert response.status_code == 404
    assert "1 pages" in response.get_json()["detail"]


def test_dataset_documents_answer_as_the_rest_api_does(client, world):
    for slug in PUBLIC_SLUGS:
        for extension, (media_type, _name) in MEDIA_TYPES.items():
            response = client.get(f"/dataset/{slug}.{extension}")
            assert response.status_code == 200, (slug, extension)
            assert response.content_type == media_type
    for slug in HIDDEN_SLUGS | {"no-such-dataset"}:
        response = client.get(f"/dataset/{slug}.ttl")
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"
        assert client.get(f"/api/v1/datasets/{slug}").status_code == 404
    graph = parse(client.get("/dataset/teachers.ttl"))
    rights = graph.value(URIRef(HOST + "dataset/teachers"), DCTERMS.accessRights)
    assert rights == URIRef(
        "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"
    )


def test_a_dataset_iri_answers_by_content_negotiation(client, world):
    response = client.get("/dataset/schools", headers={"Accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.content_type == "application/ld+json"
    assert response.headers["Vary"] == "Accept"
    assert response.headers["Content-Location"] == "/dataset/schools.jsonld"
    assert "禅城区中小学校名录" in response.get_data(as_text=True)
    plain = client.get("/dataset/schools")
    assert plain.content_type == "text/turtle; charset=utf-8"
    browser = client.get("/dataset/schools", headers={"Accept": BROWSER_ACCEPT})
    assert (browser.status_code, browser.headers["Location"]) == (303, "/datasets/schools")
    assert client.get("/dataset/draft", headers={"Accept": "text/turtle"}).status_code == 404


def test_the_catalog_answers_by_content_negotiation(client, world):
    response = client.get("/catalog?page_size=2", headers={"Accept": "application/rdf+xml"})
    assert response.status_code == 200
    assert response.content_type == "application/rdf+xml"
    assert response.headers["Content-Location"] == "/catalog.rdf?page=1&page_size=2"
    browser = client.get("/catalog", headers={"Accept": BROWSER_ACCEPT})
    assert (browser.status_code, browser.headers["Location"]) == (303, "/datasets")
    refused = client.get("/catalog", headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert refused.content_type == "application/problem+json"


@pytest.mark.parametrize("path", ["/catalog.ttl", "/dataset/schools.rdf", "/data.json"])
def test_conditional_requests_and_changes(client, session, world, path):
    first = client.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    update_dataset(session, SYSTEM, "schools", DatasetValues(title="禅城区中小学校名录（更新）"))
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert again.headers["ETag"] != etag
    assert "禅城区中小学校名录（更新）" in again.get_data(as_text=True)


def test_a_hidden_change_keeps_the_catalog_cached(client, session, world):
    etag = client.get("/catalog.ttl").headers["ETag"]
    update_dataset(session, SYSTEM, "draft", DatasetValues(title="草稿（修改）"))
    assert client.get("/catalog.ttl", headers={"If-None-Match": etag}).status_code == 304


def test_data_json_streams_the_public_catalog(client, backends, world):
    connections = backends.engine.pool.checkedout()
    response = client.get("/data.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.is_streamed
    text = response.get_data(as_text=True)
    response.close()
    # The stream's database session ended with it.
    assert backends.engine.pool.checkedout() == connections
    assert "禅城区中小学校名录" in text and "\\u" not in text
    document = json.loads(text)
    identifiers = {entry["identifier"] for entry in document["dataset"]}
    assert identifiers == {f"{HOST}dataset/{slug}" for slug in PUBLIC_SLUGS}


def test_the_home_page_points_to_the_catalog_documents(client, world):
    page = client.get("/").get_data(as_text=True)
    for href, media_type in (
        ("/catalog.ttl", "text/turtle"),
        ("/catalog.jsonld", "application/ld+json"),
        ("/data.json", "application/json"),
    ):
        assert f'<link rel="alternate" type="{media_type}" href="{href}"' in page


@pytest.mark.parametrize(
    ("source_type", "path"),
    [
        (DcatSource, "/catalog.ttl?page_size=2"),
        (DcatSource, "/catalog.rdf?page_size=2"),
        (DcatSource, "/catalog.jsonld?page_size=2"),
        (DataJsonSource, "/data.json"),
    ],
)
def test_another_portal_harvests_the_export(live_server, world, source_type, path):
    """This portal's own harvesters, over HTTP, as another instance would run them."""
    with HttpFetcher(allow_private=True, timeout=10) as fetcher:
        found = list(source_type(SourceSpec(url=live_server + path), fetcher).gather())
    datasets = {item.remote_id: item for item in found if isinstance(item, RemoteDataset)}
    assert len(found) == len(datasets)
    assert set(datasets) == {f"{live_server}/dataset/{slug}" for slug in PUBLIC_SLUGS}
    schools = datasets[f"{live_server}/dataset/schools"]
    assert schools.title == "禅城区中小学校名录"
    assert schools.update_frequency == "annual"
    assert (schools.temporal_start, schools.temporal_end) == (date(2020, 1, 1), date(2022, 12, 31))
    assert schools.contact_email == "ccjyj@chancheng.gov.cn"
    assert sorted(schools.tags) == ["名录", "学校"]
    downloads = {r.name: r.url for r in schools.resources}
    assert downloads["学校名录"].startswith(f"{live_server}/api/v1/datasets/schools/resources/")
    teachers = datasets[f"{live_server}/dataset/teachers"]
    assert [r.url for r in teachers.resources] == [f"{live_server}/datasets/teachers"]


# --- The demo catalog ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo catalog on SQLite, loaded once, with an app to read it through."""
    demo = load_demo_instance(tmp_path_factory.mktemp("demo"), SYSTEM)
    with demo.backends.sessions() as session:
        demo.public = set(
            session.scalars(select(Dataset.slug).where(visible_clause(Actor.anonymous(), Dataset)))
        )
    yield demo
    demo.backends.engine.dispose()


def test_the_demo_catalog_exports_whole_and_conforms(demo):
    datasets, pages, everything = walk_catalog(demo.client, "/catalog.ttl?page_size=100")
    assert len(demo.public) > 200
    assert pages == -(-len(demo.public) // 100)
    assert sorted(datasets) == sorted(URIRef(f"{HOST}dataset/{slug}") for slug in demo.public)
    assert_conforms_to_dcat_ap_3(everything)

    document = json.loads(demo.client.get("/data.json").get_data())
    identifiers = [entry["identifier"] for entry in document["dataset"]]
    assert sorted(identifiers) == sorted(str(dataset) for dataset in datasets)
