"""Steward uploads through the REST API: stage a file, read the proposal, confirm it as a
new resource or as a new version (the old one still downloadable), change a resource's
fields; bad uploads (a wrong checksum, too big, empty, ragged rows, not text, not a table,
a program) and refused callers change nothing: no resource, version, object or record.
Large files on S3 go straight to MinIO in presigned parts (when MinIO is there).

The files are real (tests/fixtures/tabular, see tests/fixtures/SOURCES.md): China's county
codes as UTF-8 CSV, provincial GDP as GBK CSV, and a published Turtle file that is no table.
"""

import base64
import dataclasses
import hashlib
import io
import os
import tracemalloc
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select

from catalog.interfaces import RecordQuery
from catalog.models import AuditEvent, Resource, ResourceVersion
from catalog.records.sql import SqlRecordStore
from catalog.services.resources import ResourceValues, add_resource
from catalog.services.uploads import remove_stale_uploads
from tests.factories import SYSTEM, bearer, make_dataset, make_department, make_user, token_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tabular"
AREAS = (FIXTURES / "nbs_division_codes_2023__areas.csv").read_bytes()
AREA_ROWS = AREAS.count(b"\n") - 1
GDP_GBK = (FIXTURES / "nbs_province_annual__gdp__gbk.csv").read_bytes()
NOT_A_TABLE = FIXTURES / "semic_dcat-ap_3.0.1__bee-population-series-combined__INVALID.ttl"
RAGGED = (
    "学校,街道,学生人数\n"
    "祖庙小学,祖庙街道,812\n"
    "石湾中学,石湾镇街道\n"  # line 3: a value short
    "张槎小学,张槎街道,640\n"
    "南庄中学,南庄镇,1200,多余\n"  # line 5: one too many
    "澜石小学,澜石街道,455\n"
).encode()
# The smallest PDF a reader opens: one empty page (PDF 1.4, hand-written).
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
MiB = 1024 * 1024


@pytest.fixture
def world(session, backends):
    department = make_department(session, slug="stats", name="佛山市禅城区统计局")
    other = make_department(session, slug="edu", name="佛山市禅城区教育局")
    steward = make_user(session, name="steward", department=department, role="editor")
    second = make_user(session, name="second", department=department, role="admin")
    member = make_user(session, name="member", department=department, role="member")
    outsider = make_user(session, name="outsider", department=other, role="editor")
    codes = make_dataset(session, department, slug="codes", title="统计用区划代码")
    hidden = make_dataset(
        session, department, slug="hidden", open_type="not_open", share_type="not_shared"
    )
    return SimpleNamespace(
        dataset=codes,
        hidden=hidden,
        steward=bearer(token_for(session, steward)),
        second=bearer(token_for(session, second)),
        member=bearer(token_for(session, member)),
        outsider=bearer(token_for(session, outsider)),
        read_only=bearer(token_for(session, steward, scopes=frozenset({"read"}))),
    )


def stage(client, headers, payload: bytes, file_name: str, slug="codes", extra=None, **params):
    extra = extra or {}
    return client.post(
        f"/api/v1/datasets/{slug}/uploads",
        query_string={"file_name": file_name, **params},
        data=payload,
        content_type=params.pop("content_type", "application/octet-stream"),
        headers={**headers, **extra},
    )


def confirm(client, headers, token: str, resource_id: str | None = None, slug="codes", **body):
    url = f"/api/v1/datasets/{slug}/resources"
    if resource_id is not None:
        url += f"/{resource_id}/versions"
    return client.post(url, json={"token": token, **body}, headers=headers)


