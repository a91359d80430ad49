"""Requests per second of dataset show and dataset search under a load generator (wrk) on
loopback, against a bare Flask handler that returns the same JSON bytes: what the portal
costs per request over the web server and framework alone (issue 5: report the ratio).

The demo catalog (301 datasets, 23 departments) is loaded into a temporary SQLite catalog
with the SQLite search index; the portal is served by waitress as ``opendata serve``
serves it (8 threads, waitress's defaults otherwise), in a process of its own. The bare
app is Flask with one catch-all route answering each benchmarked URL with the body the
portal gave for it (fetched once, before the runs), under the same waitress settings, in
another process. Paths, as an anonymous caller:

- ``GET /api/v1/datasets/<slug>`` and ``GET /api/3/action/package_show?id=<slug>``;
- ``GET /api/v1/datasets?q=学校`` and ``GET /api/3/action/package_search?q=学校``.

Each path runs ``wrk -t2 -c4 -d10s --latency`` (``--seconds``, ``--connections``,
``--threads``) against the portal, then against the bare app; the table gives requests per
second, latency p50 and p99, and portal / bare. The portal's rate limit is raised for the
run (its counting still happens on every request) so that no answer is a 429; wrk's count
of non-2xx answers is printed if there are any.

wrk comes from the Debian package ``wrk``; when it is missing and this runs as root, it is
installed with apt-get, else the benchmark stops saying how to install it.

    .venv/bin/python -m bench.api_throughput [--small] [--seconds 10]
"""

import argparse
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import quote

from bench.common import machine_note, print_table, say

SERVE_THREADS = 8  # portal.cli serve's default
RATE_LIMIT = "100000000/minute"  # never reached, still counted
WORD = "学校"
SECONDS, SMALL_SECONDS = 10, 3


def ensure_wrk() -> str:
    """The path of wrk, installing the Debian package when missing and root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("wrk is missing: installing the Debian package with apt-get")
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "wrk"]):
            subprocess.run(command, env=environment, capture_output=True, check=False)  # noqa: S603
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "bench.api_throughput needs the load generator wrk, which is missing and could not "
        "be installed: run `apt-get install wrk` as root (Debian/Ubuntu), or put a wrk "
        "binary on PATH."
    )


def paths(slug: str) -> list[tuple[str, str]]:
    word = quote(WORD)
    return [
        ("REST dataset show", f"/api/v1/datasets/{slug}"),
        ("Action API package_show", f"/api/3/action/package_show?id={slug}"),
        (f"REST dataset search q={WORD}", f"/api/v1/datasets?q={word}"),
        (f"Action API package_search q={WORD}", f"/api/3/action/package_search?q={word}"),
    ]


# -- the catalog ---------------------------------------------------------------------------------


def portal_settings(root: Path):
    from portal.settings import Settings

    return Settings.load(
        environ={},
        overrides={
            "instance_path": str(root),
            "database_url": f"sqlite:///{root / 'catalog.db'}",
            "storage_url": (root / "objects").as_uri(),
            "search_url": f"sqlite:///{root / 'search.db'}",
            "queue_url": f"sqlite:///{root / 'queue.db'}",
            "secret_key": "bench-secret-key",
            "rate_limit": RATE_LIMIT,
        },
    )


def load_catalog(root: Path) -> str:
    """The demo catalog, indexed; the slug of an open dataset with resources to show."""
    from sqlalchemy import select

    from catalog.backends import Backends
    from catalog.db import upgrade_database
    from catalog.demo.loader import load_demo
    from catalog.models import Dataset
    from catalog.policy import Actor
    from catalog.services.search import reindex_catalog

    backends = Backends.from_settings(portal_settings(root))
    upgrade_database(backends.engine)
    backends.catalog_index.ensure()
    operator = Actor(name="bench", sysadmin=True)
    with backends.sessions() as session:
        load_demo(session, backends.object_store, backends.record_store, operator)
        reindex_catalog(session, backends.catalog_index)
        slug = session.scalars(
            select(Dataset.slug)
            .where(
                Dataset.state == "published",
                Dataset.open_type == "unconditional",
                Dataset.title.contains(WORD),
            )
            .order_by(Dataset.slug)
        ).first()
    backends.dispose()
    if slug is None:
        raise RuntimeError(f"The demo catalog has no open dataset about {WORD}.")
    return slug


# -- the servers, each in a process of its own ----------------------------------------------------


def serve(app) -> None:
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=SERVE_THREADS)
    print(json.dumps({"port": server.effective_port}), flush=True)
    server.run()


def portal_worker(root: Path) -> None:
    from catalog.backends import Backends
    from portal.app import create_app

    settings = portal_settings(root)
    serve(create_app(settings, Backends.from_settings(settings)))


def bare_worker(bodies_path: Path) -> None:
    """Flask with one route: each benchmarked URL answered with the portal's bytes."""
    from flask import Flask, Response, request

    bodies = json.loads(bodies_path.read_text(encoding="utf-8"))
    app = Flask("bare")

    @app.route("/<path:_anything>")
    def answer(_anything):
        body = bodies[request.full_path.rstrip("?")]
        return Response(body["text"].encode("utf-8"), content_type=body["content_type"])

    serve(app)


