"""One contract for every object store: the local folder always, S3 when
OPENDATA_TEST_S3_ENDPOINT_URL names a server (``scripts/services.sh start`` runs MinIO).

Each S3 test works under a prefix of its own in OPENDATA_TEST_S3_BUCKET and removes what it
wrote. Large payloads are made on demand by a reader, so the tests never hold them whole.
"""

import hashlib
import io
import os
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import unquote

import httpx
import pytest

from catalog.storage import object_store_from_settings
from catalog.storage.local import LocalObjectStore, UnsafeKey
from catalog.storage.s3 import S3ObjectStore, S3StoreError, multipart_part_size

S3_ENDPOINT_URL = os.environ.get("OPENDATA_TEST_S3_ENDPOINT_URL")
S3_BUCKET = os.environ.get("OPENDATA_TEST_S3_BUCKET", "opendata-test")
RUN = f"test-{uuid.uuid4().hex[:12]}"
MiB = 1024 * 1024
LARGE = 40 * MiB  # above the S3 store's 16 MiB part size: a multipart upload
MAX_CHUNK = MiB  # the most one chunk from open() may hold


def _s3_settings(storage_url: str, **overrides) -> SimpleNamespace:
    settings = {
        "storage_url": storage_url,
        "s3_endpoint_url": S3_ENDPOINT_URL,
        "s3_region": "us-east-1",
        "s3_access_key_id": os.environ.get("OPENDATA_TEST_S3_ACCESS_KEY_ID", ""),
        "s3_secret_access_key": os.environ.get("OPENDATA_TEST_S3_SECRET_ACCESS_KEY", ""),
    }
    return SimpleNamespace(**(settings | overrides))


@pytest.fixture(
    params=[
        "local",
        pytest.param(
            "s3",
            marks=pytest.mark.skipif(
                not S3_ENDPOINT_URL,
                reason="OPENDATA_TEST_S3_ENDPOINT_URL is not set (run scripts/services.sh start)",
            ),
        ),
    ]
)
def store(request, tmp_path):
    """An empty object store on one backend, built from settings as the app builds it."""
    if request.param == "local":
        yield object_store_from_settings(SimpleNamespace(storage_url=tmp_path.as_uri()))
        return
    base = request.getfixturevalue("s3_run_store")
    store = S3ObjectStore(base.client, base.bucket, f"{base.prefix}{uuid.uuid4().hex[:8]}")
    yield store
    _empty_s3_prefix(store)


@pytest.fixture(scope="module")
def s3_run_store():
    """The store the app would build for this run's prefix; each test works below it, on
    the same client (building one takes a third of a second)."""
    store = object_store_from_settings(_s3_settings(f"s3://{S3_BUCKET}/{RUN}"))
    assert isinstance(store, S3ObjectStore)
    return store


def _empty_s3_prefix(store: S3ObjectStore) -> None:
    client = store.client
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=store.prefix
    ):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=store.bucket, Delete={"Objects": keys})
    for upload in _pending_uploads(store):
        client.abort_multipart_upload(
            Bucket=store.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )


def _pending_uploads(store: S3ObjectStore) -> list[dict]:
    # MinIO lists multipart uploads under a prefix only for an exact key, so filter here.
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [upload for upload in uploads if upload["Key"].startswith(store.prefix)]


def _everything_stored(store) -> list[str]:
    """Every object and pending upload the store holds, whatever its name: temporary files
    and staging objects included."""
    if isinstance(store, LocalObjectStore):
        files = store.root.rglob("*") if store.root.exists() else []
        return sorted(str(path.relative_to(store.root)) for path in files if path.is_file())
    listing = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    names = [item["Key"].removeprefix(store.prefix) for item in listing.get("Contents", [])]
    pending = [f"(upload) {upload['Key']}" for upload in _pending_uploads(store)]
    return sorted(names) + pending