def stored_files(backends) -> list[str]:
    """Every file in the object store, temporary and staged ones included."""
    root = backends.object_store.root
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def state(backends) -> dict:
    """All that an upload may change: resources, versions, objects, records, events."""
    with backends.sessions() as fresh:
        resources = [
            (r.id, r.name, r.version, r.storage_key, r.sha256, r.fields, r.row_count)
            for r in fresh.scalars(select(Resource).order_by(Resource.id))
        ]
        versions = [
            (v.resource_id, v.version, v.storage_key, v.sha256)
            for v in fresh.scalars(select(ResourceVersion).order_by(ResourceVersion.version))
        ]
        events = fresh.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    store = backends.record_store
    records = {
        rid: (
            store.query(rid, RecordQuery(limit=0)).total,
            [(f.name, f.type, f.title, f.sensitive) for f in store.fields(rid)],
        )
        for rid, *_ in resources
        if store.exists(rid)
    }
    return {
        "resources": resources,
        "versions": versions,
        "files": stored_files(backends),
        "records": records,
        "events": events,
    }


def assert_problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    text = body["detail"] + " " + str(body.get("errors", ""))
    for word in words:
        assert word in text, text
    return body


# -- the happy path: stage, confirm, replace ---------------------------------------------------


def test_a_table_is_staged_confirmed_and_replaced_keeping_the_old_version(client, backends, world):
    before = state(backends)
    staged = stage(client, world.steward, AREAS, "2023年区划代码.csv")
    assert staged.status_code == 201, staged.get_data(as_text=True)
    proposal = staged.get_json()
    assert proposal["tabular"] is True
    assert (proposal["format"], proposal["size"]) == ("CSV", len(AREAS))
    assert proposal["sha256"] == hashlib.sha256(AREAS).hexdigest()
    assert proposal["media_type"] == "text/csv; charset=utf-8"
    table = proposal["table"]
    assert (table["encoding"], table["delimiter"], table["header_line"]) == ("utf-8", ",", 1)
    assert table["row_count"] == AREA_ROWS and table["rows_failed"] == 0
    assert [f["name"] for f in table["fields"]] == ["code", "name", "city_code", "province_code"]
    assert [f["type"] for f in table["fields"]] == ["text", "text", "text", "text"]
    assert proposal["preview"][0] == {
        "_id": 1,
        "code": "110101",
        "name": "东城区",
        "city_code": "1101",
        "province_code": "11",
    }
    assert len(proposal["preview"]) == 10
    # Staging changes nothing but the staged object.
    after_staging = state(backends)
    assert after_staging | {"files": before["files"]} == before
    assert [f.split("/")[:3] for f in after_staging["files"]] == [["uploads", "stats", "codes"]]

    fields = [
        {"name": "code", "title": "区划代码", "type": "text"},
        {"name": "name", "title": "名称", "type": "text", "sensitive": True},
        {"name": "city_code", "title": "地级市代码", "type": "integer"},
    ]
    created = confirm(client, world.steward, proposal["token"], fields=fields, name="区县代码")
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    resource = body["resource"]
    assert (body["version"], resource["name"], resource["format"]) == (1, "区县代码", "CSV")
    assert resource["fields"][1] == {
        "name": "name",
        "title": "名称",
        "type": "text",
        "sensitive": True,
    }
    assert resource["row_count"] == AREA_ROWS == body["records"]["row_count"]
    rid = resource["id"]
    assert backends.record_store.fields(rid)[2].type == "integer"
    rows = backends.record_store.query(rid, RecordQuery(limit=2)).rows
    assert rows[0] == {"_id": 1, "code": "110101", "name": "东城区", "city_code": 1101}
    assert not [f for f in stored_files(backends) if f.startswith("uploads/")]

    # The same token cannot be used twice: its object is gone.
    again = confirm(client, world.steward, proposal["token"])
    assert_problem(again, 422, "gone")

    replacement = stage(client, world.steward, GDP_GBK, "分省GDP.csv").get_json()
    assert replacement["table"]["encoding"] == "gb18030"
    assert replacement["table"]["lines_skipped"] > 0  # the bureau's notes above and below
    replaced = confirm(client, world.steward, replacement["token"], rid)
    assert replaced.status_code == 201, replaced.get_data(as_text=True)
    assert replaced.get_json()["version"] == 2
    assert replaced.get_json()["resource"]["name"] == "区县代码"  # kept
    base = f"/api/v1/datasets/codes/resources/{rid}"
    shown = client.get(base)  # metadata, for anyone who may see the dataset
    assert shown.status_code == 200
    assert (shown.get_json()["name"], shown.get_json()["sha256"]) == (
        "区县代码",
        hashlib.sha256(GDP_GBK).hexdigest(),
    )
    assert client.get(f"/api/v1/datasets/hidden/resources/{rid}").status_code == 404
    versions = client.get(f"{base}/versions", headers=world.steward).get_json()
    assert [(v["version"], v["current"]) for v in versions] == [(2, True), (1, False)]
    assert client.get(f"{base}/download", headers=world.steward).data == GDP_GBK
    assert client.get(f"{base}/versions/1/download", headers=world.steward).data == AREAS
    assert backends.record_store.query(rid, RecordQuery(limit=0)).total == 31
    with backends.sessions() as fresh:
        actions = fresh.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "dataset")
            .where(AuditEvent.action.startswith("resource."))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["resource.create", "resource.replace"]
    # Through the search outbox, the catalog index knows the new resource's name.
    found = client.get("/api/v1/datasets", query_string={"q": "区县代码"}).get_json()
    assert [item["slug"] for item in found["items"]] == ["codes"]


