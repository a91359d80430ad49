"""The backends the benchmarks run on, and what they load into them.

A backend is used when it answers: SQLite always, PostgreSQL when
``OPENDATA_TEST_DATABASE_URL`` (or ``OPENDATA_BENCH_DATABASE_URL``) names one, OpenSearch
when ``OPENDATA_TEST_OPENSEARCH_URL`` (or ``OPENDATA_BENCH_OPENSEARCH_URL``) does; otherwise
it is skipped with the reason printed. Nothing here sets an ``OPENDATA_*`` variable.

A *bed* is one tabular resource loaded through the record store, with the catalog rows
(a department, a published open dataset, the resource) that the records API needs to
reach it. Beds live in a *workspace*: a temporary folder removed at the end, or the
``--data-dir`` that ``run_all`` passes to every benchmark, so the million records are
loaded once per backend, not once per benchmark. Everything a workspace makes on the
servers is named after its id (PostgreSQL schemas ``bench_<id>_*``, OpenSearch indices
``bench-<id>-*``), and ``cleanup`` removes exactly those.
"""

import contextlib
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import make_url, text

from bench.common import RECORD_FIELDS, record_rows, say, timed
from catalog.backends import Backends
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.models import Dataset, Department, Resource
from catalog.services.departments import ensure_licenses
from catalog.storage.local import LocalObjectStore
from portal.settings import Settings

POSTGRES_URL = os.environ.get("OPENDATA_BENCH_DATABASE_URL") or os.environ.get(
    "OPENDATA_TEST_DATABASE_URL"
)
OPENSEARCH_URL = os.environ.get("OPENDATA_BENCH_OPENSEARCH_URL") or os.environ.get(
    "OPENDATA_TEST_OPENSEARCH_URL"
)
DEMO_DEPARTMENTS = Path(__file__).resolve().parent.parent / "catalog/demo/data/departments.json"
DEMO_THEMES = Path(__file__).resolve().parent.parent / "catalog/demo/data/themes.json"


def demo_departments() -> list[dict]:
    return json.loads(DEMO_DEPARTMENTS.read_text(encoding="utf-8"))


def demo_themes() -> list[dict]:
    return json.loads(DEMO_THEMES.read_text(encoding="utf-8"))


# -- which backends answer ---------------------------------------------------------------------


def skip_reason(backend: str) -> str | None:
    """Why the backend cannot be benchmarked here, or None when it answers."""
    if backend == "postgresql":
        if not POSTGRES_URL:
            return 'OPENDATA_TEST_DATABASE_URL is not set (eval "$(scripts/services.sh env)")'
        try:
            engine = create_database_engine(POSTGRES_URL)
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as error:  # noqa: BLE001 - printed as the reason to skip
            return f"PostgreSQL does not answer: {type(error).__name__}: {error}"
    if backend == "opensearch":
        if not OPENSEARCH_URL:
            return 'OPENDATA_TEST_OPENSEARCH_URL is not set (eval "$(scripts/services.sh env)")'
        try:
            opensearch_client().info()
        except Exception as error:  # noqa: BLE001 - printed as the reason to skip
            return f"OpenSearch does not answer: {type(error).__name__}: {error}"
    return None


def opensearch_store_reason() -> str | None:
    """Why there is no OpenSearch record store to benchmark, or None when there is."""
    try:
        from catalog.records.engines import OpenSearchRecordStore  # noqa: F401
    except ImportError as error:
        return f"catalog.records.engines.OpenSearchRecordStore is not importable ({error})"
    return None


def opensearch_client():
    from catalog.search.engines import client_url
    from catalog.search.opensearch import OpenSearchCatalogIndex

    return OpenSearchCatalogIndex.make_client(client_url(OPENSEARCH_URL))


