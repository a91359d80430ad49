"""Harvest a 10,000-dataset CKAN catalog served locally: datasets per second; then harvest
it again unchanged: its time as a fraction of the first (target: at most 0.1) and zero
writes.

The catalog (bench.ckan_catalog) is generated as CKAN package dicts of the shape of
demo.ckan.org's package_search, with Chinese titles, descriptions and tags, one or two
link resources each (API, HTML) and, with ``--files``, a small CSV file each; a
``ThreadingHTTPServer`` in a process of its own serves it on loopback.

Per backend (the catalog database: SQLite by default, PostgreSQL too with ``--backends
sqlite,postgresql``; the record store lives in it, the object store is a fresh folder,
the search index SQLite), into fresh backends:

- gather only: ``CkanSource.gather()`` iterated without syncing (HTTP, JSON, mapping);
- the first run: ``harvesters.runner.run_job`` of a new job of a CKAN harvest source, with
  the fetcher the worker builds from the settings (loopback allowed for this server);
- the second run, nothing changed: its time against the first's, and what it wrote:
  audit events, search outbox rows, datasets modified, dataset revisions, resource
  versions, harvest objects, record tables and object-store objects, counted before and
  after (nothing may be new).

``--profile`` runs a third, unchanged harvest under cProfile and prints where its time goes.

    .venv/bin/python -m bench.harvest_ckan [--datasets N] [--files] [--small]
        [--backends sqlite,postgresql] [--page-size 100] [--profile]
"""

import cProfile
import pstats
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, inspect, select

from bench.backends import Workspace, demo_departments, demo_themes, skip_reason
from bench.backends import postgres_url_in_schema as schema_url
from bench.ckan_catalog import served_catalog
from bench.common import chosen_backends, fmt_ratio, machine_note, parser, print_table, ratio, say
from catalog.backends import Backends
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.models import (
    AuditEvent,
    Dataset,
    HarvestJob,
    HarvestObject,
    ResourceVersion,
    SearchOutbox,
    Theme,
)
from catalog.policy import Actor
from catalog.records.sql import SqlRecordStore, record_tables
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.services.departments import DepartmentValues, create_department, ensure_licenses
from catalog.services.harvest import SourceValues, create_source, request_job
from catalog.storage.local import LocalObjectStore
from harvesters.fetch import HttpFetcher
from harvesters.interfaces import GatherFailure, SourceSpec
from harvesters.runner import run_job
from harvesters.sources.ckan import CkanSource
from harvesters.specs import check_spec
from portal.settings import Settings

FULL_DATASETS = 10_000
SMALL_DATASETS = 500
TARGET = 0.1
SYSTEM = Actor(name="bench", sysadmin=True)
RUN_COLUMNS = ("backend", "run", "datasets", "seconds", "datasets/s")
# What the second run must not add to: counted before and after it.
WRITES = (
    "audit events",
    "outbox rows",
    "datasets modified",
    "dataset revisions",
    "resource versions",
    "harvest objects",
    "record tables",
    "store objects",
)


# -- the portal's side --------------------------------------------------------------------------


def fresh_backends(root: Path, database_url: str) -> tuple[Backends, Settings]:
    """Empty backends of a portal under ``root``, with the demo's first department (the
    harvest source's) and the demo themes (the CKAN groups map onto them)."""
    settings = Settings.load(
        environ={},
        overrides={
            "instance_path": str(root),
            "database_url": database_url,
            "storage_url": (root / "objects").as_uri(),
            "search_url": f"sqlite:///{root / 'search.db'}",
            "secret_key": "bench-secret-key",
            "harvest_allow_private_addresses": True,  # the catalog is served on loopback
        },
    )
    engine = create_database_engine(database_url)
    upgrade_database(engine)
    catalog_index = SqliteCatalogIndex(root / "search.db")
    catalog_index.ensure()
    backends = Backends(
        engine=engine,
        sessions=session_factory(engine),
        object_store=LocalObjectStore(root / "objects"),
        catalog_index=catalog_index,
        record_store=SqlRecordStore(engine),
    )
    with backends.sessions() as session:
        ensure_licenses(session)
        create_department(session, SYSTEM, DepartmentValues(**demo_departments()[0]))
        for theme in demo_themes():
            session.add(Theme(slug=theme["slug"], name=theme["name"], name_en=theme["name_en"]))
        session.commit()
    return backends, settings


