"""The demo catalog loaded into a folder of its own, on the embedded backends, with an app
to read it through: for the test modules that check the demo itself or what it exports."""

from pathlib import Path
from types import SimpleNamespace

from catalog.backends import Backends
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.demo.loader import load_demo
from catalog.policy import Actor
from catalog.records.sql import SqlRecordStore
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.storage.local import LocalObjectStore
from portal.indexing import drain
from portal.settings import Settings


def load_demo_instance(folder: Path, operator: Actor) -> SimpleNamespace:
    """backends, report (of the load), app and client; dispose of ``backends.engine``."""
    from portal.app import create_app

    engine = create_database_engine(f"sqlite:///{folder / 'catalog.db'}")
    upgrade_database(engine)
    backends = Backends(
        engine=engine,
        sessions=session_factory(engine),
        object_store=LocalObjectStore(folder / "objects"),
        catalog_index=SqliteCatalogIndex(folder / "search.db"),
        record_store=SqlRecordStore(engine),
    )
    backends.catalog_index.ensure()
    with backends.sessions() as session:
        report = load_demo(session, backends.object_store, backends.record_store, operator)
    drain(backends)
    settings = Settings.load(
        environ={},
        overrides={
            "instance_path": str(folder / "instance"),
            "database_url": f"sqlite:///{folder / 'catalog.db'}",
            "storage_url": (folder / "objects").as_uri(),
            "search_url": f"sqlite:///{folder / 'search.db'}",
            "secret_key": "test-secret-key",
        },
        testing=True,
    )
    app = create_app(settings, backends)
    return SimpleNamespace(backends=backends, report=report, app=app, client=app.test_client())
