"""Index N generated records (default 1,000,000; ten mixed-type fields, Chinese text) into
each record store, and the same rows with the raw client, into an equivalent table or index.

Store: ``RecordStore.create`` + ``append`` (which builds the secondary indexes at the end).
Raw, at its best, with what the store builds:

- SQLite: one transaction of ``executemany`` (10,000 rows a call) into a table with the same
  columns, the same FTS5 trigram index (external content) and the same B-tree indexes;
- PostgreSQL: one ``COPY`` through psycopg into a table with the same columns and types,
  then the same B-tree and pg_trgm GIN indexes and ANALYZE;
- OpenSearch: ``opensearchpy.helpers.streaming_bulk`` of the same documents into an index
  with the settings and mapping copied from the store's index (a plain mapping when there
  is no OpenSearch record store yet), refreshed at the end.

Both sides pull their rows from the same lazy generator, so both times include making the
rows; its cost alone is measured too, and the "net" columns leave it out.

    .venv/bin/python -m bench.index_records [--rows N] [--backends sqlite,postgresql,...]
"""

import sqlite3
import sys
import time
from itertools import islice
from pathlib import Path

from bench.backends import (
    Workspace,
    load_records,
    opensearch_client,
    opensearch_store_reason,
    postgres_url_in_schema,
    psycopg_conninfo,
    skip_reason,
)
from bench.common import (
    FULL_ROWS,
    RECORD_FIELDS,
    SMALL_ROWS,
    chosen_backends,
    drain,
    fmt_ratio,
    machine_note,
    parser,
    print_table,
    ratio,
    record_rows,
    say,
    timed,
)
from catalog.search.engines import INDEX_SETTINGS

TARGET = 0.8
SQLITE_BATCH = 10_000
BULK_CHUNK = 2_000
TEXT_COLUMNS = ("c0", "c1", "c2", "c3")
B_TREE_COLUMNS = ("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7")


def _check_layout() -> None:
    """The raw loaders below are written by hand for RECORD_FIELDS, as a raw loader is."""
    types = [f.type for f in RECORD_FIELDS]
    expected = ["text"] * 4 + ["integer", "number", "date", "datetime", "boolean", "geo_point"]
    if types != expected:
        raise SystemExit(f"bench.index_records expects fields of types {expected}, not {types}")


NAMES = [f.name for f in RECORD_FIELDS]


def sqlite_tuple(row: dict) -> tuple:
    n = NAMES
    day, moment, point = row[n[6]], row[n[7]], row[n[9]]
    return (
        row["_id"],
        row[n[0]],
        row[n[1]],
        row[n[2]],
        row[n[3]],
        row[n[4]],
        row[n[5]],
        None if day is None else day.isoformat(),
        None if moment is None else moment.isoformat(" ", "microseconds"),
        row[n[8]],
        None if point is None else point[0],
        None if point is None else point[1],
    )


def postgres_tuple(row: dict) -> tuple:
    n = NAMES
    point = row[n[9]]
    return (
        row["_id"],
        *(row[name] for name in n[:9]),
        None if point is None else point[0],
        None if point is None else point[1],
    )


def opensearch_maker(row_field: str, columns: dict[str, str]):
    """A function from a row to its document: typed values as JSON, geo points as
    {lat, lon}, missing values left out, under the engine field names of the index."""
    plan = [(f.name, columns[f.name], f.type) for f in RECORD_FIELDS]

    def document(row: dict) -> dict:
        made = {row_field: row["_id"]}
        for name, column, kind in plan:
            value = row[name]
            if value is None:
                continue
            if kind in ("date", "datetime"):
                value = value.isoformat()
            elif kind == "geo_point":
                value = {"lat": value[0], "lon": value[1]}
            made[column] = value
        return made

    return document


# -- raw loads ------------------------------------------------------------------------------------

COLUMNS = "_id, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9_lat, c9_lon"
INSERT = f"INSERT INTO raw ({COLUMNS}) VALUES ({', '.join('?' * 12)})"  # noqa: S608 - fixed names


