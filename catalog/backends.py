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

    @property
    def database_where(self) -> str:
        """The catalog database's URL, its password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def database_status(self) -> tuple[bool, str]:
        """Whether the catalog database is ready for this code, and what to tell the
        operator: where it is and its schema, or what `opendata init` must do first."""
        where = self.database_where
        missing = _missing(_sqlite_file(self.engine.url))
        if missing:
            return False, f"{where}: {missing}"
        try:
            current, head = schema_status(self.engine)
        except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
            return False, f"{where}: {one_line(error)}"
        if current != head:
            return False, f"{where}, schema {current}; the code expects {head}: {INIT_HINT}"
        return True, f"{where}, schema {current}"

    def check(self, queue_url: str, rate_limit_storage_url: str) -> list[tuple[str, bool, str]]:
        """(port, answers, detail) for each backend, the job queue and the rate-limit
        counters' store when one is set, without raising. Creates nothing: an embedded
        backend's missing file or folder is reported as such, an index as missing."""
        database_ready, database_detail = self.database_status()
        results = [("database", database_ready, database_detail)]
        ports = (
            ("object store", self.object_store),
            ("search", self.catalog_index),
            ("records", self.record_store),
        )
        for port, backend in ports:
            missing = _missing(_embedded_path(backend))
            if missing:
                results.append((port, False, missing))
            elif isinstance(backend, SqlRecordStore) and not database_ready:
                # Its check would create its tables in a database `opendata init` has not.
                results.append((port, False, "in the catalog database, which is not ready"))
            else:
                try:
                    results.append((port, True, backend.check()))
                except Exception as error:  # noqa: BLE001 - reported to the operator
                    results.append((port, False, one_line(error)))
        results.append(("queue", *check_queue(queue_url)))
        if rate_limit_storage_url:
            results.append(("rate limits", *check_rate_limit_storage(rate_limit_storage_url)))
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
    """The file or folder an embedded backend keeps its data in, which opening it would
    create; None for a server."""
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


def one_line(error: Exception) -> str:
    """An error as one line for the operator: its kind and what the driver said, without
    SQLAlchemy's statement and link."""
    said = getattr(error, "orig", None) or error
    return f"{type(error).__name__}: {' '.join(str(said).split())}"


def _hide_password(url: str) -> str:
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else url


def check_queue(queue_url: str) -> tuple[bool, str]:
    """Whether the job queue answers, and where it is: the embedded SQLite file (read, never
    created) or a Redis server."""
    database = _sqlite_file(queue_url)
    try:
        if database is not None:
            return _check_sqlite_queue(database)
        return True, _check_redis(queue_url)
    except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
        return False, f"{_hide_password(queue_url)}: {one_line(error)}"


def check_rate_limit_storage(url: str) -> tuple[bool, str]:
    """Whether the store of the rate-limit counters answers: Redis as the queue is checked,
    any other store by Flask-Limiter's own health check."""
    from limits.storage import storage_from_string

    if urlsplit(url).scheme == "memory":
        return True, "memory of each web process"
    try:
        if urlsplit(url).scheme in ("redis", "rediss"):
            return True, _check_redis(url)
        answers = storage_from_string(url).check()
    except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
        return False, f"{_hide_password(url)}: {one_line(error)}"
    return answers, _hide_password(url) + ("" if answers else ": does not answer")


def _check_sqlite_queue(path: Path) -> tuple[bool, str]:
    missing = _missing(path)
    if missing:
        return False, missing
    # mode=rw opens an existing file only; huey's task table holds the waiting jobs.
    uri = f"{path.resolve().as_uri()}?mode=rw"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        waiting = connection.execute("SELECT count(*) FROM task").fetchone()[0]
    return True, f"SQLite file {path.resolve()}, {waiting} jobs waiting"


def _check_redis(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        version = client.info("server")["redis_version"]
    finally:
        client.close()
    return f"Redis {version} at {_hide_password(url)}"