def test_a_plain_file_is_a_download_without_records(client, backends, world):
    proposal = stage(client, world.steward, PDF, "2023年统计公报.pdf").get_json()
    assert (proposal["tabular"], proposal["format"], proposal["table"]) == (False, "PDF", None)
    assert proposal["media_type"] == "application/pdf"
    created = confirm(client, world.steward, proposal["token"]).get_json()
    resource = created["resource"]
    assert (resource["name"], resource["fields"], resource["row_count"]) == (
        "2023年统计公报",
        [],
        None,
    )
    assert not backends.record_store.exists(resource["id"])
    download = client.get(f"/api/v1/datasets/codes/resources/{resource['id']}/download")
    assert download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"


def test_a_form_upload_stages_like_a_raw_body(client, world):
    response = client.post(
        "/api/v1/datasets/codes/uploads",
        data={"file": (io.BytesIO(AREAS), "区划.csv", "text/csv")},
        content_type="multipart/form-data",
        headers=world.steward,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["file_name"] == "区划.csv"
    assert response.get_json()["table"]["row_count"] == AREA_ROWS


# -- checksums ----------------------------------------------------------------------------------


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_checksums_sent_are_verified(client, backends, world):
    before = state(backends)
    wrong = hashlib.sha256(b"something else").hexdigest()
    for response in (
        stage(client, world.steward, AREAS, "a.csv", sha256=wrong),
        stage(
            client,
            world.steward,
            AREAS,
            "a.csv",
            extra={"Digest": f"sha-256={_b64(hashlib.sha256(b'x').digest())}"},
        ),
        stage(
            client,
            world.steward,
            AREAS,
            "a.csv",
            extra={"Content-MD5": _b64(hashlib.md5(b"x").digest())},  # noqa: S324 - the header's own hash
        ),
    ):
        assert_problem(response, 422, "again")
        assert state(backends) == before
    right = hashlib.sha256(AREAS).digest()
    for headers in (
        {"Digest": f"sha-256={_b64(right)}"},
        {"Content-Digest": f"sha-256=:{_b64(right)}:"},
        {"Content-MD5": _b64(hashlib.md5(AREAS).digest())},  # noqa: S324 - as above
    ):
        assert stage(client, world.steward, AREAS, "a.csv", extra=headers).status_code == 201
    assert stage(client, world.steward, AREAS, "a.csv", sha256=right.hex()).status_code == 201
    bad_header = stage(client, world.steward, AREAS, "a.csv", extra={"Content-MD5": "zz"})
    assert_problem(bad_header, 422, "Content-MD5")


# -- bad uploads change nothing -------------------------------------------------------------------


@pytest.fixture
def small_limit_client(settings, backends):
    from portal.app import create_app

    app = create_app(dataclasses.replace(settings, max_upload_bytes=1000), backends)
    return app.test_client()


def test_too_big_is_413_and_leaves_nothing(small_limit_client, backends, world):
    before = state(backends)
    declared = stage(small_limit_client, world.steward, AREAS, "a.csv")
    assert_problem(declared, 413, "1000 bytes")
    # Without a Content-Length the limit is found while the body streams.
    streamed = small_limit_client.post(
        "/api/v1/datasets/codes/uploads?file_name=a.csv",
        input_stream=io.BytesIO(AREAS),
        headers=world.steward,
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(streamed, 413)
    form = small_limit_client.post(
        "/api/v1/datasets/codes/uploads",
        data={"file": (io.BytesIO(AREAS), "a.csv")},
        content_type="multipart/form-data",
        headers=world.steward,
    )
    assert_problem(form, 413)
    assert state(backends) == before
    started = small_limit_client.post(
        "/api/v1/datasets/codes/uploads/multipart",
        json={"file_name": "a.csv", "size": 5000},
        headers=world.steward,
    )
    assert_problem(started, 413)


@pytest.mark.parametrize(
    ("payload", "file_name", "words"),
    [
        pytest.param(b"", "empty.csv", ["empty"], id="empty"),
        pytest.param(os.urandom(64 * 1024), "data.csv", ["not text"], id="binary-as-csv"),
        pytest.param(
            NOT_A_TABLE.read_bytes(),
            "bees.csv",
            ["RDF (Turtle) document, not a table"],
            id="INVALID",
        ),
        pytest.param(PDF, "report.csv", ["PDF document, not a table"], id="pdf-as-csv"),
        pytest.param(b"MZ" + b"\0" * 100, "tool.exe", ["Programs"], id="exe-by-name"),
        pytest.param(b"\x7fELF\x02\x01\x01" + b"\0" * 200, "data.bin", ["Programs"], id="elf"),
    ],
)
def test_bad_files_are_refused_clearly_and_leave_nothing(
    client, backends, world, payload, file_name, words
):
    before = state(backends)
    response = stage(client, world.steward, payload, file_name)
    body = assert_problem(response, 422, *words)
    assert "rdflib" not in body["detail"]
    assert state(backends) == before


def test_ragged_rows_are_shown_and_loaded_only_when_the_steward_says_so(client, backends, world):
    proposal = stage(client, world.steward, RAGGED, "学校.csv").get_json()
    assert proposal["ragged_lines"] == [3, 5]
    problems = proposal["table"]["problems"]
    assert [(p["line"], p["field"]) for p in problems] == [(3, None), (5, None)]
    assert problems[0]["message"] == "2 values, but the header has 3"
    assert proposal["table"]["row_count"] == 3
    before = state(backends)
    refused = confirm(client, world.steward, proposal["token"])
    assert_problem(refused, 422, "3, 5", "skip_ragged_rows")
    assert state(backends) == before
    loaded = confirm(client, world.steward, proposal["token"], skip_ragged_rows=True)
    assert loaded.status_code == 201
    records = loaded.get_json()["records"]
    assert (records["row_count"], records["rows_failed"]) == (3, 2)


# -- the policy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "slug", "status"),
    [
        ("anonymous", "codes", 401),
        ("member", "codes", 403),
        ("outsider", "codes", 403),
        ("outsider", "hidden", 404),
        ("read_only", "codes", 403),
    ],
)
def test_only_stewards_of_the_department_upload(client, backends, world, who, slug, status):
    headers = {} if who == "anonymous" else getattr(world, who)
    before = state(backends)
    assert_problem(stage(client, headers, AREAS, "a.csv", slug=slug), status)
    started = client.post(
        f"/api/v1/datasets/{slug}/uploads/multipart",
        json={"file_name": "a.csv", "size": 100},
        headers=headers,
    )
    assert_problem(started, status)
    token = stage(client, world.steward, AREAS, "a.csv", slug=slug).get_json()["token"]
    assert_problem(confirm(client, headers, token, slug=slug), status)
    assert state(backends) | {"files": []} == before | {"files": []}


def test_a_token_serves_its_own_steward_and_dataset_only(client, session, backends, world):
    other = make_dataset(session, session.get(type(world.dataset), world.dataset.id).department)
    token = stage(client, world.steward, AREAS, "a.csv").get_json()["token"]
    before = state(backends)
    assert_problem(confirm(client, world.second, token), 422, "another")
    assert_problem(confirm(client, world.steward, token, slug=other.slug), 422, "another")
    assert_problem(confirm(client, world.steward, token[:-4] + "abcd"), 422, "not an upload")
    assert_problem(confirm(client, world.steward, "nonsense"), 422, "token")
    assert state(backends) == before


# -- versions: refusals and failures leave the resource as it was --------------------------------


def _first_version(client, world) -> str:
    proposal = stage(client, world.steward, AREAS, "areas.csv").get_json()
    return confirm(client, world.steward, proposal["token"]).get_json()["resource"]["id"]


def test_replacing_with_the_same_file_or_a_link_is_a_conflict(client, session, backends, world):
    rid = _first_version(client, world)
    link = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        "codes",
        ResourceValues(name="国家统计局", url="https://www.stats.gov.cn/"),
    )
    token = stage(client, world.steward, AREAS, "areas.csv").get_json()["token"]
    before = state(backends)
    assert_problem(confirm(client, world.steward, token, rid), 409, "same as the current")
    assert_problem(confirm(client, world.steward, token, link.id), 409, "link")
    assert_problem(confirm(client, world.steward, token, str(uuid.uuid4())), 404)
    assert state(backends) == before