def add_source(backends: Backends, url: str, page_size: int | None) -> str:
    config = {"page_size": page_size} if page_size else {}
    values = SourceValues(name="区级 CKAN 门户", kind="ckan", url=url, config=config)
    with backends.sessions() as session:
        source = create_source(session, SYSTEM, demo_departments()[0]["slug"], values, check_spec)
        return source.id


def harvest(backends: Backends, settings: Settings, source_id: str, profile=None):
    with backends.sessions() as session:
        job_id = request_job(session, SYSTEM, source_id).id
    with HttpFetcher.from_settings(settings) as fetcher:
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        job = run_job(backends, settings, job_id, fetcher=fetcher, worker_name="bench")
        if profile is not None:
            profile.disable()
        seconds = time.perf_counter() - started
    if job.status != "succeeded":
        raise RuntimeError(f"the harvest job {job.status}: {job.error}")
    return job, seconds


def gather_only(settings: Settings, url: str, page_size: int | None) -> tuple[int, int, float]:
    """(datasets, gather failures, seconds) of iterating the source without syncing."""
    config = {"page_size": page_size} if page_size else {}
    with HttpFetcher.from_settings(settings) as fetcher:
        gathered = failures = 0
        started = time.perf_counter()
        for item in CkanSource(SourceSpec(url, config), fetcher).gather():
            if isinstance(item, GatherFailure):
                failures += 1
            else:
                gathered += 1
        seconds = time.perf_counter() - started
    return gathered, failures, seconds


def writes(backends: Backends, since: datetime) -> dict[str, int]:
    """What a harvest writes, counted (WRITES); datasets modified are those since ``since``."""
    root = backends.object_store.root
    has_registry = inspect(backends.engine).has_table(record_tables.name)
    with backends.sessions() as session:

        def count(table, *where) -> int:
            return session.scalar(select(func.count()).select_from(table).where(*where))

        counted = (
            count(AuditEvent),
            count(SearchOutbox),
            count(Dataset, Dataset.modified_at >= since),
            session.scalar(select(func.coalesce(func.sum(Dataset.revision), 0))),
            count(ResourceVersion),
            count(HarvestObject),
            count(record_tables) if has_registry else 0,
            sum(1 for path in root.rglob("*") if path.is_file()) if root.exists() else 0,
        )
    return dict(zip(WRITES, counted, strict=True))


def print_profile(profile: cProfile.Profile) -> None:
    stats = pstats.Stats(profile, stream=sys.stdout)
    print("\nWhere an unchanged run's time goes (cProfile, by cumulative time, top 30)")
    stats.strip_dirs().sort_stats("cumulative").print_stats(30)
    print("By own time, top 20")
    stats.sort_stats("tottime").print_stats(20)


@dataclass
class Figures:
    """One backend's measurements."""

    backend: str
    datasets: int
    gathered: int
    gather_failures: int
    gather_seconds: float
    first: HarvestJob
    first_seconds: float
    second: HarvestJob
    second_seconds: float
    new_writes: dict[str, int]

    def run_rows(self) -> list[list]:
        speed = self.gathered / self.gather_seconds
        rows = [[self.backend, "gather only", self.gathered, self.gather_seconds, speed]]
        rows[0] += [None, None, None, self.gather_failures]
        for label, job, seconds in (
            ("first run", self.first, self.first_seconds),
            ("second run (unchanged)", self.second, self.second_seconds),
        ):
            speed = self.datasets / seconds
            counts = [job.created, job.updated, job.unchanged, job.failed]
            rows.append([self.backend, label, self.datasets, seconds, speed, *counts])
        return rows

    def split_row(self) -> list:
        imported = self.first_seconds - self.gather_seconds
        return [
            self.backend,
            self.first_seconds,
            self.gather_seconds,
            f"{self.gather_seconds / self.first_seconds:.0%}",
            imported,
            imported / self.datasets * 1000,
        ]

    def verdict_row(self) -> list:
        second = ratio(self.second_seconds, self.first_seconds)
        return [
            self.backend,
            self.first_seconds,
            self.second_seconds,
            fmt_ratio(second),
            "meets target" if second is not None and second <= TARGET else "misses target",
            *self.new_writes.values(),
            "none" if not any(self.new_writes.values()) else "WRITES",
        ]