def raw_sqlite(path: Path, rows: int) -> dict:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(
        "CREATE TABLE raw (_id INTEGER PRIMARY KEY, c0 TEXT, c1 TEXT, c2 TEXT, c3 TEXT, "
        "c4 BIGINT, c5 DOUBLE, c6 DATE, c7 DATETIME, c8 BOOLEAN, c9_lat DOUBLE, c9_lon DOUBLE)"
    )
    connection.execute(
        f"CREATE VIRTUAL TABLE raw_fts USING fts5({', '.join(TEXT_COLUMNS)}, "
        "content='raw', content_rowid='_id', tokenize='trigram')"
    )
    connection.commit()
    started = time.perf_counter()
    source = (sqlite_tuple(row) for row in record_rows(rows))
    with connection:
        while batch := list(islice(source, SQLITE_BATCH)):
            connection.executemany(INSERT, batch)
            connection.executemany(
                "INSERT INTO raw_fts (rowid, c0, c1, c2, c3) VALUES (?, ?, ?, ?, ?)",
                [r[:5] for r in batch],
            )
    loaded = time.perf_counter()
    with connection:
        for column in B_TREE_COLUMNS:
            connection.execute(f"CREATE INDEX raw_{column} ON raw ({column})")
    done = time.perf_counter()
    count = connection.execute("SELECT count(*) FROM raw").fetchone()[0]
    connection.close()
    return {"rows": count, "seconds": done - started, "indexes": done - loaded}


def raw_postgres(schema: str, rows: int) -> dict:
    import psycopg

    conninfo = psycopg_conninfo(postgres_url_in_schema(schema))
    with psycopg.connect(conninfo) as connection:
        trigram = connection.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
            "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
        ).fetchone()
        connection.execute(
            'CREATE TABLE raw (_id bigint PRIMARY KEY, c0 text COLLATE "C", c1 text COLLATE "C", '
            'c2 text COLLATE "C", c3 text COLLATE "C", c4 bigint, c5 double precision, c6 date, '
            "c7 timestamp, c8 boolean, c9_lat double precision, c9_lon double precision)"
        )
        connection.commit()
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(f"COPY raw ({COLUMNS}) FROM STDIN") as copy:
            for row in record_rows(rows):
                copy.write_row(postgres_tuple(row))
        connection.commit()
        loaded = time.perf_counter()
        connection.execute("SET maintenance_work_mem = '256MB'")
        for column in B_TREE_COLUMNS:
            connection.execute(f"CREATE INDEX raw_{column} ON raw ({column})")
        if trigram:
            for column in TEXT_COLUMNS:
                operators = f'"{trigram[0]}".gin_trgm_ops'
                connection.execute(
                    f"CREATE INDEX raw_{column}_trgm ON raw USING gin ({column} {operators})"
                )
        connection.execute("ANALYZE raw")
        connection.commit()
        done = time.perf_counter()
        count = connection.execute("SELECT count(*) FROM raw").fetchone()[0]
    return {"rows": count, "seconds": done - started, "indexes": done - loaded}


# Without a store to copy from: Chinese text as the catalog index analyses it, with an
# exact subfield for filters, sorts and counts; the rest typed; field names as they are.
DEFAULT_ROW_FIELD = "row"
DEFAULT_MAPPING = {
    "dynamic": "strict",
    "properties": {
        DEFAULT_ROW_FIELD: {"type": "long"},
        **{
            f.name: {
                "text": {
                    "type": "text",
                    "analyzer": "chinese",
                    "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}},
                },
                "integer": {"type": "long"},
                "number": {"type": "double"},
                "date": {"type": "date"},
                "datetime": {"type": "date"},
                "boolean": {"type": "boolean"},
                "geo_point": {"type": "geo_point"},
            }[f.type]
            for f in RECORD_FIELDS
        },
    },
}


def opensearch_layout(template: dict | None) -> tuple[str, dict[str, str]]:
    """(the row number's engine field, field name -> engine field) of the store's index,
    read from its mapping (the store keeps its fields in ``_meta``)."""
    if template:
        meta = template["mappings"].get("_meta", {})
        columns = {f["name"]: f["column"] for f in meta.get("fields", []) if "column" in f}
        others = [p for p in template["mappings"]["properties"] if p not in columns.values()]
        if set(columns) == {f.name for f in RECORD_FIELDS} and len(others) == 1:
            return others[0], columns
        say("opensearch: the store's mapping is not as expected; raw uses the plain one")
    return DEFAULT_ROW_FIELD, {f.name: f.name for f in RECORD_FIELDS}