def postgres_url_in_schema(schema: str) -> str:
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def psycopg_conninfo(database_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg takes it (options kept)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


# -- beds and the workspace --------------------------------------------------------------------


def bench_settings(instance: Path, database_url: str, search_url: str, prefix: str) -> Settings:
    return Settings.load(
        environ={},
        overrides={
            "instance_path": str(instance),
            "database_url": database_url,
            "storage_url": (instance / "objects").as_uri(),
            "search_url": search_url,
            "search_index_prefix": prefix,
            "queue_url": f"sqlite:///{instance / 'queue.db'}",
            "secret_key": "bench-secret-key",
            # The benchmarks measure the portal, not its rate limit.
            "rate_limit": "1000000000/minute",
        },
    )


def open_backends(settings: Settings, records_on: str) -> Backends:
    """The backends the app would build from these settings, built by hand so that the
    catalog index and the record store can be chosen apart (the OpenSearch record store may
    not exist yet while the OpenSearch catalog index does)."""
    from catalog.records.sql import SqlRecordStore
    from catalog.search import catalog_index_from_settings

    engine = create_database_engine(settings.database_url)
    if records_on == "opensearch":
        from catalog.records.engines import OpenSearchRecordStore

        record_store = OpenSearchRecordStore.from_settings(settings)
    else:
        record_store = SqlRecordStore(engine)
    return Backends(
        engine=engine,
        sessions=session_factory(engine),
        object_store=LocalObjectStore(settings.instance_path / "objects"),
        catalog_index=catalog_index_from_settings(settings),
        record_store=record_store,
    )


@dataclass
class Bed:
    """One tabular resource's records, loaded through the record store of a backend."""

    backend: str
    rows: int
    instance: str
    database_url: str
    search_url: str
    index_prefix: str
    dataset_slug: str
    resource_id: str
    loaded: bool = False

    def settings(self) -> Settings:
        return bench_settings(
            Path(self.instance), self.database_url, self.search_url, self.index_prefix
        )

    def open_backends(self) -> Backends:
        return open_backends(self.settings(), self.backend)

    @property
    def records_path(self) -> str:
        return f"/api/v1/datasets/{self.dataset_slug}/resources/{self.resource_id}/records"


class Workspace:
    """Where the benchmarks keep what they load; see the module's docstring."""

    def __init__(self, data_dir: str | None):
        self.keep = data_dir is not None
        self.root = Path(data_dir or tempfile.mkdtemp(prefix="opendata-bench-")).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._manifest_path = self.root / "manifest.json"
        if self._manifest_path.exists():
            self.manifest = json.loads(self._manifest_path.read_text())
        else:
            self.manifest = {"id": secrets.token_hex(3), "beds": {}}
            self._save()

    @property
    def id(self) -> str:
        return self.manifest["id"]

    def _save(self) -> None:
        self._manifest_path.write_text(json.dumps(self.manifest, indent=1, ensure_ascii=False))

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *_exc) -> None:
        if not self.keep:
            self.cleanup()

    def scratch_name(self, purpose: str, separator: str = "_") -> str:
        """A name for a throwaway table, schema or index that cleanup will remove."""
        return separator.join(("bench", self.id, purpose, secrets.token_hex(2)))

    def postgres_schema(self, purpose: str) -> str:
        schema = self.scratch_name(purpose)
        engine = create_database_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        return schema

    def drop_postgres_schema(self, schema: str) -> None:
        engine = create_database_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()

    def bed(self, backend: str, rows: int, fresh: bool = False) -> Bed:
        """The workspace's bed of that backend and size; a new, empty one when there is
        none or fresh is asked (the catalog rows made, the records not yet loaded)."""
        key = f"{backend}-{rows}"
        known = self.manifest["beds"].get(key)
        if known and not fresh:
            return Bed(**known)
        if known:
            self._drop_bed(Bed(**known))
        instance = self.root / key
        shutil.rmtree(instance, ignore_errors=True)
        instance.mkdir(parents=True)
        if backend == "postgresql":
            database_url = postgres_url_in_schema(self.postgres_schema(f"records{rows}"))
        else:
            database_url = f"sqlite:///{instance / 'catalog.db'}"
        if backend == "opensearch":
            search_url = OPENSEARCH_URL
        else:
            search_url = f"sqlite:///{instance / 'search.db'}"
        bed = Bed(
            backend=backend,
            rows=rows,
            instance=str(instance),
            database_url=database_url,
            search_url=search_url,
            index_prefix=f"bench-{self.id}-{rows}",
            dataset_slug=f"bench-records-{rows}",
            resource_id=str(uuid.uuid4()),
        )
        _make_catalog_rows(bed)
        self.manifest["beds"][key] = asdict(bed)
        self._save()
        return bed

    def mark_loaded(self, bed: Bed) -> None:
        bed.loaded = True
        self.manifest["beds"][f"{bed.backend}-{bed.rows}"] = asdict(bed)
        self._save()

    def loaded_bed(self, backend: str, rows: int) -> Bed:
        """A bed with its records loaded, loading them now if no benchmark did before."""
        bed = self.bed(backend, rows)
        if bed.loaded:
            say(f"{backend}: reusing the {rows:,} records loaded in {self.root}")
            return bed
        say(f"{backend}: loading {rows:,} records through the record store")
        backends = bed.open_backends()
        try:
            _, seconds = timed(lambda: load_records(backends.record_store, bed))
        finally:
            backends.dispose()
        say(f"{backend}: loaded {rows:,} records in {seconds:.1f} s")
        self.mark_loaded(bed)
        return bed

    def _drop_bed(self, bed: Bed) -> None:
        if bed.backend == "postgresql":
            options = make_url(bed.database_url).query.get("options", "")
            self.drop_postgres_schema(options.removeprefix("-csearch_path="))
        if bed.backend == "opensearch":
            delete_indices(f"{bed.index_prefix}*")
        shutil.rmtree(bed.instance, ignore_errors=True)

    def cleanup(self) -> None:
        """Remove everything this workspace made: its schemas, indices and folder."""
        if POSTGRES_URL and skip_reason("postgresql") is None:
            engine = create_database_engine(POSTGRES_URL)
            with engine.begin() as connection:
                schemas = connection.scalars(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :pattern"),
                    {"pattern": f"bench\\_{self.id}\\_%"},
                ).all()
                for schema in schemas:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
        if OPENSEARCH_URL and skip_reason("opensearch") is None:
            delete_indices(f"bench-{self.id}-*")
        shutil.rmtree(self.root, ignore_errors=True)


