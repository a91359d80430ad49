"""Resource file downloads through HTTP: whole files, HEAD, conditional GET, byte ranges,
old versions, the Chinese file name, the policy, the download counter and its audit, the
search index's download figures, and presigned redirects on S3 (when MinIO is there).

The files are real: a UTF-8 CSV of China's county codes and a GBK CSV of provincial GDP
(tests/fixtures/tabular, see tests/fixtures/SOURCES.md).
"""

import hashlib
import io
import os
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import func, select
from werkzeug.http import http_date, parse_date

from catalog.interfaces import SearchQuery
from catalog.models import AuditEvent, DownloadCount, Resource, ResourceVersion, SearchOutbox
from catalog.search.documents import dataset_document
from catalog.services.downloads import count_download
from catalog.services.resources import ResourceValues, add_resource, object_key
from catalog.services.search import index_pending
from tests.factories import SYSTEM, bearer, make_dataset, make_department, make_user, token_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tabular"
AREAS = (FIXTURES / "nbs_division_codes_2023__areas.csv").read_bytes()
GDP_GBK = (FIXTURES / "nbs_province_annual__gdp__gbk.csv").read_bytes()
NAME = "2023年统计用区划代码（区县）"
S3_ENDPOINT_URL = os.environ.get("OPENDATA_TEST_S3_ENDPOINT_URL")
OPENSEARCH_URL = os.environ.get("OPENDATA_TEST_OPENSEARCH_URL")


def _add_file(session, store, dataset, name=NAME, payload=AREAS, fields=(), media="text/csv"):
    return add_resource(
        session,
        SYSTEM,
        store,
        dataset.slug,
        ResourceValues(name=name, format="CSV", media_type=media, fields=list(fields)),
        io.BytesIO(payload),
        "areas.csv",
    )


def _new_version(session, store, resource_id: str, payload: bytes, media_type: str) -> None:
    """A replacement as a harvest writes it (harvesters.resource_sync): the new file under
    its version's key, the resource pointing at it, a ResourceVersion row beside the old."""
    resource = session.get(Resource, resource_id)
    version = resource.version + 1
    stored = store.put(
        object_key(resource.dataset, resource.id, version, "gdp.csv"),
        io.BytesIO(payload),
        media_type,
    )
    resource.storage_key, resource.size, resource.sha256 = stored.key, stored.size, stored.sha256
    resource.version, resource.media_type = version, media_type
    session.add(
        ResourceVersion(
            resource_id=resource.id,
            version=version,
            storage_key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            media_type=media_type,
        )
    )
    session.commit()


@pytest.fixture
def world(session, backends):
    department = make_department(session, slug="stats", name="佛山市禅城区统计局")
    steward = make_user(session, department=department, role="editor")
    datasets = {
        kind: make_dataset(
            session, department, slug=f"codes-{kind}", open_type=open_type, share_type="not_shared"
        )
        for kind, open_type in (
            ("open", "unconditional"),
            ("conditional", "conditional"),
            ("hidden", "not_open"),
        )
    }
    resources = {kind: _add_file(session, backends.object_store, d) for kind, d in datasets.items()}
    link = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        datasets["open"].slug,
        ResourceValues(name="外部链接", url="https://www.stats.gov.cn/"),
    )
    sensitive = _add_file(
        session,
        backends.object_store,
        datasets["open"],
        name="联系人名册",
        fields=[{"name": "phone", "type": "text", "title": "电话", "sensitive": True}],
    )

    def url(kind: str = "open", resource=None, tail: str = "download") -> str:
        resource = resource or resources[kind]
        return f"/api/v1/datasets/{datasets[kind].slug}/resources/{resource.id}/{tail}"

    return SimpleNamespace(
        datasets=datasets,
        resources=resources,
        link=link,
        sensitive=sensitive,
        url=url,
        owner=bearer(token_for(session, steward)),
    )


def _downloads(backends, resource_id: str) -> int:
    with backends.sessions() as fresh:
        total = fresh.scalar(
            select(func.sum(DownloadCount.count)).where(DownloadCount.resource_id == resource_id)
        )
    return total or 0


def _download_events(backends, resource_id: str) -> list[AuditEvent]:
    with backends.sessions() as fresh:
        events = fresh.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "resource.download", AuditEvent.object_id == resource_id)
            .order_by(AuditEvent.id)
        ).all()
        fresh.expunge_all()
    return list(events)


def _file_name(response) -> str:
    return unquote(response.headers["Content-Disposition"].split("filename*=UTF-8''")[1])


# -- whole files and HEAD --------------------------------------------------------------------