class Server:
    """A worker process of this module serving on a loopback port until stopped."""

    def __init__(self, *arguments: str):
        command = [sys.executable, "-m", "bench.api_throughput", *arguments]
        self.process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        ready, _, _ = select.select([self.process.stdout], [], [], 120)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"{arguments[1]} did not start:\n{self.process.stderr.read()}")
        self.base = f"http://127.0.0.1:{json.loads(line)['port']}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


# -- wrk -----------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(wrk: str, url: str, args) -> dict:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.seconds}s",
        "--latency",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed on {url}:\n{done.stderr or done.stdout}")
    output = done.stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _ms(percentiles["50"]),
        "p99": _ms(percentiles["99"]),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


def fetch(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - loopback
        return {
            "text": response.read().decode("utf-8"),
            "content_type": response.headers["Content-Type"],
        }


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--small", action="store_true", help=f"{SMALL_SECONDS} s a run")
    arguments.add_argument("--seconds", type=int, help=f"each wrk run (default {SECONDS})")
    arguments.add_argument("--connections", type=int, default=4)
    arguments.add_argument("--threads", type=int, default=2, help="wrk's threads")
    arguments.add_argument("--data-dir", help="where to put the catalog (a folder of its own)")
    arguments.add_argument("--backends", help=argparse.SUPPRESS)  # run_all's, not used here
    arguments.add_argument("--worker", choices=("portal", "bare"), help=argparse.SUPPRESS)
    arguments.add_argument("--root", help=argparse.SUPPRESS)
    args = arguments.parse_args(argv)
    if args.worker == "portal":
        portal_worker(Path(args.root))
        return 0
    if args.worker == "bare":
        bare_worker(Path(args.root) / "bodies.json")
        return 0
    args.seconds = args.seconds or (SMALL_SECONDS if args.small else SECONDS)
    wrk = ensure_wrk()
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    print(f"# api_throughput: wrk -t{args.threads} -c{args.connections} -d{args.seconds}s")
    print(f"# {machine_note()}; {(version.stdout or version.stderr).splitlines()[0]}")
    base = Path(args.data_dir or tempfile.mkdtemp(prefix="opendata-bench-")).resolve()
    root = Path(tempfile.mkdtemp(prefix="api-throughput-", dir=base))
    servers: list[Server] = []
    try:
        say("loading the demo catalog")
        slug = load_catalog(root)
        portal = Server("--worker", "portal", "--root", str(root))
        servers.append(portal)
        cases = paths(slug)
        bodies = {path: fetch(portal.base + path) for _name, path in cases}
        (root / "bodies.json").write_text(json.dumps(bodies, ensure_ascii=False), encoding="utf-8")
        bare = Server("--worker", "bare", "--root", str(root))
        servers.append(bare)
        for _name, path in cases:
            if fetch(bare.base + path)["text"] != bodies[path]["text"]:
                raise RuntimeError(f"The bare app does not answer {path} as the portal does.")
        table, notes = [], []
        for name, path in cases:
            results = {}
            for who, server in (("portal", portal), ("bare Flask", bare)):
                say(f"{name}: {who}")
                results[who] = run_wrk(wrk, server.base + path, args)
                if results[who]["errors"]:
                    notes.append(f"{name}, {who}: {results[who]['errors']} non-2xx answers")
            mine, theirs = results["portal"], results["bare Flask"]
            table.append(
                [
                    name,
                    len(bodies[path]["text"].encode("utf-8")),
                    mine["rps"],
                    mine["p50"],
                    mine["p99"],
                    theirs["rps"],
                    theirs["p50"],
                    theirs["p99"],
                    f"{mine['rps'] / theirs['rps']:.2f}x",
                ]
            )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        if not args.data_dir:
            shutil.rmtree(base, ignore_errors=True)
    print_table(
        f"Requests per second on loopback, anonymous (latency in ms; dataset {slug})",
        [
            "request",
            "JSON bytes",
            "portal rps",
            "p50",
            "p99",
            "bare rps",
            "p50",
            "p99",
            "portal/bare",
        ],
        table,
    )
    for note in notes:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