class Payload(io.RawIOBase):
    """``size`` bytes made a block at a time, each block stamped with its number so that a
    lost or reordered part changes the checksum. Like a socket, it returns at most a block
    per read; with ``fail_after`` it raises once that many bytes have been read."""

    BLOCK = 256 * 1024
    LINE = "学校名称,地址,电话\n".encode()
    TEXT = LINE * (BLOCK // len(LINE) + 1)

    def __init__(self, size: int, fail_after: int | None = None):
        self.size = size
        self.fail_after = fail_after
        self.position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if self.fail_after is not None and self.position >= self.fail_after:
            raise OSError("connection reset by peer")
        number, offset = divmod(self.position, self.BLOCK)
        block = (b"%010d" % number + self.TEXT)[: self.BLOCK]
        take = min(self.BLOCK - offset, self.size - self.position, size)
        self.position += take
        return block[offset : offset + take]

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    @classmethod
    def digest(cls, size: int) -> str:
        payload, digest = cls(size), hashlib.sha256()
        while block := payload.read(cls.BLOCK):
            digest.update(block)
        return digest.hexdigest()


def _read_back(store, key: str) -> tuple[int, str, int]:
    """(size, sha256, largest chunk) of what open() yields, without holding it whole."""
    digest, size, largest = hashlib.sha256(), 0, 0
    for chunk in store.open(key):
        digest.update(chunk)
        size += len(chunk)
        largest = max(largest, len(chunk))
    return size, digest.hexdigest(), largest


def test_a_large_file_streams_in_and_out_whole(store):
    stored = store.put("edu/schools/r1/v1/data.csv", Payload(LARGE), "text/csv")
    expected = Payload.digest(LARGE)
    assert (stored.key, stored.size, stored.sha256) == (
        "edu/schools/r1/v1/data.csv",
        LARGE,
        expected,
    )
    assert stored.content_type == "text/csv"
    size, sha256, largest = _read_back(store, stored.key)
    assert (size, sha256) == (LARGE, expected)
    assert largest <= MAX_CHUNK
    assert _everything_stored(store) == ["edu/schools/r1/v1/data.csv"]


@pytest.mark.parametrize("payload", [b"", b"x", "学校名称,地址\n".encode() * 50_000])
def test_small_files_round_trip(store, payload):
    stored = store.put("k/data.csv", io.BytesIO(payload), "text/csv; charset=utf-8")
    assert stored.size == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()
    assert stored.content_type == "text/csv; charset=utf-8"
    assert b"".join(store.open("k/data.csv")) == payload


def test_exists_and_delete(store):
    assert not store.exists("d/r/data.csv")
    store.put("d/r/data.csv", io.BytesIO(b"a,b\n"), "text/csv")
    assert store.exists("d/r/data.csv")
    assert not store.exists("d/r")  # a folder-like prefix is not an object
    store.delete("d/r/data.csv")
    assert not store.exists("d/r/data.csv")
    store.delete("d/r/data.csv")  # deleting what is gone is fine
    with pytest.raises(KeyError):
        store.open("d/r/data.csv")


def test_a_put_replaces_the_old_object(store):
    store.put("k/data.csv", io.BytesIO(b"old"), "text/csv")
    stored = store.put("k/data.csv", io.BytesIO(b"new"), "text/csv")
    assert stored.sha256 == hashlib.sha256(b"new").hexdigest()
    assert b"".join(store.open("k/data.csv")) == b"new"


def test_missing_objects_raise_key_error(store):
    with pytest.raises(KeyError):
        store.open("no/such/object")


@pytest.mark.parametrize(
    "key",
    ["", "../escape", "a/../../escape", "/etc/passwd", "a/./b", "a\\..\\b", "nul\x00byte"],
)
def test_keys_that_could_escape_are_refused_everywhere(store, key):
    with pytest.raises(UnsafeKey):
        store.put(key, io.BytesIO(b"x"), "text/plain")
    for action in (store.open, store.exists, store.delete, store.stat):
        with pytest.raises(UnsafeKey):
            action(key)
    with pytest.raises(UnsafeKey):
        store.presigned_url(key, 60, "data.csv")
    assert _everything_stored(store) == []


def test_chinese_keys_round_trip(store):
    key = "edu/学校名录/v1/禅城区 学校.csv"
    payload = "学校名称,地址\n南庄中学,南庄镇\n".encode()
    store.put(key, io.BytesIO(payload), "text/csv")
    assert store.exists(key)
    assert b"".join(store.open(key)) == payload
    assert _everything_stored(store) == [key]
    store.delete(key)
    assert not store.exists(key)


# Failing early sends nothing; failing half way through a large file breaks a multipart
# upload on S3, which must be aborted.
FAILURES = [
    pytest.param(Payload.BLOCK * 4, 3 * 1024, id="small"),
    pytest.param(LARGE, LARGE // 2, id="multipart"),
]


@pytest.mark.parametrize(("size", "fail_after"), FAILURES)
def test_a_failed_upload_leaves_nothing(store, size, fail_after):
    with pytest.raises(OSError, match="connection reset"):
        store.put("d/s/r/v1/data.csv", Payload(size, fail_after), "text/csv")
    assert not store.exists("d/s/r/v1/data.csv")
    assert _everything_stored(store) == []


@pytest.mark.parametrize(("size", "fail_after"), FAILURES)
def test_a_failed_replace_keeps_the_old_object(store, size, fail_after):
    store.put("k/data.csv", io.BytesIO(b"old"), "text/csv")
    with pytest.raises(OSError, match="connection reset"):
        store.put("k/data.csv", Payload(size, fail_after), "text/csv")
    assert b"".join(store.open("k/data.csv")) == b"old"
    assert _everything_stored(store) == ["k/data.csv"]


def test_memory_stays_flat_while_a_large_file_goes_in_and_out(store):
    size, budget = 64 * MiB, 4 * MiB
    if isinstance(store, S3ObjectStore):
        # S3 holds whole parts in memory; the smallest parts S3 accepts, and few of them,
        # keep that bound far below the file's size, so holding the file whole would show.
        store = S3ObjectStore(
            store.client, store.bucket, store.prefix, part_size=5 * MiB, parts_in_memory=2
        )
        budget = store.max_buffered_bytes + 8 * MiB  # boto3's own objects besides the parts
    assert budget <= size // 2
    store.check()  # connections and lazy imports, outside the measure
    tracemalloc.start()
    try:
        store.put("big/data.csv", Payload(size), "text/csv")
        put_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        read, _, _ = _read_back(store, "big/data.csv")
        open_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read == size
    assert put_peak < budget, f"put held {put_peak / MiB:.1f} MiB"
    assert open_peak < 4 * MiB, f"open held {open_peak / MiB:.1f} MiB"


def test_check_says_where_the_store_is(store):
    where = store.check()
    assert isinstance(where, str)
    if isinstance(store, S3ObjectStore):
        assert where == f"S3 bucket {S3_BUCKET} (prefix {store.prefix}) at {S3_ENDPOINT_URL}"


# Range reads: half-open [start, end), cut at the object's end.

RANGE_PAYLOAD = bytes(range(256)) * 4  # 1024 bytes, each position telling its own value


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        (0, None),
        (None, 10),
        (0, 1),
        (1, 2),
        (100, 612),
        (1023, None),
        (1023, 1024),
        (1000, 5000),  # past the end: cut there
        (0, 1024),
        (1024, None),  # at the end: empty
        (1024, 2048),
        (4096, None),  # past the end: empty
        (7, 7),  # empty range
    ],
)
def test_range_reads(store, start, end):
    store.put("r/data.bin", io.BytesIO(RANGE_PAYLOAD), "application/octet-stream")
    assert b"".join(store.open("r/data.bin", start, end)) == RANGE_PAYLOAD[start:end]


