"""Export every record of a resource: rows per second against the raw engine scan (issue
5's target: the CSV endpoint at least 0.7 of the raw scan) and peak memory, at two sizes
(default 100,000 and 1,000,000 records) to show whether memory stays flat.

Each export runs in a fresh Python process that builds the app and the backends, notes
its resident memory (``before``, VmRSS), exports, and reports its peak resident memory
(VmHWM, the high-water mark of the process's own memory; not ``getrusage``'s
``ru_maxrss``, which Linux carries over an exec from the forking parent); the growth is
peak minus before. Ways of exporting:

- raw scan: SQLite ``SELECT`` of every column in ``_id`` order read with ``fetchmany``
  (1,000 a call); PostgreSQL the same through a server-side (named) psycopg cursor;
  OpenSearch ``search_after`` pages of 1,000 in a point in time;
- ``RecordStore.export`` with an empty query: its batches by column (what the CSV export
  reads), and the same rows iterated as one dict each;
- ``GET .../records/export?format=csv`` through the Flask test client, the streamed body
  read and thrown away (an anonymous caller: the sensitive field, 联系电话, is masked);
- the same GET to the app served by waitress on loopback, read in 64 kB pieces (the
  server and the client share the process, so the peak covers both): anonymous, and as
  a sysadmin token, who sees every field unmasked (what masking costs).

The app's direct-export limit (``export_direct_max_rows``) is raised to the size measured,
so the endpoint streams rather than queueing a job.

Targets: the CSV endpoint through waitress at least 0.7 x the raw scan's rows/s; memory
flat and under 200 MB whatever the size.

    .venv/bin/python -m bench.export_records [--rows N] [--backends ...]
"""

import json
import sys
import time
from dataclasses import replace

from bench.backends import (
    Bed,
    KeepAliveClient,
    Workspace,
    opensearch_client,
    opensearch_store_reason,
    psycopg_conninfo,
    run_bench_worker,
    skip_reason,
    sql_record_table,
    waitress_server,
)
from bench.common import (
    FULL_ROWS,
    SMALL_ROWS,
    chosen_backends,
    machine_note,
    parser,
    print_table,
    say,
)

UNMASKED = "HTTP CSV (waitress), unmasked"
MODES = (
    "raw scan",
    "RecordStore.export batches",
    "RecordStore.export dicts",
    "HTTP CSV (Flask client)",
    "HTTP CSV (waitress)",
    UNMASKED,
)
ENDPOINT = "HTTP CSV (waitress)"  # the way the target is about
TARGET = 0.7
LIMIT_MB = 200
BATCH = 1000
ALL_COLUMNS = "_id, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9_lat, c9_lon"


