"""Ingest a one-million-row CSV in GBK into each record store, against the raw backend load
of the same rows (target: at least 0.7 of raw), and the peak memory of the ingesting
process (target: under 300 MB).

The file is written once from the benchmark records (bench.common.record_rows: ten fields
of every type, Chinese text, 5 % missing values) the way a department's export looks:
Chinese titles in the header, GBK bytes, 是/否 booleans, the point as two columns 纬度 /
经度. Ingest is ``harvesters.tabular.ingest`` with nothing given: it detects the encoding
and the delimiter, infers every field's type (and the geo point from the two columns),
converts each value and loads the rows through ``RecordStore.create`` + ``append``. Each
ingest runs in a fresh Python process, whose resident high-water mark (VmHWM) is the peak.

Raw is ``bench.index_records``' loader of the same rows, already typed, straight into an
equivalent table or index (executemany + FTS5 on SQLite, COPY on PostgreSQL,
streaming_bulk on OpenSearch). Its time includes making the rows with the generator; the
"net" figure leaves that out, and the verdict is on net, the stricter reading.

    .venv/bin/python -m bench.ingest_csv [--rows N] [--backends sqlite,postgresql,opensearch]
"""

import csv
import json
import sys
import time
import uuid
from pathlib import Path

from bench.backends import Bed, Workspace, opensearch_store_reason, run_bench_worker, skip_reason
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
from bench.export_records import memory_kb
from bench.index_records import load_both

TARGET = 0.7
LIMIT_MB = 300
WRITE_BATCH = 10_000


def csv_header() -> list[str]:
    titles = [field.title for field in RECORD_FIELDS if field.type != "geo_point"]
    return ["序号", *titles, "纬度", "经度"]


def csv_line(row: dict) -> list[str]:
    cells = [str(row["_id"])]
    for field in RECORD_FIELDS:
        value = row[field.name]
        if field.type == "geo_point":
            cells += ["", ""] if value is None else [str(value[0]), str(value[1])]
        elif value is None:
            cells.append("")
        elif field.type == "boolean":
            cells.append("是" if value else "否")
        elif field.type == "datetime":
            cells.append(value.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            cells.append(str(value))
    return cells


def write_gbk_csv(path: Path, rows: int) -> int:
    """Write the file, streaming; return its size in bytes."""
    with open(path, "w", encoding="gbk", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(csv_header())
        batch = []
        for row in record_rows(rows):
            batch.append(csv_line(row))
            if len(batch) == WRITE_BATCH:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
    return path.stat().st_size


# -- in the worker process --------------------------------------------------------------------


def worker(data_dir: str, key: str, csv_path: str) -> None:
    """Ingest the file into the bed's record store in this process; print JSON figures."""
    from harvesters.tabular import ingest

    bed = Bed(**Workspace(data_dir).manifest["beds"][key])
    ports = bed.open_backends()
    before = memory_kb("VmRSS")
    started = time.perf_counter()
    report = ingest(csv_path, None, ports.record_store, str(uuid.uuid4()))
    seconds = time.perf_counter() - started
    peak = memory_kb("VmHWM")
    ports.dispose()
    print(
        json.dumps(
            {
                "rows": report.rows_loaded,
                "failed": report.rows_failed,
                "encoding": report.encoding,
                "types": [field.type for field in report.fields],
                "seconds": seconds,
                "before": before,
                "peak": peak,
            }
        )
    )


def run_worker(workspace: Workspace, bed: Bed, csv_path: Path) -> dict:
    return run_bench_worker("bench.ingest_csv", str(csv_path), workspace, bed)


# -- the parent -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--rows", type=int, default=None, help=f"default {FULL_ROWS:,}")
    arguments.add_argument("--worker", help="(internal) ingest this file in this process")
    arguments.add_argument("--bed-key", help="(internal)")
    args = arguments.parse_args(argv)
    if args.worker:
        worker(args.data_dir, args.bed_key, args.worker)
        return 0
    rows = args.rows or (SMALL_ROWS if args.small else FULL_ROWS)
    print(f"# ingest_csv: {rows:,} rows of GBK CSV\n# {machine_note()}")
    say(f"generating {rows:,} records alone, to know what making them costs")
    _, generation = timed(lambda: drain(record_rows(rows)))
    table, verdicts, notes = [], [], []
    with Workspace(args.data_dir) as workspace:
        csv_path = workspace.root / "records-gbk.csv"
        say(f"writing {csv_path}")
        size, _ = timed(lambda: write_gbk_csv(csv_path, rows))
        table.append(["(file)", f"GBK CSV, {size / 1e6:,.1f} MB", rows, None, None, None, None])
        for backend in chosen_backends(args.backends):
            reason = skip_reason(backend) or (
                opensearch_store_reason() if backend == "opensearch" else None
            )
            if reason:
                notes.append(f"{backend}: skipped, {reason}")
                continue
            _, raw = load_both(workspace, backend, rows, notes, store=False)
            raw_net = raw["seconds"] - generation
            bed = workspace.bed(backend, rows, fresh=True)
            say(f"{backend}: ingesting the CSV through harvesters.tabular.ingest")
            store = run_worker(workspace, bed, csv_path)
            if store["rows"] != rows or store["failed"]:
                notes.append(f"{backend}: {store['rows']:,} rows loaded, {store['failed']} bad")
            peak_mb = store["peak"] / 1024
            table.append(
                [
                    backend,
                    f"ingest ({store['encoding']})",
                    store["rows"],
                    store["seconds"],
                    store["rows"] / store["seconds"],
                    peak_mb,
                    (store["peak"] - store["before"]) / 1024,
                ]
            )
            table.append(
                [backend, "raw load", raw["rows"], raw["seconds"], rows / raw_net, None, None]
            )
            gross = ratio(raw["seconds"], store["seconds"])
            net = ratio(raw_net, store["seconds"])
            verdicts.append(
                [
                    backend,
                    fmt_ratio(gross),
                    fmt_ratio(net),
                    "meets target" if net and net >= TARGET else "below target",
                    f"{peak_mb:,.0f} MB",
                    "ok" if peak_mb < LIMIT_MB else "OVER",
                ]
            )
    print_table(
        "Ingesting a GBK CSV (rows/s; raw rows/s is net of making the rows; memory in MB)",
        ["backend", "path", "rows", "seconds", "rows/s", "peak RSS", "growth"],
        table,
    )
    print_table(
        f"Ingest as a share of the raw load (target >= {TARGET}), peak memory (target < "
        f"{LIMIT_MB} MB)",
        ["backend", "ingest/raw", "ingest/raw net", "verdict (on net)", "peak", "memory"],
        verdicts,
    )
    for note in notes:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
