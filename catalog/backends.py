"""The backends chosen by settings, built once at start and shared by web, CLI and workers."""

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import create_database_engine, schema_status, session_factory
from catalog.interfaces import CatalogIndex, ObjectStore, RecordStore
from catalog.records.sql import SqlRecordStore
from catalog.search import catalog_index_from_settings
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.storage import object_store_from_settings
from catalog.storage.local import LocalObjectStore


def record_store_from_settings(settings, engine: Engine) -> RecordStore:
    """Records live beside the catalog index: in the search engine when one is set, else in
    tables of the catalog database."""
    scheme = urlsplit(settings.search_url).scheme
    if scheme.startswith("opensearch+"):
        from catalog.records.engines import OpenSearchRecordStore

        return OpenSearchRecordStore.from_settings(settings)
    if scheme.startswith("elasticsearch+"):
        from catalog.records.engines import ElasticsearchRecordStore

        return ElasticsearchRecordStore.from_settings(settings)
    return SqlRecordStore(engine)


@dataclass
class Backends:
    engine: Engine
    sessions: sessionmaker[Session]
    object_store: ObjectStore
    catalog_index: CatalogIndex
    record_store: RecordStore

    @classmethod
    def from_settings(cls, settings) -> "Backends":
        engine = create_database_engine(settings.database_url)
        return cls(
            engine=engine,
            sessions=session_factory(engine),
            object_store=object_store_from_settings(settings),
            catalog_index=catalog_index_from_settings(settings),
            record_store=record_store_from_settings(settings, engine),
        )

    def database_status(self) -> tuple[bool, str]:
        """Whether the catalog database is ready for this code, and what to tell the
        operator: where it is and its schema, or what `opendata init` must do first."""
        where = self.engine.url.render_as_string(hide_password=True)
        missing = _missing(_sqlite_file(self.engine.url))
        if missing:
            return False, f"{where}: {missing}"
        try:
            current, head = schema_status(self.engine)
        except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
            return False, f"{where}: {type(error).__name__}: {error}"
        if current != head:
            return False, f"{where}, schema {current}; the code expects {head}: {INIT_HINT}"
        return True, f"{where}, schema {current}"

    def check(self, queue_url: str) -> list[tuple[str, bool, str]]:
        """(port, answers, detail) for each backend and the job queue, without raising.
        Creates nothing: an embedded backend's missing file or folder is reported as such."""
        results = [("database", *self.database_status())]
        ports = (
            ("object store", self.object_store),
            ("search", self.catalog_index),
            ("records", self.record_store),
        )
        for port, backend in ports:
            missing = _missing(_embedded_path(backend))
            if missing:
                results.append((port, False, missing))
                continue
            try:
                results.append((port, True, backend.check()))
            except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
                results.append((port, False, f"{type(error).__name__}: {error}"))
        results.append(("queue", *check_queue(queue_url)))
        return results

    def dispose(self) -> None:
        self.engine.dispose()


INIT_HINT = "run `opendata init`"


def _sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL; None for a server or a database in memory."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _embedded_path(backend) -> Path | None:
    """The file or folder an embedded backend keeps its data in (their own checks create it,
    as `opendata init` wants); None for a server."""
    if isinstance(backend, LocalObjectStore):
        return backend.root
    if isinstance(backend, SqliteCatalogIndex):
        return backend.path
    if isinstance(backend, SqlRecordStore):
        return _sqlite_file(backend.engine.url)
    return None


def _missing(path: Path | None) -> str | None:
    if path is None or path.exists():
        return None
    return f"{path.resolve()} does not exist: {INIT_HINT}"


def check_queue(queue_url: str) -> tuple[bool, str]:
    """Whether the job queue answers, and where it is: the embedded SQLite file (read, never
    created) or a Redis server."""
    database = _sqlite_file(queue_url)
    try:
        if database is not None:
            return _check_sqlite_queue(database)
        return True, _check_redis_queue(queue_url)
    except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
        where = make_url(queue_url).render_as_string(hide_password=True)
        return False, f"{where}: {type(error).__name__}: {error}"


def _check_sqlite_queue(path: Path) -> tuple[bool, str]:
    missing = _missing(path)
    if missing:
        return False, missing
    # mode=rw opens an existing file only; huey's task table holds the waiting jobs.
    uri = f"{path.resolve().as_uri()}?mode=rw"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        waiting = connection.execute("SELECT count(*) FROM task").fetchone()[0]
    return True, f"SQLite file {path.resolve()}, {waiting} jobs waiting"


def _check_redis_queue(queue_url: str) -> str:
    import redis

    client = redis.Redis.from_url(queue_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        version = client.info("server")["redis_version"]
    finally:
        client.close()
    return f"Redis {version} at {make_url(queue_url).render_as_string(hide_password=True)}"
