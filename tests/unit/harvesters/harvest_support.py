"""What the sync and runner tests share: harvest sources and jobs made through the real
services, remote datasets built from the real fixture files, an HTTP route that answers
conditional GETs as a real file server does, and a count of every write a harvest makes.
"""

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.interfaces import RecordQuery
from catalog.models import (
    AuditEvent,
    Dataset,
    Department,
    HarvestJob,
    HarvestObject,
    HarvestSource,
    ResourceVersion,
    SearchOutbox,
)
from catalog.services.harvest import SourceValues, create_source, request_job
from catalog.storage.local import LocalObjectStore
from harvesters.fetch import HttpFetcher
from harvesters.interfaces import RemoteDataset, RemoteResource
from tests.factories import SYSTEM
from tests.unit.harvesters.http_server import Reply, Request

FIXTURES = Path(__file__).parents[2] / "fixtures"
TABULAR = FIXTURES / "tabular"
GEO = FIXTURES / "geo"


def accept_test_kind(kind, url, config):
    return {} if kind == "test" else {"kind": [f"unknown kind {kind!r}"]}


def make_source(
    session: Session, department: Department, name: str = "测试采集源", **values
) -> HarvestSource:
    given = {"name": name, "kind": "test", "url": "https://data.example.cn/catalog"} | values
    return create_source(session, SYSTEM, department.slug, SourceValues(**given), accept_test_kind)


def make_job(session: Session, source: HarvestSource) -> HarvestJob:
    return request_job(session, SYSTEM, source.id)


@contextmanager
def _open(path: Path):
    with path.open("rb") as stream:
        yield stream


def file_resource(path: Path, remote_id: str | None = None, **values) -> RemoteResource:
    """A resource whose content the source type opens itself, as a folder or S3 source."""
    given = {
        "remote_id": remote_id or path.name,
        "name": path.stem,
        "opener": lambda: _open(path),
        "format": path.suffix.lstrip(".").upper(),
        "file_name": path.name,
    } | values
    return RemoteResource(**given)


def remote_dataset(remote_id: str, *resources: RemoteResource, **values) -> RemoteDataset:
    given = {
        "remote_id": remote_id,
        "title": f"数据集 {remote_id}",
        "resources": resources,
        "raw": f'{{"id": "{remote_id}"}}',
    } | values
    return RemoteDataset(**given)


def loopback_fetcher() -> HttpFetcher:
    """The real fetcher, with loopback allowed for the local test server."""
    return HttpFetcher(allow_private=True, timeout=10.0)


@dataclass
class ServedFile:
    """A file a route serves as a real file server does: with an ETag and Last-Modified,
    answering 304 to a conditional GET that names the current ones."""

    content: bytes
    served: int = 0  # 200 answers
    not_modified: int = 0  # 304 answers
    mtime: float = 1_700_000_000.0

    def replace(self, content: bytes) -> None:
        self.content = content
        self.mtime += 60

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.content).hexdigest()[:16] + '"'

    def __call__(self, request: Request) -> Reply:
        last_modified = formatdate(self.mtime, usegmt=True)
        headers = {"ETag": self.etag, "Last-Modified": last_modified, "Content-Type": "text/csv"}
        if request.headers.get("if-none-match") == self.etag:
            self.not_modified += 1
            return Reply(304, b"", headers)
        self.served += 1
        return Reply(200, self.content, headers)


def stored_keys(store) -> list[str]:
    """Every object the store holds, temporary files included."""
    if isinstance(store, LocalObjectStore):
        files = store.root.rglob("*") if store.root.exists() else []
        return sorted(str(path.relative_to(store.root)) for path in files if path.is_file())
    names = []
    for page in store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=store.prefix
    ):
        names.extend(item["Key"].removeprefix(store.prefix) for item in page.get("Contents", []))
    return sorted(names)


def record_count(record_store, resource_id: str) -> int:
    return record_store.query(resource_id, RecordQuery(limit=0)).total


def writes(session: Session, backends) -> dict[str, object]:
    """Everything a harvest writes, to compare before and after a run."""

    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model))

    return {
        "datasets": count(Dataset),
        "audit events": count(AuditEvent),
        "outbox rows": count(SearchOutbox),
        "resource versions": count(ResourceVersion),
        "harvest objects": count(HarvestObject),
        "revisions": sorted(session.scalars(select(Dataset.revision))),
        "objects in the store": stored_keys(backends.object_store),
    }