def run_backend(workspace: Workspace, backend: str, url: str, count: int, args) -> Figures:
    """Gather, harvest and harvest again into fresh backends; they are removed after."""
    root = workspace.root / f"harvest_ckan-{backend}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    schema = workspace.postgres_schema("harvest") if backend == "postgresql" else None
    database_url = schema_url(schema) if schema else f"sqlite:///{root / 'catalog.db'}"
    backends, settings = fresh_backends(root, database_url)
    try:
        say(f"{backend}: gathering {count:,} datasets without syncing")
        gathered, failures, gather_seconds = gather_only(settings, url, args.page_size)
        say(f"{backend}: first harvest of {count:,} datasets")
        source_id = add_source(backends, url, args.page_size)
        first, first_seconds = harvest(backends, settings, source_id)
        say(f"{backend}: {first_seconds:.1f} s; second harvest, nothing changed")
        second_started = datetime.now(UTC)
        before = writes(backends, second_started)
        second, second_seconds = harvest(backends, settings, source_id)
        after = writes(backends, second_started)
        say(f"{backend}: {second_seconds:.1f} s")
        if args.profile:
            say(f"{backend}: a third, unchanged harvest under cProfile")
            profile = cProfile.Profile()
            harvest(backends, settings, source_id, profile)
            print(f"\n# {backend}")
            print_profile(profile)
    finally:
        backends.dispose()
        shutil.rmtree(root, ignore_errors=True)
        if schema:
            workspace.drop_postgres_schema(schema)
    return Figures(
        backend=backend,
        datasets=count,
        gathered=gathered,
        gather_failures=failures,
        gather_seconds=gather_seconds,
        first=first,
        first_seconds=first_seconds,
        second=second,
        second_seconds=second_seconds,
        new_writes={name: after[name] - before[name] for name in after},
    )


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.set_defaults(backends="sqlite")
    arguments.add_argument("--datasets", type=int, help=f"default {FULL_DATASETS:,}")
    arguments.add_argument("--files", action="store_true", help="a small CSV file per dataset")
    arguments.add_argument("--page-size", type=int, help="package_search rows (default 100)")
    arguments.add_argument("--profile", action="store_true", help="profile an unchanged run")
    args = arguments.parse_args(argv)
    count = args.datasets or (SMALL_DATASETS if args.small else FULL_DATASETS)
    files = " and a CSV file" if args.files else ""
    print(f"# harvest_ckan: {count:,} CKAN datasets with 1-2 link resources{files} each")
    print(f"# {machine_note()}")
    figures: list[Figures] = []
    notes = []
    with served_catalog(count, args.files) as url, Workspace(args.data_dir) as workspace:
        say(f"serving {count:,} CKAN datasets at {url}")
        for backend in chosen_backends(args.backends):
            if backend == "opensearch":
                notes.append(
                    "opensearch: not run; a harvest writes the catalog database and the "
                    "object store, and the search index is fed later from the outbox"
                )
                continue
            reason = skip_reason(backend)
            if reason:
                notes.append(f"{backend}: skipped, {reason}")
                continue
            figures.append(run_backend(workspace, backend, url, count, args))
    print_table(
        f"Harvesting {count:,} CKAN datasets served on loopback (datasets/s)",
        [*RUN_COLUMNS, "created", "updated", "unchanged", "failed"],
        [row for figure in figures for row in figure.run_rows()],
    )
    print_table(
        "Where the first run's time goes: gather (HTTP + JSON + mapping) against import",
        ["backend", "first run s", "gather s", "gather share", "import s", "import ms/dataset"],
        [figure.split_row() for figure in figures],
    )
    print_table(
        f"The unchanged second run against the first (target <= {TARGET}) and what it wrote "
        "(target: nothing new)",
        [
            *("backend", "first s", "second s", "second/first", "verdict"),
            *(f"new {name}" for name in WRITES),
            "writes",
        ],
        [figure.verdict_row() for figure in figures],
    )
    for note in notes:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