def raw_opensearch(index: str, rows: int, template: dict | None) -> dict:
    """The same documents with streaming_bulk, refresh off and no replicas during the load
    (as a bulk load at its best does, and as the store does), refreshed at the end."""
    from opensearchpy.helpers import BulkIndexError, streaming_bulk

    client = opensearch_client()
    row_field, columns = opensearch_layout(template)
    if row_field == DEFAULT_ROW_FIELD and columns[RECORD_FIELDS[0].name] == RECORD_FIELDS[0].name:
        template = None
    body = template or {"settings": INDEX_SETTINGS, "mappings": DEFAULT_MAPPING}
    client.indices.create(index=index, body=body)
    document = opensearch_maker(row_field, columns)
    try:
        started = time.perf_counter()
        client.indices.put_settings(
            index=index,
            body={
                "index": {
                    "refresh_interval": "-1",
                    "number_of_replicas": 0,
                    "auto_expand_replicas": "false",
                }
            },
        )
        actions = (
            {"_index": index, "_id": str(row["_id"]), "_source": document(row)}
            for row in record_rows(rows)
        )
        try:
            for _ok, _item in streaming_bulk(
                client, actions, chunk_size=BULK_CHUNK, max_retries=3, initial_backoff=1
            ):
                pass
        except BulkIndexError as error:
            first = error.errors[0]
            raise RuntimeError(f"raw bulk: {len(error.errors)} failed, first {first}") from None
        restore = {
            key: body["settings"].get(key)
            for key in ("refresh_interval", "number_of_replicas", "auto_expand_replicas")
        }
        client.indices.put_settings(index=index, body={"index": restore})
        client.indices.refresh(index=index)
        done = time.perf_counter()
        count = client.count(index=index)["count"]
    finally:
        client.indices.delete(index=index)
    return {"rows": count, "seconds": done - started, "indexes": None}


# -- the store ------------------------------------------------------------------------------------


def store_load(workspace: Workspace, backend: str, rows: int) -> dict:
    bed = workspace.bed(backend, rows, fresh=True)
    backends = bed.open_backends()
    store = backends.record_store
    phases = {}
    build = getattr(store, "_build_indexes", None)
    if build is not None:  # the SQL store's index build, timed apart when it has one

        def timed_build(layout):
            _, phases["indexes"] = timed(lambda: build(layout))

        store._build_indexes = timed_build
    try:
        added, seconds = timed(lambda: load_records(store, bed))
    finally:
        backends.dispose()
    workspace.mark_loaded(bed)
    return {"rows": added, "seconds": seconds, "indexes": phases.get("indexes"), "bed": bed}