def test_a_file_downloads_whole_with_its_validators_and_chinese_name(client, world):
    response = client.get(world.url())
    assert response.status_code == 200
    assert response.data == AREAS
    headers = response.headers
    assert headers["Content-Length"] == str(len(AREAS))
    assert headers["ETag"] == f'"{hashlib.sha256(AREAS).hexdigest()}"'
    assert parse_date(headers["Last-Modified"]) is not None
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "text/csv"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith('attachment; filename="2023')
    assert _file_name(response) == f"{NAME}.csv"


def test_head_sends_the_headers_only_and_counts_nothing(client, backends, world):
    response = client.head(world.url())
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == str(len(AREAS))
    assert response.headers["ETag"] == f'"{hashlib.sha256(AREAS).hexdigest()}"'
    ranged = client.head(world.url(), headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.headers["Content-Length"] == "10"
    assert ranged.headers["Content-Range"] == f"bytes 10-19/{len(AREAS)}"
    assert _downloads(backends, world.resources["open"].id) == 0
    assert _download_events(backends, world.resources["open"].id) == []


# -- conditional requests ----------------------------------------------------------------------


def test_conditional_requests_answer_304_without_counting(client, backends, world):
    first = client.get(world.url())
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    later = http_date(parse_date(modified) + timedelta(hours=1))
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f"W/{etag}"},  # If-None-Match compares weakly
        {"If-None-Match": f'"other", {etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
        {"If-Modified-Since": later},
    ):
        response = client.get(world.url(), headers=headers)
        assert response.status_code == 304, headers
        assert response.data == b""
        assert response.headers["ETag"] == etag
    # If-None-Match wins over If-Modified-Since; an older date means a newer file.
    earlier = http_date(parse_date(modified) - timedelta(days=1))
    for headers in (
        {"If-None-Match": '"other"', "If-Modified-Since": modified},
        {"If-Modified-Since": earlier},
    ):
        assert client.get(world.url(), headers=headers).status_code == 200, headers
    resource_id = world.resources["open"].id
    assert _downloads(backends, resource_id) == 3
    assert len(_download_events(backends, resource_id)) == 3


# -- byte ranges -----------------------------------------------------------------------------


