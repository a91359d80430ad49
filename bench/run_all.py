"""Run every benchmark, one after the other, sharing the records they load; then clean up.

    .venv/bin/python -m bench.run_all              # the issue's sizes
    .venv/bin/python -m bench.run_all --small      # a smoke run, a minute or two

The record stores loaded by index_records (one per backend, --rows records) are kept in a
temporary workspace that query_latency and export_records reuse; everything it holds (its
folder, PostgreSQL schemas bench_<id>_*, OpenSearch indices bench-<id>-*) is removed at
the end, whatever happened. The benchmarks run one at a time: the servers are shared.
"""

import argparse
import subprocess
import sys
import tempfile
import time

from bench.backends import Workspace
from bench.common import machine_note, say

BENCHMARKS = (
    "index_records",
    "query_latency",
    "export_records",
    "ingest_csv",
    "relevance",
    "harvest_ckan",
    "download_file",
    "api_throughput",
)


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--small", action="store_true", help="smoke sizes")
    arguments.add_argument("--backends", default="sqlite,postgresql,opensearch")
    arguments.add_argument("--rows", type=int, help="records per store (default 1,000,000)")
    arguments.add_argument("--opensearch-rows", type=int, help="records on OpenSearch")
    arguments.add_argument("--datasets", type=int, help="catalog size (default 100,000)")
    arguments.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"some of {', '.join(BENCHMARKS)}"
    )
    args = arguments.parse_args(argv)
    shared = ["--backends", args.backends] + (["--small"] if args.small else [])
    sizes = []
    if args.rows:
        sizes += ["--rows", str(args.rows)]
    if args.opensearch_rows:
        sizes += ["--opensearch-rows", str(args.opensearch_rows)]
    extra = {
        "index_records": sizes,
        "query_latency": sizes + (["--datasets", str(args.datasets)] if args.datasets else []),
        "export_records": sizes,
        "ingest_csv": ["--rows", str(args.rows)] if args.rows else [],
        "relevance": [],
        "harvest_ckan": [],
        "download_file": [],
        "api_throughput": [],
    }
    print(f"# bench.run_all{' --small' if args.small else ''}: {machine_note()}", flush=True)
    data_dir = tempfile.mkdtemp(prefix="opendata-bench-")
    failed = []
    try:
        for name in args.only.split(","):
            if name not in BENCHMARKS:
                raise SystemExit(f"Unknown benchmark {name!r}")
            command = [sys.executable, "-m", f"bench.{name}", "--data-dir", data_dir]
            started = time.perf_counter()
            print(f"\n## {name}", flush=True)
            done = subprocess.run(command + shared + extra[name], check=False)  # noqa: S603
            say(f"{name}: exit {done.returncode} after {time.perf_counter() - started:.0f} s")
            if done.returncode:
                failed.append(name)
    finally:
        Workspace(data_dir).cleanup()
    if failed:
        print(f"\nFailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