@pytest.mark.parametrize(("start", "end"), [(None, None), (0, None), (0, 10), (5, None), (0, 0)])
def test_range_reads_of_an_empty_object(store, start, end):
    store.put("r/empty.csv", io.BytesIO(b""), "text/csv")
    assert b"".join(store.open("r/empty.csv", start, end)) == b""


def test_a_range_across_chunks_streams_in_chunks(store):
    size = 3 * MAX_CHUNK + 17
    store.put("r/big.csv", Payload(size), "text/csv")
    start, end = MAX_CHUNK - 5, 2 * MAX_CHUNK + 9
    chunks = list(store.open("r/big.csv", start, end))
    whole = Payload(size).readall()
    assert b"".join(chunks) == whole[start:end]
    assert max(len(chunk) for chunk in chunks) <= MAX_CHUNK


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 5), (None, -1)])
def test_invalid_ranges_are_refused(store, start, end):
    store.put("r/data.bin", io.BytesIO(RANGE_PAYLOAD), "application/octet-stream")
    with pytest.raises(ValueError, match="range"):
        store.open("r/data.bin", start, end)


@pytest.mark.parametrize(("start", "end"), [(0, 10), (5, None), (3, 3)])
def test_ranges_of_missing_objects_raise_key_error(store, start, end):
    with pytest.raises(KeyError):
        store.open("no/such/object", start, end)