SIZE = len(AREAS)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=0-0", 0, 1),
        ("bytes=100-", 100, SIZE),
        ("bytes=-50", SIZE - 50, SIZE),
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE),
        ("bytes=10-999999999", 10, SIZE),  # past the end: cut there
        ("bytes=-999999999", 0, SIZE),  # a suffix longer than the file: all of it
    ],
)
def test_a_single_range_answers_206(client, world, header, start, end):
    response = client.get(world.url(), headers={"Range": header})
    assert response.status_code == 206
    assert response.data == AREAS[start:end]
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert response.headers["Content-Length"] == str(end - start)


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", "bytes=999999999-1000000000"])
def test_a_range_past_the_end_answers_416(client, backends, world, header):
    response = client.get(world.url(), headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    assert response.get_json()["detail"]
    assert _downloads(backends, world.resources["open"].id) == 0


@pytest.mark.parametrize(
    "header",
    ["bytes=0-1,5-6", "bytes=5-2", "bytes=abc", "items=0-1", "bytes=-0"],
    ids=["several", "backwards", "garbage", "other-unit", "empty-suffix"],
)
def test_ranges_that_cannot_be_served_as_one_get_the_whole_file(client, world, header):
    response = client.get(world.url(), headers={"Range": header})
    assert response.status_code == 200
    assert response.data == AREAS
    assert "Content-Range" not in response.headers


def test_if_range_serves_the_range_only_of_the_same_file(client, world):
    first = client.head(world.url())
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    older = http_date(parse_date(modified) - timedelta(seconds=1))
    for if_range, status in (
        (etag, 206),
        (modified, 206),
        ('"a-previous-file"', 200),
        (f"W/{etag}", 200),  # If-Range needs a strong match
        (older, 200),
    ):
        response = client.get(world.url(), headers={"Range": "bytes=0-9", "If-Range": if_range})
        assert response.status_code == status, if_range
        assert response.data == (AREAS[:10] if status == 206 else AREAS)


# -- the counter and the audit -----------------------------------------------------------------


def test_downloads_count_once_from_byte_zero_and_every_one_is_audited(client, backends, world):
    resource_id = world.resources["open"].id
    client.get(world.url())
    client.get(world.url(), headers={"Range": "bytes=0-999"})  # a resumable download starts
    client.get(world.url(), headers={"Range": "bytes=1000-"})  # ... and goes on: not counted
    client.get(world.url(), headers=world.owner)
    assert _downloads(backends, resource_id) == 3
    events = _download_events(backends, resource_id)
    assert [e.after.get("range") for e in events] == [None, [0, 1000], [1000, SIZE], None]
    assert all(e.after["dataset"] == "codes-open" and e.after["version"] == 1 for e in events)
    anonymous, owner = events[0], events[-1]
    assert (anonymous.actor_id, anonymous.actor_name) == (None, "")
    assert owner.actor_id is not None
    # No client address is recorded, raw or otherwise.
    assert all(set(e.after) <= {"dataset", "version", "via", "range"} for e in events)
    assert "127.0.0.1" not in repr([e.after for e in events])


def test_the_counter_loses_nothing_under_concurrent_downloads(session, backends, world):
    resource = world.resources["open"]
    dataset_id = world.datasets["open"].id
    threads, each = 6, 20
    outbox_before = session.scalar(select(func.count(SearchOutbox.id)))
    failures = []

    def download_many():
        try:
            for _ in range(each):
                with backends.sessions() as own:
                    count_download(own, resource.id, dataset_id)
                    own.commit()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    workers = [threading.Thread(target=download_many) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert _downloads(backends, resource.id) == threads * each
    # The search index is asked again on the 1st, 2nd, 4th … 64th download of the day.
    outbox_after = session.scalar(select(func.count(SearchOutbox.id)))
    assert outbox_after - outbox_before == len([1, 2, 4, 8, 16, 32, 64])


def test_a_missing_object_is_404_and_not_counted(client, backends, world):
    resource = world.resources["open"]
    backends.object_store.delete(resource.storage_key)
    response = client.get(world.url())
    assert response.status_code == 404
    assert "missing" in response.get_json()["detail"]
    assert _downloads(backends, resource.id) == 0
    assert _download_events(backends, resource.id) == []


# -- the policy ----------------------------------------------------------------------------------


def test_conditional_data_is_403_with_how_to_apply_and_hidden_data_404(client, world):
    refused = client.get(world.url("conditional"))
    assert refused.status_code == 403
    assert "apply" in refused.get_json()["detail"]
    assert "申请" in refused.get_json()["detail"]
    assert client.get(world.url("hidden")).status_code == 404
    assert client.head(world.url("hidden")).status_code == 404
    assert client.get(world.url("open", SimpleNamespace(id="nope"))).status_code == 404
    assert client.get(world.url("open", world.link)).status_code == 404
    # The owning department reads both.
    assert client.get(world.url("conditional"), headers=world.owner).data == AREAS
    assert client.get(world.url("hidden"), headers=world.owner).data == AREAS


def test_files_with_sensitive_fields_reach_outsiders_only_masked(client, world):
    current = client.get(world.url(resource=world.sensitive))
    assert current.status_code == 303
    assert "/records/export?format=csv" in current.headers["Location"]
    old = client.get(world.url(resource=world.sensitive, tail="versions/1/download"))
    assert old.status_code == 403
    assert "敏感" in old.get_json()["detail"]
    owner = client.get(
        world.url(resource=world.sensitive, tail="versions/1/download"), headers=world.owner
    )
    assert owner.data == AREAS


# -- versions --------------------------------------------------------------------------------------


def test_old_versions_stay_listed_and_downloadable(client, session, backends, world):
    resource = world.resources["open"]
    _new_version(session, backends.object_store, resource.id, GDP_GBK, "text/csv; charset=gbk")
    listed = client.get(world.url(tail="versions"))
    assert listed.status_code == 200
    versions = listed.get_json()
    assert [(v["version"], v["current"]) for v in versions] == [(2, True), (1, False)]
    assert [v["sha256"] for v in versions] == [
        hashlib.sha256(GDP_GBK).hexdigest(),
        hashlib.sha256(AREAS).hexdigest(),
    ]
    assert versions[1]["size"] == len(AREAS)
    assert versions[1]["download_url"] == world.url(tail="versions/1/download")
    current = client.get(world.url())
    assert current.data == GDP_GBK
    assert current.headers["Content-Type"] == "text/csv; charset=gbk"  # not relabelled UTF-8
    # An earlier table's columns (and which were sensitive) are not known: outside the
    # owning department it is refused; the department downloads it.
    assert client.get(versions[1]["download_url"]).status_code == 403
    old = client.get(versions[1]["download_url"], headers=world.owner)
    assert old.status_code == 200
    assert old.data == AREAS
    assert old.headers["ETag"] == f'"{hashlib.sha256(AREAS).hexdigest()}"'
    assert _file_name(old) == f"{NAME}_v1.csv"
    ranged = client.get(versions[1]["download_url"], headers={"Range": "bytes=-4", **world.owner})
    assert (ranged.status_code, ranged.data) == (206, AREAS[-4:])
    assert client.get(world.url(tail="versions/3/download")).status_code == 404
    assert client.get(world.url("conditional", tail="versions/1/download")).status_code == 403
    assert client.get(world.url("hidden", tail="versions")).status_code == 404
    events = _download_events(backends, resource.id)
    assert [e.after["version"] for e in events] == [2, 1, 1]


# -- downloads reach the search index's sort=downloads -------------------------------------------


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "opensearch",
            marks=pytest.mark.skipif(
                not OPENSEARCH_URL, reason="OPENDATA_TEST_OPENSEARCH_URL is not set"
            ),
        ),
    ]
)
def catalog_index(request, backends):
    if request.param == "sqlite":
        yield backends.catalog_index
        return
    from catalog.search import catalog_index_from_settings

    settings = SimpleNamespace(
        search_url=OPENSEARCH_URL, search_index_prefix=f"test-{uuid.uuid4().hex[:12]}"
    )
    index = catalog_index_from_settings(settings)
    index.ensure()
    yield index
    index.delete_indices()