def memory_kb(name: str) -> int:
    """VmRSS (resident now) or VmHWM (resident at most) of this process, in kB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/self/status")


# -- in the worker process ------------------------------------------------------------------------


def raw_scan(bed: Bed, ports, _app) -> tuple[int, int]:
    if bed.backend == "opensearch":
        return _raw_scan_opensearch(bed)
    table, _fields = sql_record_table(ports.engine, bed.resource_id)
    statement = f"SELECT {ALL_COLUMNS} FROM {table} ORDER BY _id"  # noqa: S608
    rows = 0
    if bed.backend == "sqlite":
        import sqlite3

        from sqlalchemy import make_url

        connection = sqlite3.connect(make_url(bed.database_url).database)
        cursor = connection.execute(statement)
        while batch := cursor.fetchmany(BATCH):
            rows += len(batch)
        connection.close()
        return rows, 0
    import psycopg

    with (
        psycopg.connect(psycopg_conninfo(bed.database_url)) as connection,
        connection.cursor(name="bench_scan") as cursor,
    ):
        cursor.itersize = BATCH
        cursor.execute(statement)
        while batch := cursor.fetchmany(BATCH):
            rows += len(batch)
    return rows, 0


def _raw_scan_opensearch(bed: Bed) -> tuple[int, int]:
    client = opensearch_client()
    found = [
        (name, index["mappings"])
        for name, index in client.indices.get(index=f"{bed.index_prefix}*").items()
        if index["mappings"].get("_meta", {}).get("resource_id") == bed.resource_id
    ]
    if not found:
        raise RuntimeError(f"No index of resource {bed.resource_id}")
    name, mappings = found[0]
    columns = {f["column"] for f in mappings["_meta"]["fields"]}
    (row,) = set(mappings["properties"]) - columns  # the row number, the sort's key
    pit = client.create_pit(index=name, keep_alive="2m")["pit_id"]
    rows, after = 0, None
    try:
        while True:
            body = {
                "size": BATCH,
                "sort": [{row: "asc"}],
                "track_total_hits": False,
                "pit": {"id": pit, "keep_alive": "2m"},
            }
            if after is not None:
                body["search_after"] = after
            hits = client.search(body=body)["hits"]["hits"]
            rows += len(hits)
            if len(hits) < BATCH:
                break
            after = hits[-1]["sort"]
    finally:
        client.delete_pit(body={"pit_id": [pit]})
    return rows, 0


def store_batches(bed: Bed, ports, _app) -> tuple[int, int]:
    from catalog.interfaces import RecordQuery

    rows = 0
    for batch in ports.record_store.export(bed.resource_id, RecordQuery()).batches():
        rows += len(batch.ids)
    return rows, 0


def store_dicts(bed: Bed, ports, _app) -> tuple[int, int]:
    from catalog.interfaces import RecordQuery

    rows = 0
    for _row in ports.record_store.export(bed.resource_id, RecordQuery()):
        rows += 1
    return rows, 0


def _lines(size_and_newlines: tuple[int, int]) -> tuple[int, int]:
    size, newlines = size_and_newlines
    return newlines - 1, size  # less the header


def flask_export(bed: Bed, _ports, app) -> tuple[int, int]:
    client = app.test_client()
    response = client.get(bed.records_path + "/export?format=csv", buffered=False)
    if response.status_code != 200:
        raise RuntimeError(f"export answered {response.status_code}")
    size = newlines = 0
    for chunk in response.response:
        size += len(chunk)
        newlines += chunk.count(b"\n")
    response.close()
    return _lines((size, newlines))


def waitress_export(bed: Bed, _ports, app, headers: dict | None = None) -> tuple[int, int]:
    with waitress_server(app) as (host, port):
        client = KeepAliveClient(host, port, headers)
        client.connection.request("GET", bed.records_path + "/export?format=csv")
        response = client.connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"export answered {response.status}")
        size = newlines = 0
        while part := response.read(65536):
            size += len(part)
            newlines += part.count(b"\n")
        client.close()
    return _lines((size, newlines))


def sysadmin_token(ports) -> str:
    """A new sysadmin's API token: sysadmins see sensitive fields unmasked."""
    import secrets

    from catalog.policy import Actor
    from catalog.services.users import create_token, create_user

    with ports.sessions() as session:
        bench = Actor(name="bench", sysadmin=True)
        user = create_user(session, bench, f"bench-{secrets.token_hex(4)}", sysadmin=True)
        _row, token = create_token(session, bench, user)
    return token


WORKERS = {
    "raw scan": raw_scan,
    "RecordStore.export batches": store_batches,
    "RecordStore.export dicts": store_dicts,
    "HTTP CSV (Flask client)": flask_export,
    "HTTP CSV (waitress)": waitress_export,
    "HTTP CSV (waitress), unmasked": waitress_export,
}


def worker(data_dir: str, key: str, mode: str) -> None:
    """Run one export in this process and print what it measured as JSON."""
    from portal.app import create_app

    workspace = Workspace(data_dir)
    bed = Bed(**workspace.manifest["beds"][key])
    ports = bed.open_backends()
    settings = bed.settings()
    # Streamed whatever the size: the direct-export limit would queue a job past it.
    settings = replace(
        settings, export_direct_max_rows=max(bed.rows, settings.export_direct_max_rows)
    )
    app = create_app(settings, ports)  # every way pays for the same app and imports
    extra = {}
    if mode == UNMASKED:
        token = sysadmin_token(ports)
        extra["headers"] = {"Authorization": f"Bearer {token}"}
        # Its first request pays for loading the user: not what the export costs.
        app.test_client().get("/api/v1/datasets", headers=extra["headers"])
    before = memory_kb("VmRSS")
    started = time.perf_counter()
    rows, size = WORKERS[mode](bed, ports, app, **extra)
    seconds = time.perf_counter() - started
    peak = memory_kb("VmHWM")
    ports.dispose()
    print(
        json.dumps(
            {"rows": rows, "bytes": size, "seconds": seconds, "before": before, "peak": peak}
        )
    )


