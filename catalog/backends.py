"""The backends chosen by settings, built once at start and shared by web, CLI and workers."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import create_database_engine, schema_status, session_factory
from catalog.interfaces import CatalogIndex, ObjectStore, RecordStore
from catalog.records.sql import SqlRecordStore
from catalog.search import catalog_index_from_settings
from catalog.storage import object_store_from_settings


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

    def check(self) -> list[tuple[str, bool, str]]:
        """(port, answers, detail) for each backend, without raising."""
        results = []
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current, head = schema_status(self.engine)
            detail = f"{self.engine.url.render_as_string(hide_password=True)}, schema {current}"
            if current != head:
                detail += f" (code expects {head}: run `opendata init`)"
            results.append(("database", current == head, detail))
        except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
            results.append(("database", False, f"{type(error).__name__}: {error}"))
        ports = (
            ("object store", self.object_store),
            ("search", self.catalog_index),
            ("records", self.record_store),
        )
        for port, backend in ports:
            try:
                results.append((port, True, backend.check()))
            except Exception as error:  # noqa: BLE001 - reported to the operator, not swallowed
                results.append((port, False, f"{type(error).__name__}: {error}"))
        return results

    def dispose(self) -> None:
        self.engine.dispose()