# stat: what the store knows of an object without reading it.


def test_stat_tells_size_type_tag_and_time(store):
    before = datetime.now(UTC) - timedelta(days=1)
    store.put("s/学校名录.csv", io.BytesIO("学校名称\n".encode()), "text/csv")
    info = store.stat("s/学校名录.csv")
    assert (info.key, info.size) == ("s/学校名录.csv", len("学校名称\n".encode()))
    assert info.content_type.startswith("text/csv")
    assert info.etag and '"' not in info.etag
    assert info.last_modified.tzinfo is not None
    assert before < info.last_modified < datetime.now(UTC) + timedelta(days=1)
    store.put("s/学校名录.csv", io.BytesIO(b"a longer replacement"), "text/csv")
    replaced = store.stat("s/学校名录.csv")
    assert replaced.size == len(b"a longer replacement")
    assert replaced.etag != info.etag


def test_stat_of_an_empty_object(store):
    store.put("s/empty.json", io.BytesIO(b""), "application/json")
    info = store.stat("s/empty.json")
    assert (info.size, info.content_type) == (0, "application/json")


def test_stat_of_missing_objects_raises_key_error(store):
    store.put("s/a/data.csv", io.BytesIO(b"x"), "text/csv")
    for key in ("no/such/object", "s/a"):  # a folder-like prefix is not an object either
        with pytest.raises(KeyError):
            store.stat(key)


# Presigned URLs: S3 has them, the local folder has none (the portal serves its files).


def test_presigned_urls_download_with_the_chinese_file_name(store):
    payload = "学校名称,地址\n南庄中学,南庄镇\n".encode()
    store.put("edu/学校名录/v1/data.csv", io.BytesIO(payload), "text/csv")
    url = store.presigned_url(
        "edu/学校名录/v1/data.csv",
        60,
        file_name="禅城区 学校名录 2024.csv",
        content_type="text/csv; charset=utf-8",
    )
    if isinstance(store, LocalObjectStore):
        assert url is None
        return
    assert url.startswith(f"{S3_ENDPOINT_URL}/{S3_BUCKET}/")
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "禅城区 学校名录 2024.csv"


def test_presigned_urls_without_a_name_serve_the_object_as_stored(store):
    store.put("p/data.json", io.BytesIO(b"{}"), "application/json")
    url = store.presigned_url("p/data.json", 60)
    if isinstance(store, LocalObjectStore):
        assert url is None
        return
    response = httpx.get(url, timeout=10)
    assert (response.status_code, response.content) == (200, b"{}")
    assert "Content-Disposition" not in response.headers
    assert response.headers["Content-Type"] == "application/json"


# S3 only: what the port does not say but the S3 store promises besides.

s3_only = pytest.mark.skipif(not S3_ENDPOINT_URL, reason="OPENDATA_TEST_S3_ENDPOINT_URL is not set")


@pytest.fixture
def s3_store(s3_run_store):
    base = s3_run_store
    store = S3ObjectStore(base.client, base.bucket, f"{base.prefix}{uuid.uuid4().hex[:8]}")
    yield store
    _empty_s3_prefix(store)