def opensearch_template(bed) -> dict | None:
    """Settings and mapping of the index the OpenSearch store made for the bed, to give the
    raw index the same analysis, field types and layout."""
    client = opensearch_client()
    for index in client.indices.get(index=f"{bed.index_prefix}*").values():
        mappings = index["mappings"]
        if mappings.get("_meta", {}).get("resource_id") not in (None, bed.resource_id):
            continue
        settings = index["settings"]["index"]
        kept = ("number_of_shards", "auto_expand_replicas", "number_of_replicas", "analysis")
        return {"settings": {k: settings[k] for k in kept if k in settings}, "mappings": mappings}
    return None


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--rows", type=int, default=None, help=f"default {FULL_ROWS:,}")
    arguments.add_argument(
        "--opensearch-rows", type=int, default=None, help="records on OpenSearch (default --rows)"
    )
    args = arguments.parse_args(argv)
    rows = args.rows or (SMALL_ROWS if args.small else FULL_ROWS)
    sizes = {"sqlite": rows, "postgresql": rows, "opensearch": args.opensearch_rows or rows}
    _check_layout()
    print(f"# index_records: {rows:,} records, 10 fields\n# {machine_note()}")

    largest = max(sizes[b] for b in chosen_backends(args.backends))
    say(f"generating {largest:,} records alone, to know what making them costs")
    _, generation = timed(lambda: drain(record_rows(largest)))
    per_row = generation / largest  # making rows costs the same for every row
    table = [["(generator)", "make the rows only", largest, generation, 1 / per_row, None, None]]
    notes = []
    ratios = []
    with Workspace(args.data_dir) as workspace:
        for backend in chosen_backends(args.backends):
            reason = skip_reason(backend)
            if reason:
                notes.append(f"{backend}: skipped, {reason}")
                continue
            n = sizes[backend]
            store, raw = load_both(workspace, backend, n, notes)
            for label, result in (("store", store), ("raw", raw)):
                if result is None:
                    continue
                if result["rows"] != n:
                    notes.append(f"{backend} {label}: {result['rows']:,} rows, not {n:,}!")
                net = result["seconds"] - n * per_row
                table.append(
                    [
                        backend,
                        "RecordStore.create+append" if label == "store" else _raw_name(backend),
                        result["rows"],
                        result["seconds"],
                        n / result["seconds"],
                        n / net if net > 0 else None,
                        result["indexes"],
                    ]
                )
            if store and raw:
                gross = ratio(raw["seconds"], store["seconds"])
                net_store = store["seconds"] - n * per_row
                net_raw = raw["seconds"] - n * per_row
                net = ratio(net_raw, net_store) if net_store > 0 and net_raw > 0 else None
                ratios.append([backend, n, fmt_ratio(gross), fmt_ratio(net), _verdict(gross, net)])

    print_table(
        "Loading records (records/s; 'net' leaves out the time the generator takes to make them)",
        [
            "backend",
            "path",
            "records",
            "seconds",
            "records/s",
            "net records/s",
            "of which indexes s",
        ],
        table,
    )
    if ratios:
        print_table(
            f"Store throughput as a share of raw (target >= {TARGET})",
            ["backend", "records", "store/raw", "net store/raw", "verdict (on net)"],
            ratios,
        )
    for note in notes:
        print(f"  note: {note}")
    return 0


def _raw_name(backend: str) -> str:
    return {
        "sqlite": "raw executemany + FTS5",
        "postgresql": "raw COPY (psycopg)",
        "opensearch": f"raw streaming_bulk ({BULK_CHUNK}/req)",
    }[backend]


def _verdict(gross: float | None, net: float | None) -> str:
    if net is None:
        return "-"
    if net >= TARGET:
        return "meets target"
    if gross is not None and gross >= TARGET:
        return "below target (meets it with generation counted)"
    return "below target"


def load_both(workspace: Workspace, backend: str, rows: int, notes: list[str], store: bool = True):
    """(store result or None, raw result) for the backend; with store False, raw only.
    Raw first: the store's load, kept for the other benchmarks, would otherwise still be
    merging or checkpointing in the background while raw ran."""
    has_store = not (backend == "opensearch" and (reason := opensearch_store_reason()))
    if not has_store:
        notes.append(f"opensearch store: skipped, {reason}; raw bulk only, plain mapping")
    template = None
    if backend == "opensearch" and has_store:
        template = opensearch_store_template(workspace, rows)
    say(f"{backend}: raw load of {rows:,} records")
    if backend == "sqlite":
        path = workspace.root / f"{workspace.scratch_name('raw')}.db"
        try:
            raw = raw_sqlite(path, rows)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif backend == "postgresql":
        schema = workspace.postgres_schema("raw")
        try:
            raw = raw_postgres(schema, rows)
        finally:
            workspace.drop_postgres_schema(schema)
    else:
        raw = raw_opensearch(workspace.scratch_name("raw", "-"), rows, template)
    if not (store and has_store):
        return None, raw
    say(f"{backend}: RecordStore.create + append of the same {rows:,} records")
    return store_load(workspace, backend, rows), raw


def opensearch_store_template(workspace: Workspace, rows: int) -> dict | None:
    """The settings and mapping of the index the store makes for these fields (made
    empty, read, and left for store_load to replace)."""
    bed = workspace.bed("opensearch", rows, fresh=True)
    ports = bed.open_backends()
    try:
        ports.record_store.create(bed.resource_id, RECORD_FIELDS)
    finally:
        ports.dispose()
    return opensearch_template(bed)


if __name__ == "__main__":
    sys.exit(main())
