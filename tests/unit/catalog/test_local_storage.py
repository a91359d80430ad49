import hashlib
import io
import os

import pytest

from catalog.storage.local import LocalObjectStore, UnsafeKey


@pytest.fixture
def store(tmp_path):
    return LocalObjectStore(tmp_path / "root")


def test_put_streams_and_records_size_and_checksum(store):
    payload = "学校名称,地址\n".encode() * 200_000  # several chunks
    stored = store.put("edu/schools/r1/v1/data.csv", io.BytesIO(payload), "text/csv")
    assert stored.size == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()
    assert b"".join(store.open(stored.key)) == payload
    assert store.exists(stored.key)


@pytest.mark.parametrize(
    "key",
    ["", "../escape", "a/../../escape", "/etc/passwd", "a/./b", "a\\..\\b", "nul\x00byte"],
)
def test_keys_that_could_escape_the_root_are_refused(store, key):
    with pytest.raises(UnsafeKey):
        store.put(key, io.BytesIO(b"x"), "text/plain")


def test_a_link_inside_the_root_cannot_lead_outside(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    store.root.mkdir(parents=True)
    os.symlink(outside, store.root / "link")
    with pytest.raises(UnsafeKey):
        store.put("link/secret.txt", io.BytesIO(b"x"), "text/plain")
    assert not (outside / "secret.txt").exists()


class FailingStream(io.RawIOBase):
    def __init__(self):
        self.calls = 0

    def read(self, size=-1):
        self.calls += 1
        if self.calls > 2:
            raise OSError("connection reset")
        return b"x" * 1024


def test_a_failed_upload_leaves_no_partial_object(store):
    with pytest.raises(OSError):
        store.put("d/s/r/v1/data.csv", FailingStream(), "text/csv")
    assert not store.exists("d/s/r/v1/data.csv")
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == []


def test_a_failed_replace_keeps_the_old_object(store):
    store.put("k/data.csv", io.BytesIO(b"old"), "text/csv")
    with pytest.raises(OSError):
        store.put("k/data.csv", FailingStream(), "text/csv")
    assert b"".join(store.open("k/data.csv")) == b"old"


def test_missing_objects_raise_key_error(store):
    with pytest.raises(KeyError):
        store.open("no/such/object")