# -- the parent ------------------------------------------------------------------------------------


def run_worker(workspace: Workspace, bed: Bed, mode: str) -> dict:
    return run_bench_worker("bench.export_records", mode, workspace, bed)


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--rows", type=int, default=None, help=f"default {FULL_ROWS:,}")
    arguments.add_argument(
        "--opensearch-rows", type=int, default=None, help="records on OpenSearch (default --rows)"
    )
    arguments.add_argument("--worker", choices=MODES, help=argparse_hidden())
    arguments.add_argument("--bed-key", help=argparse_hidden())
    args = arguments.parse_args(argv)
    if args.worker:
        worker(args.data_dir, args.bed_key, args.worker)
        return 0
    rows = args.rows or (SMALL_ROWS if args.small else FULL_ROWS)
    print(f"# export_records: up to {rows:,} records\n# {machine_note()}")
    table, notes = [], []
    raw_rates: dict[tuple[str, int], float] = {}
    with Workspace(args.data_dir) as workspace:
        for backend in chosen_backends(args.backends):
            reason = skip_reason(backend)
            if reason is None and backend == "opensearch":
                reason = opensearch_store_reason()
            if reason:
                notes.append(f"{backend}: skipped, {reason}")
                continue
            largest = (args.opensearch_rows or rows) if backend == "opensearch" else rows
            for size in sorted({max(1, largest // 10), largest}):
                bed = workspace.loaded_bed(backend, size)
                for mode in MODES:
                    say(f"{backend}: {mode} of {size:,} records")
                    result = run_worker(workspace, bed, mode)
                    if result["rows"] != size:
                        notes.append(f"{backend} {mode}: {result['rows']:,} rows, not {size:,}!")
                    growth = (result["peak"] - result["before"]) / 1024
                    peak = result["peak"] / 1024
                    rate = size / result["seconds"]
                    if mode == "raw scan":
                        raw_rates[backend, size] = rate
                    versus = (
                        rate / raw_rates[backend, size] if (backend, size) in raw_rates else None
                    )
                    table.append(
                        [
                            backend,
                            size,
                            mode,
                            result["seconds"],
                            rate,
                            f"{versus:.2f}x" if versus else "-",
                            result["bytes"] / 2**20 if result["bytes"] else None,
                            result["before"] / 1024,
                            peak,
                            growth,
                            "ok" if peak < LIMIT_MB else "OVER",
                        ]
                    )
    print_table(
        f"Exporting every record (memory in MB; target: peak under {LIMIT_MB} MB and flat)",
        [
            "backend",
            "records",
            "way",
            "seconds",
            "rows/s",
            "vs raw",
            "CSV MB",
            "RSS before",
            "RSS peak",
            "growth",
            "< 200 MB",
        ],
        table,
    )
    verdicts = [
        [
            backend,
            size,
            rate,
            raw_rates[backend, size],
            f"{rate / raw_rates[backend, size]:.2f}x",
            "meets target" if rate >= TARGET * raw_rates[backend, size] else "below target",
        ]
        for backend, size, mode, _s, rate, *_rest in table
        if mode == ENDPOINT and (backend, size) in raw_rates
    ]
    print_table(
        f"The CSV endpoint (anonymous, through waitress) against the raw scan (target >= {TARGET})",
        ["backend", "records", "endpoint rows/s", "raw rows/s", "endpoint/raw", "verdict"],
        verdicts,
    )
    for note in notes:
        print(f"  note: {note}")
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