@s3_only
@pytest.mark.parametrize("size", [3, LARGE], ids=["one-request", "multipart"])
def test_s3_objects_carry_their_checksum_and_type_under_the_prefix(s3_store, size):
    stored = s3_store.put("edu/学校名录/v1/data.csv", Payload(size), "text/csv; charset=utf-8")
    head = s3_store.client.head_object(Bucket=S3_BUCKET, Key=s3_store.prefix + stored.key)
    assert head["Metadata"] == {"sha256": Payload.digest(size)}
    assert head["ContentType"] == "text/csv; charset=utf-8"
    assert head["ContentLength"] == size
    assert s3_store.prefix.startswith(f"{RUN}/") and s3_store.prefix.endswith("/")


@s3_only
def test_s3_check_names_a_missing_bucket():
    missing = f"opendata-missing-{uuid.uuid4().hex[:8]}"
    store = object_store_from_settings(_s3_settings(f"s3://{missing}"))
    with pytest.raises(S3StoreError, match=f"S3 bucket {missing} at .*does not exist"):
        store.check()


@s3_only
def test_s3_check_says_the_keys_were_refused():
    settings = _s3_settings(f"s3://{S3_BUCKET}", s3_secret_access_key="not-the-secret")
    with pytest.raises(S3StoreError, match="access refused"):
        object_store_from_settings(settings).check()


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://opendata", "opendata", ""),
        ("s3://opendata/", "opendata", ""),
        ("s3://opendata/portal/files/", "opendata", "portal/files/"),
        ("s3://opendata/%E6%96%87%E4%BB%B6", "opendata", "文件/"),
    ],
)
def test_s3_bucket_and_prefix_come_from_the_url(url, bucket, prefix):
    store = S3ObjectStore.from_settings(_s3_settings(url, s3_endpoint_url="http://127.0.0.1:1"))
    assert (store.bucket, store.prefix) == (bucket, prefix)


@pytest.mark.parametrize("url", ["s3:///files", "s3://opendata/a/../b", "s3://opendata/a//b"])
def test_s3_urls_without_a_bucket_or_with_an_unsafe_prefix_are_refused(url):
    with pytest.raises(ValueError, match=r"bucket|unsafe"):
        S3ObjectStore.from_settings(_s3_settings(url))


# Copies, clean-ups and multipart uploads: what steward uploads ask of every store. A
# multipart upload sends its parts straight to S3; the local folder takes none.


def test_copy_stores_an_object_again_under_another_key(store):
    payload = "学校名称,地址\n南庄中学,南庄镇\n".encode() * 1000
    digest = hashlib.sha256(payload).hexdigest()
    store.put("uploads/edu/s/a1/学校.csv", io.BytesIO(payload), "application/octet-stream")
    copied = store.copy("uploads/edu/s/a1/学校.csv", "edu/s/r1/v1/学校.csv", "text/csv", digest)
    assert (copied.key, copied.size, copied.sha256, copied.content_type) == (
        "edu/s/r1/v1/学校.csv",
        len(payload),
        digest,
        "text/csv",
    )
    assert b"".join(store.open("edu/s/r1/v1/学校.csv")) == payload
    assert store.stat("edu/s/r1/v1/学校.csv").content_type.startswith("text/csv")
    assert _everything_stored(store) == ["edu/s/r1/v1/学校.csv", "uploads/edu/s/a1/学校.csv"]
    if isinstance(store, S3ObjectStore):
        head = store.client.head_object(Bucket=store.bucket, Key=store.prefix + copied.key)
        assert head["Metadata"] == {"sha256": digest}
    with pytest.raises(KeyError):
        store.copy("no/such/object", "edu/s/r2/v1/x.csv", "text/csv", digest)
    with pytest.raises(UnsafeKey):
        store.copy("uploads/edu/s/a1/学校.csv", "../escape", "text/csv", digest)
    assert len(_everything_stored(store)) == 2


def test_remove_older_removes_old_objects_under_the_prefix_only(store):
    for key in ("uploads/a/1/x.csv", "uploads/b/2/y.csv", "kept/z.csv", "uploadsx/w.csv"):
        store.put(key, io.BytesIO(b"a,b\n"), "text/csv")
    now = datetime.now(UTC)
    assert store.remove_older("uploads/", now - timedelta(hours=1)) == 0
    assert len(_everything_stored(store)) == 4
    assert store.remove_older("uploads/", now + timedelta(minutes=5)) == 2
    assert _everything_stored(store) == ["kept/z.csv", "uploadsx/w.csv"]
    assert store.remove_older("nothing-here/", now + timedelta(minutes=5)) == 0
    with pytest.raises(UnsafeKey):
        store.remove_older("../", now)