def test_fields_the_file_has_not_are_refused(client, backends, world):
    rid = _first_version(client, world)
    token = stage(client, world.steward, GDP_GBK, "gdp.csv").get_json()["token"]
    before = state(backends)
    response = confirm(client, world.steward, token, rid, fields=[{"name": "code"}])
    assert_problem(response, 422, "'code' is not a column")
    assert state(backends) == before


class FailingRecordStore(SqlRecordStore):
    """The real record store, whose next load breaks after its first rows (a server lost
    for a moment)."""

    failures = 1

    def append(self, resource_id, rows):
        def broken():
            for number, row in enumerate(rows):
                if number == 5 and self.failures:
                    self.failures -= 1
                    raise ConnectionError("the record store went away")
                yield row

        return super().append(resource_id, broken())


def test_a_failed_load_keeps_the_old_version_and_records(settings, client, backends, world):
    from portal.app import create_app

    rid = _first_version(client, world)
    before = state(backends)
    failing = dataclasses.replace(backends, record_store=FailingRecordStore(backends.engine))
    broken_client = create_app(settings, failing).test_client()
    token = stage(broken_client, world.steward, GDP_GBK, "gdp.csv").get_json()["token"]
    with pytest.raises(ConnectionError):
        confirm(broken_client, world.steward, token, rid)
    after = state(backends)
    staged = [f for f in after["files"] if f.startswith("uploads/")]
    assert after | {"files": [f for f in after["files"] if f not in staged]} == before
    assert len(staged) == 1  # still staged: the steward may try again
    assert confirm(client, world.steward, token, rid).status_code == 201