def delete_indices(pattern: str) -> None:
    """Delete the OpenSearch indices matching the pattern, by name (never a wildcard
    delete, which a cluster may refuse or apply more widely than meant)."""
    client = opensearch_client()
    names = list(client.indices.get(index=pattern, expand_wildcards="all"))
    if names:
        client.indices.delete(index=",".join(names))


def _make_catalog_rows(bed: Bed) -> None:
    """The catalog rows that lead the records API to the bed's resource."""
    engine = create_database_engine(bed.database_url)
    upgrade_database(engine)
    department = demo_departments()[0]
    with session_factory(engine)() as session:
        ensure_licenses(session)
        owner = Department(
            slug=department["slug"],
            name=department["name"],
            name_en=department["name_en"],
            code=department["code"],
        )
        dataset = Dataset(
            slug=bed.dataset_slug,
            title=f"禅城区单位名录（{bed.rows:,} 条记录，基准测试）",
            description="基准测试生成的数据。",
            department=owner,
            license_id="gov-open",
            open_type="unconditional",
            share_type="unconditional",
            state="published",
        )
        dataset.resources.append(
            Resource(
                id=bed.resource_id,
                name="单位名录",
                format="CSV",
                url="https://example.invalid/bench.csv",
                fields=[
                    {"name": f.name, "title": f.title, "type": f.type, "sensitive": f.sensitive}
                    for f in RECORD_FIELDS
                ],
                row_count=bed.rows,
            )
        )
        session.add(dataset)
        session.commit()
    engine.dispose()


def load_records(store, bed: Bed) -> int:
    """RecordStore.create + append of the bed's generated rows: what index_records times."""
    store.create(bed.resource_id, RECORD_FIELDS)
    return store.append(bed.resource_id, record_rows(bed.rows))


# -- the raw engines' view of a loaded resource -------------------------------------------------


def sql_record_table(engine, resource_id: str) -> tuple[str, list[dict]]:
    """(table name, fields) of the resource, from the SQL record store's registry table."""
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT table_name, fields_json FROM record_tables WHERE resource_id = :id"),
            {"id": resource_id},
        ).one()
    return row.table_name, json.loads(row.fields_json)


def sql_columns(fields: list[dict]) -> dict[str, list[str]]:
    """Field name -> its column(s), as catalog.records.sql lays them out (c<i>, a geo point
    as c<i>_lat and c<i>_lon); read from its docstring's contract, not its internals."""
    columns = {}
    for i, field in enumerate(fields):
        if field["type"] == "geo_point":
            columns[field["name"]] = [f"c{i}_lat", f"c{i}_lon"]
        else:
            columns[field["name"]] = [f"c{i}"]
    return columns


# -- HTTP ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def waitress_server(app, threads: int = 4) -> Iterator[tuple[str, int]]:
    """The app served by waitress on a loopback port, in a thread of this process."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.effective_port
    finally:
        from waitress import wasyncore

        # Workers first (one may still pull the trigger), then every socket; the loop ends
        # when its map is empty.
        server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(server._map)
        thread.join(timeout=5)


class KeepAliveClient:
    """GET over one persistent HTTP/1.1 connection, as a simple API client would."""

    def __init__(self, host: str, port: int, headers: dict | None = None):
        self.connection = http.client.HTTPConnection(host, port, timeout=600)
        self.headers = headers or {}

    def get(self, path: str, headers: dict | None = None) -> bytes:
        self.connection.request("GET", path, headers={**self.headers, **(headers or {})})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return body

    def stream(self, path: str, chunk: int = 65536) -> int:
        """GET and read the body in chunks, keeping none of it; the byte count."""
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {response.read(300)!r}")
        size = 0
        while part := response.read(chunk):
            size += len(part)
        return size

    def close(self) -> None:
        self.connection.close()


def run_bench_worker(module: str, worker_arg: str, workspace: "Workspace", bed: Bed) -> dict:
    """Run ``python -m module --worker worker_arg`` on the bed in a fresh process (whose
    memory high-water mark is then its own) and return the JSON its last line prints."""
    command = [
        sys.executable,
        "-m",
        module,
        "--worker",
        worker_arg,
        "--data-dir",
        str(workspace.root),
        "--bed-key",
        f"{bed.backend}-{bed.rows}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{module} --worker {worker_arg} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