def test_multipart_uploads_go_straight_to_the_store(store):
    size, key = 12 * MiB, "uploads/edu/s/m1/学校.csv"
    upload = store.start_multipart_upload(key, "application/octet-stream", size, 300, 3)
    if isinstance(store, LocalObjectStore):
        assert upload is None
        with pytest.raises(KeyError):
            store.complete_multipart_upload(key, "any", [(1, "etag")])
        store.abort_multipart_upload(key, "any")
        assert _everything_stored(store) == []
        return
    assert (upload.key, upload.part_size, len(upload.part_urls)) == (key, 5 * MiB, 3)
    assert upload.expires_at > datetime.now(UTC)
    payload = Payload(size).readall()
    parts = []
    for number, url in enumerate(upload.part_urls, start=1):
        assert url.startswith(f"{S3_ENDPOINT_URL}/{S3_BUCKET}/")
        piece = payload[(number - 1) * upload.part_size : number * upload.part_size]
        answer = httpx.put(url, content=piece, timeout=30)
        assert answer.status_code == 200, answer.text
        parts.append((number, answer.headers["ETag"]))
    assert _everything_stored(store) == [f"(upload) {store.prefix}{key}"]
    with pytest.raises(ValueError):
        store.complete_multipart_upload(key, upload.upload_id, [parts[0], (2, '"0000"')])
    info = store.complete_multipart_upload(key, upload.upload_id, parts)
    assert info.size == size
    assert _read_back(store, key)[:2] == (size, Payload.digest(size))
    with pytest.raises(KeyError):
        store.complete_multipart_upload(key, upload.upload_id, parts)  # done already
    assert _everything_stored(store) == [key]


def test_multipart_uploads_can_be_aborted_or_left_to_the_clean_up(store):
    upload = store.start_multipart_upload("uploads/x/1/a.csv", "text/csv", 100, 60)
    if isinstance(store, LocalObjectStore):
        assert upload is None
        return
    assert (upload.part_size, len(upload.part_urls)) == (16 * MiB, 1)
    assert httpx.put(upload.part_urls[0], content=b"a,b\n", timeout=30).status_code == 200
    store.abort_multipart_upload("uploads/x/1/a.csv", upload.upload_id)
    store.abort_multipart_upload("uploads/x/1/a.csv", upload.upload_id)  # no error twice
    assert _everything_stored(store) == []
    left = store.start_multipart_upload("uploads/x/2/b.csv", "text/csv", 100, 60)
    assert len(_everything_stored(store)) == 1
    assert store.remove_older("uploads/", datetime.now(UTC) - timedelta(hours=1)) == 0
    assert store.remove_older("uploads/", datetime.now(UTC) + timedelta(minutes=5)) == 1
    assert _everything_stored(store) == []
    with pytest.raises(KeyError):
        store.complete_multipart_upload("uploads/x/2/b.csv", left.upload_id, [(1, "x")])


@pytest.mark.parametrize(
    ("size", "parts", "part_size"),
    [
        (12 * MiB, 3, 5 * MiB),  # S3's smallest part, so fewer parts than asked
        (100 * MiB, 0, 16 * MiB),  # the store's own size
        (100 * MiB, 2, 50 * MiB),
        (1, 0, 16 * MiB),
        (10**12, 0, 10**8),  # at most 10,000 parts
    ],
)
def test_multipart_part_sizes_keep_to_s3_rules(size, parts, part_size):
    assert multipart_part_size(size, parts) == part_size


@pytest.mark.parametrize(("size", "parts"), [(0, 0), (-1, 0), (MiB, 10_001), (6 * 1024**4, 0)])
def test_multipart_sizes_s3_cannot_take_are_refused(size, parts):
    with pytest.raises(ValueError, match="multipart upload"):
        multipart_part_size(size, parts)