# -- metadata -------------------------------------------------------------------------------------


def test_patch_changes_names_titles_and_what_is_masked(client, backends, world):
    rid = _first_version(client, world)
    url = f"/api/v1/datasets/codes/resources/{rid}"
    assert client.get(f"{url}/download").status_code == 200
    changed = client.patch(
        url,
        json={
            "name": "区县名录",
            "description": "国家统计局 2023 年统计用区划代码",
            "fields": [{"name": "name", "title": "区县名称", "sensitive": True}],
        },
        headers=world.steward,
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["name"] == "区县名录"
    assert changed.get_json()["fields"][1]["title"] == "区县名称"
    stored = {f.name: f for f in backends.record_store.fields(rid)}
    assert (stored["name"].title, stored["name"].sensitive) == ("区县名称", True)
    assert backends.record_store.query(rid, RecordQuery(limit=0)).total == AREA_ROWS
    # Those outside the department now get the masked records, not the file.
    assert client.get(f"{url}/download").status_code == 303
    before = state(backends)
    for body, words in (
        ({"fields": [{"name": "name", "type": "integer"}]}, ["new upload"]),
        ({"fields": [{"name": "nope"}]}, ["not a field"]),
        ({"name": ""}, ["name"]),
    ):
        assert_problem(client.patch(url, json=body, headers=world.steward), 422, *words)
    assert_problem(client.patch(url, json={"name": "x"}, headers=world.member), 403)
    assert_problem(client.patch(url, json={"name": "x"}), 401)
    assert state(backends) == before


# -- multipart: the local folder takes none --------------------------------------------------------


def test_multipart_uploads_on_a_local_store_say_direct_upload_only(client, backends, world):
    before = state(backends)
    response = client.post(
        "/api/v1/datasets/codes/uploads/multipart",
        json={"file_name": "big.csv", "size": 50 * MiB},
        headers=world.steward,
    )
    assert_problem(response, 409, "direct upload only")
    unknown = client.post(
        "/api/v1/datasets/codes/uploads/multipart/not-a-handle/complete",
        json={"parts": [{"number": 1, "etag": "x"}]},
        headers=world.steward,
    )
    assert_problem(unknown, 404)
    assert state(backends) == before


# -- housekeeping and memory -----------------------------------------------------------------


def test_stale_staged_uploads_are_cleaned_up(client, backends, world):
    from datetime import UTC, datetime, timedelta

    stage(client, world.steward, AREAS, "a.csv")
    assert remove_stale_uploads(backends.object_store) == 0
    later = datetime.now(UTC) + timedelta(days=2)
    assert remove_stale_uploads(backends.object_store, later) == 1
    assert stored_files(backends) == []


def test_staging_50_mb_keeps_memory_flat(client, backends, world, tmp_path):
    size = 50 * MiB
    row = ("440604," + "禅城区祖庙街道" * 50 + ",1,2.5\n").encode()  # 1 KB: few rows to read
    path = tmp_path / "big.csv"
    with path.open("wb") as out:
        out.write(b"code,name,count,share\n")
        written = 0
        while written < size:
            out.write(row * 1000)
            written += len(row) * 1000
    client.get("/api/v1/datasets/codes", headers=world.steward)  # warm the app up
    with path.open("rb") as body:
        tracemalloc.start()
        try:
            response = client.post(
                "/api/v1/datasets/codes/uploads?file_name=big.csv",
                input_stream=body,
                content_length=path.stat().st_size,
                content_type="text/csv",
                headers=world.steward,
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["size"] == path.stat().st_size
    assert peak < 16 * MiB, f"staging held {peak / MiB:.1f} MiB"


# -- S3: presigned multipart uploads straight to MinIO ---------------------------------------


def s3_names(store) -> list[str]:
    listing = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    names = [item["Key"].removeprefix(store.prefix) for item in listing.get("Contents", [])]
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return sorted(names) + [u["Key"] for u in uploads if u["Key"].startswith(store.prefix)]


def _big_table(rows: int) -> bytes:
    """About 210 bytes a row: megabytes in few rows, so the test reads fast."""
    note = "祖庙街道" * 15
    lines = ["code,name,population,note"] + [
        f"{440604000 + n},禅城区第{n}社区,{n * 7},{note}" for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_s3_multipart_goes_straight_to_the_store(s3_client, s3_store, backends, world):
    payload = _big_table(60_000)  # about 12 MiB: two parts of 5 MiB and the rest
    started = s3_client.post(
        "/api/v1/datasets/codes/uploads/multipart",
        json={"file_name": "社区人口.csv", "size": len(payload), "parts": 3},
        headers=world.steward,
    )
    assert started.status_code == 201, started.get_data(as_text=True)
    plan = started.get_json()
    assert plan["part_size"] == 5 * MiB and len(plan["parts"]) == 3
    etags = []
    for part in plan["parts"]:
        start = (part["number"] - 1) * plan["part_size"]
        piece = payload[start : start + plan["part_size"]]
        sent = httpx.put(part["url"], content=piece, timeout=30)
        assert sent.status_code == 200, sent.text
        etags.append({"number": part["number"], "etag": sent.headers["ETag"]})
    url = f"/api/v1/datasets/codes/uploads/multipart/{plan['id']}/complete"
    body = {"parts": etags, "sha256": hashlib.sha256(b"x").hexdigest()}
    wrong = s3_client.post(url, json=body, headers=world.steward)
    assert_problem(wrong, 422, "SHA-256")
    assert s3_names(s3_store) == []  # the refused object is deleted

    started = s3_client.post(
        "/api/v1/datasets/codes/uploads/multipart",
        json={
            "file_name": "社区人口.csv",
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        },
        headers=world.steward,
    ).get_json()
    assert len(started["parts"]) == 1  # the store's own part size: 16 MiB
    sent = httpx.put(started["parts"][0]["url"], content=payload, timeout=30)
    completed = s3_client.post(
        f"/api/v1/datasets/codes/uploads/multipart/{started['id']}/complete",
        json={"parts": [{"number": 1, "etag": sent.headers["ETag"]}]},
        headers=world.steward,
    )
    assert completed.status_code == 201, completed.get_data(as_text=True)
    proposal = completed.get_json()
    assert proposal["table"]["row_count"] == 60_000
    created = confirm(s3_client, world.steward, proposal["token"])
    assert created.status_code == 201, created.get_data(as_text=True)
    rid = created.get_json()["resource"]["id"]
    download = s3_client.get(f"/api/v1/datasets/codes/resources/{rid}/download")
    assert hashlib.sha256(download.data).hexdigest() == hashlib.sha256(payload).hexdigest()
    names = s3_names(s3_store)
    assert names == [f"stats/codes/{rid}/v1/社区人口.csv"]
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=s3_store.prefix + names[0])
    assert head["Metadata"] == {"sha256": hashlib.sha256(payload).hexdigest()}
    assert backends.record_store.query(rid, RecordQuery(limit=0)).total == 60_000


def test_s3_multipart_uploads_can_be_aborted_and_direct_uploads_work_too(
    s3_client, s3_store, world
):
    started = s3_client.post(
        "/api/v1/datasets/codes/uploads/multipart",
        json={"file_name": "a.csv", "size": 10},
        headers=world.steward,
    ).get_json()
    httpx.put(started["parts"][0]["url"], content=b"code,name\n", timeout=30)
    assert len(s3_names(s3_store)) == 1  # the pending upload
    aborted = s3_client.delete(
        f"/api/v1/datasets/codes/uploads/multipart/{started['id']}", headers=world.steward
    )
    assert aborted.status_code == 204
    assert s3_names(s3_store) == []
    proposal = stage(s3_client, world.steward, AREAS, "areas.csv").get_json()
    resource = confirm(s3_client, world.steward, proposal["token"]).get_json()["resource"]
    assert s3_names(s3_store) == [f"stats/codes/{resource['id']}/v1/areas.csv"]


def test_undecodable_files_short_rows_and_other_sheets_are_told_the_steward(
    client, backends, world
):
    before = state(backends)
    damaged = stage(client, world.steward, b"code,name\n1,\x80\x81\n", "codes.csv")
    message = "not UTF-8, GBK or GB18030 text: invalid byte 0x80 at offset 12"
    assert message in assert_problem(damaged, 422, "file")["errors"]["file"][0]
    assert state(backends) == before
    towns = "名称,人口\n祖庙街道,1000\n石湾镇街道\n张槎街道,900\n注：来源于区统计局\n"
    proposal = stage(client, world.steward, towns.encode(), "towns.csv").get_json()
    assert proposal["ragged_lines"] == [3]
    assert proposal["table"]["problems"][0]["message"] == "1 value, but the header has 2"
    assert (proposal["table"]["row_count"], proposal["table"]["lines_skipped"]) == (2, 1)
    workbook = (FIXTURES / "datos_jus_gob_ar__catalog.xlsx").read_bytes()
    table = stage(client, world.steward, workbook, "catalog.xlsx").get_json()["table"]
    assert table["sheet"] == "Catalog"
    assert table["notes"] == [
        "The workbook has 6 sheets with values: only 'Catalog' was read; 'Theme', 'Dataset', "
        "'Distribution', 'Field', 'Notas y referencias' were ignored."
    ]