def test_downloads_order_the_search_by_downloads(client, session, backends, catalog_index):
    department = make_department(session, slug="edu")
    datasets = [make_dataset(session, department, slug=f"ranked-{n}") for n in range(3)]
    urls = []
    for dataset in datasets:
        resource = _add_file(session, backends.object_store, dataset, payload=b"a,b\n1,2\n")
        urls.append(f"/api/v1/datasets/{dataset.slug}/resources/{resource.id}/download")
    while index_pending(session, catalog_index):
        pass
    for url, times in zip(urls, (0, 3, 1), strict=True):
        for _ in range(times):
            assert client.get(url).status_code == 200
    # Downloads 1 and 2 of ranked-1 and download 1 of ranked-2 asked for reindexing.
    pending = session.scalars(select(SearchOutbox.dataset_id)).all()
    assert sorted(pending) == sorted([datasets[1].id, datasets[1].id, datasets[2].id])
    while index_pending(session, catalog_index):
        pass
    assert [dataset_document(d)["downloads"] for d in datasets] == [0, 3, 1]
    result = catalog_index.search(SearchQuery(sort="downloads", labels=None, limit=10))
    assert [hit.id for hit in result.hits] == [datasets[1].id, datasets[2].id, datasets[0].id]


# -- S3: streaming from the store, and presigned redirects -----------------------------------------


def test_s3_files_stream_through_the_portal_with_ranges(session, backends, s3_client, s3_store):
    department = make_department(session, slug="edu")
    dataset = make_dataset(session, department, slug="codes")
    resource = _add_file(session, s3_store, dataset)
    url = f"/api/v1/datasets/{dataset.slug}/resources/{resource.id}/download"
    assert s3_client.get(url).data == AREAS
    ranged = s3_client.get(url, headers={"Range": "bytes=100-199"})
    assert (ranged.status_code, ranged.data) == (206, AREAS[100:200])
    assert _downloads(backends, resource.id) == 1


def test_s3_redirects_to_a_presigned_link_when_asked(session, backends, s3_client, s3_store):
    department = make_department(session, slug="edu")
    dataset = make_dataset(session, department, slug="codes")
    resource = _add_file(session, s3_store, dataset)
    url = f"/api/v1/datasets/{dataset.slug}/resources/{resource.id}/download?redirect=true"
    response = s3_client.get(url)
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = response.headers["Location"]
    assert location.startswith(f"{S3_ENDPOINT_URL}/")
    fetched = httpx.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == AREAS
    assert fetched.headers["Content-Type"] == "text/csv"
    assert _file_name(fetched) == f"{NAME}.csv"
    assert _downloads(backends, resource.id) == 1
    assert [e.after["via"] for e in _download_events(backends, resource.id)] == ["presigned"]
    # The policy holds before any link is made.
    hidden = make_dataset(
        session, department, slug="hidden", open_type="not_open", share_type="not_shared"
    )
    secret = _add_file(session, s3_store, hidden)
    refused = s3_client.get(
        f"/api/v1/datasets/{hidden.slug}/resources/{secret.id}/download?redirect=true"
    )
    assert refused.status_code == 404


def test_a_redirect_asked_of_a_local_store_streams(client, world):
    response = client.get(world.url() + "?redirect=true")
    assert (response.status_code, response.data) == (200, AREAS)
