"""Latency (p50, p95) of catalog searches and record queries, from the raw engine query up
through the layers of the portal, against the target: p50 <= 1.5 x raw + 2 ms.

(a) Catalog search over --datasets generated datasets (default 100,000), on the SQLite FTS5
index and on OpenSearch, a mix of queries (two-character words, longer words, a synonym,
two words, filters, browsing, an anonymous caller and a department member), through:

- raw: the engine query alone. SQLite: the SQL statements SqliteCatalogIndex.search runs
  (count, page, one per facet), built by its own ``_where`` and ``_score``, on a connection
  kept open. OpenSearch: ``client.search`` with ``build_search_body``'s body;
- CatalogIndex.search: the backend, with the same SearchQuery (recorded from the service);
- service: ``catalog.services.search.search_datasets``, a fresh session per call;
- Flask client: ``GET /api/v1/datasets?...`` through the app's test client;
- waitress: the same GET to the app served by waitress on loopback, one keep-alive
  connection (the member sends its bearer token, as an API client does).

(b) Record queries on the --rows record resource (default 1,000,000) of each record store
(SQLite, PostgreSQL, OpenSearch): raw (hand-written SQL with the same result, page and
total, on an open connection; OpenSearch ``client.search`` with a hand-written body on
the store's index), ``RecordStore.query``, the service ``query_records`` (an anonymous
caller: the sensitive field comes back masked), and ``GET .../records`` through the Flask
client and through waitress.

Each case runs in interleaved rounds (every layer once per round) for about
--seconds-per-case; before timing, the layers' answers are compared (ids and totals).

    .venv/bin/python -m bench.query_latency [--datasets N] [--rows N] [--part catalog|records]
"""

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.backends import (
    OPENSEARCH_URL,
    Bed,
    KeepAliveClient,
    Workspace,
    bench_settings,
    open_backends,
    opensearch_store_reason,
    skip_reason,
    waitress_server,
)
from bench.catalog_data import Catalog
from bench.common import (
    FULL_DATASETS,
    FULL_ROWS,
    SMALL_DATASETS,
    SMALL_ROWS,
    chosen_backends,
    interleaved,
    machine_note,
    parser,
    percentile,
    print_table,
    say,
    timed,
)
from bench.raw_queries import (
    RawOpenSearchCatalog,
    RawOpenSearchRecords,
    RawSqliteCatalog,
    RawSqlRecords,
    RecordCase,
    TooSlow,
    record_cases,
)
from catalog.interfaces import SearchResult
from catalog.policy import Actor
from catalog.services.records import query_records
from catalog.services.search import DatasetQuery, search_datasets

LAYERS = ("raw", "backend", "service", "Flask client", "waitress HTTP")


def target_ms(raw_p50: float) -> float:
    return 1.5 * raw_p50 + 2.0


# -- shared: run the layers of one case and report ------------------------------------------


@dataclass
class Outcome:
    case: str
    samples: dict[str, list[float]]
    note: str = ""


def report(title: str, backend_label: str, outcomes: list[Outcome]) -> None:
    rows = []
    verdicts = []
    for outcome in outcomes:
        if not outcome.samples:
            rows.append([outcome.case, 0, *("-" for _ in LAYERS)])
            verdicts.append([outcome.case, "-", *("-" for _ in LAYERS[1:]), outcome.note])
            continue
        p50 = {name: percentile(v, 50) for name, v in outcome.samples.items()}
        p95 = {name: percentile(v, 95) for name, v in outcome.samples.items()}
        rounds = len(next(iter(outcome.samples.values())))
        rows.append(
            [outcome.case, rounds]
            + [f"{p50[name]:.1f} / {p95[name]:.1f}" if name in p50 else "-" for name in LAYERS]
        )
        target = target_ms(p50["raw"])
        cells = []
        for name in LAYERS[1:]:
            if name not in p50:
                cells.append("-")
                continue
            ok = "ok" if p50[name] <= target else "OVER"
            cells.append(f"{ok} {p50[name] / p50['raw']:.1f}x +{p50[name] - p50['raw']:.1f}")
        verdicts.append([outcome.case, f"{target:.1f}", *cells, outcome.note])
    headers = ["case", "rounds", *(f"{name} p50/p95 ms" for name in LAYERS)]
    print_table(f"{title}: {backend_label}", headers, rows)
    print_table(
        f"{title}: {backend_label}, p50 against the target (1.5 x raw + 2 ms): "
        "verdict, times raw, ms over raw",
        ["case", "target ms", *LAYERS[1:], "note"],
        verdicts,
    )


class Recorder:
    """A port that passes calls through and remembers the last search or query it got,
    so the raw and backend layers run exactly what the service asked."""

    def __init__(self, port, answer=None):
        self._port = port
        self._answer = answer  # given: searches return it, without asking the port
        self.last = None

    def search(self, query):
        self.last = query
        return self._answer if self._answer is not None else self._port.search(query)

    def query(self, resource_id, query):
        self.last = query
        return self._port.query(resource_id, query)

    def __getattr__(self, name):
        return getattr(self._port, name)


def http_get(client, path: str, headers: dict | None = None) -> bytes:
    response = client.get(path, headers=headers or {})
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.data[:300]!r}")
    return response.data


# -- (a) catalog search ---------------------------------------------------------------------

CATALOG_CASES: list[tuple[str, DatasetQuery, str]] = [
    ("2-char word 学校", DatasetQuery(q="学校"), "anonymous"),
    ("2-char synonym 医保", DatasetQuery(q="医保"), "anonymous"),
    ("4-char word 公共交通", DatasetQuery(q="公共交通"), "anonymous"),
    ("6-char word 文物保护单位", DatasetQuery(q="文物保护单位"), "anonymous"),
    ("two words 停车场 泊位", DatasetQuery(q="停车场 泊位"), "anonymous"),
    ("filter department", DatasetQuery(filters={"department": ["transport"]}), "anonymous"),
    ("word + format filter", DatasetQuery(q="名录", filters={"format": ["CSV"]}), "anonymous"),
    ("browse all by modified", DatasetQuery(sort="modified"), "anonymous"),
    ("member: 教育局", DatasetQuery(q="教育局"), "member"),
    (
        "member: theme + open type",
        DatasetQuery(filters={"theme": ["education"], "open_type": ["unconditional"]}),
        "member",
    ),
]


def dataset_path(query: DatasetQuery) -> str:
    params = {"q": query.q, "sort": query.sort, "page": query.page, "page_size": query.per_page}
    params.update(query.filters)
    return "/api/v1/datasets?" + urlencode(params, doseq=True)


def catalog_part(
    workspace: Workspace, backends: list[str], count: int, budget: tuple, probe: float
) -> None:
    catalog = Catalog(count)
    folder = workspace.root / f"catalog-{count}"
    folder.mkdir(exist_ok=True)
    database_url = f"sqlite:///{folder / 'catalog.db'}"
    if not (folder / "catalog.db").exists():
        say(f"catalog: inserting {count:,} datasets into {folder / 'catalog.db'}")
        _, seconds = timed(lambda: catalog.fill(database_url))
        say(f"catalog: inserted in {seconds:.1f} s")
    catalog.check_documents(database_url)
    for backend in backends:
        if backend == "postgresql":
            continue  # not a catalog index backend
        reason = skip_reason(backend)
        if reason:
            print(f"\n  catalog search on {backend}: skipped, {reason}")
            continue
        outcomes = catalog_backend(workspace, folder, catalog, backend, budget, probe)
        label = "SQLite FTS5" if backend == "sqlite" else "OpenSearch"
        report(f"Catalog search, {count:,} datasets", label, outcomes)


def catalog_backend(
    workspace: Workspace, folder: Path, catalog: Catalog, backend: str, budget, probe: float
) -> list["Outcome"]:
    from portal.app import create_app

    search_url = f"sqlite:///{folder / 'search.db'}" if backend == "sqlite" else OPENSEARCH_URL
    settings = bench_settings(
        folder, f"sqlite:///{folder / 'catalog.db'}", search_url, f"bench-{workspace.id}-cat"
    )
    ports = open_backends(settings, records_on="sqlite")
    marker = folder / f"indexed-{backend}"
    if not marker.exists():
        say(f"catalog: building the {backend} index of {catalog.count:,} datasets (rebuild)")
        written, seconds = timed(lambda: ports.catalog_index.rebuild(catalog.documents()))
        say(f"catalog: {written:,} documents in {seconds:.1f} s ({written / seconds:,.0f}/s)")
        marker.touch()
    if backend == "sqlite":
        raw = RawSqliteCatalog(folder / "search.db")
    else:
        raw = RawOpenSearchCatalog(f"{settings.search_index_prefix}-datasets")
    app = create_app(settings, ports)
    outcomes = []
    with waitress_server(app) as address:
        clients = {
            "anonymous": KeepAliveClient(*address),
            "member": KeepAliveClient(*address, {"Authorization": f"Bearer {catalog.token}"}),
        }
        for case in CATALOG_CASES:
            say(f"catalog {backend}: {case[0]}")
            http = clients[case[2]]
            outcomes.append(catalog_case(ports, raw, app, http, catalog, case, budget, probe))
        for client in clients.values():
            client.close()
    ports.dispose()
    return outcomes


def catalog_case(ports, raw, app, http, catalog, case, budget, probe) -> "Outcome":
    name, query, who = case
    index = ports.catalog_index
    actor = catalog.member_actor if who == "member" else Actor.anonymous()
    headers = {"Authorization": f"Bearer {catalog.token}"} if who == "member" else {}
    # The SearchQuery the service sends, recorded without running it, so that a very slow
    # raw query is found out (just below) before anything else runs it.
    recorder = Recorder(index, answer=SearchResult([], 0, {}))
    with ports.sessions() as session:
        search_datasets(session, recorder, actor, query)
    engine_query = recorder.last
    try:
        raw_answer = raw.search(engine_query, deadline=probe)
    except TooSlow:
        say(f"  the raw query was still running after {probe:.0f} s: not timed")
        return Outcome(name, {}, f"raw > {probe:.0f} s: not timed")
    with ports.sessions() as session:
        page = search_datasets(session, index, actor, query)
    flask_client = app.test_client()
    path = dataset_path(query)
    note = _check_catalog(raw_answer, page, http_get(flask_client, path, headers))

    def service() -> None:
        with ports.sessions() as session:
            search_datasets(session, index, actor, query)

    layers = [
        ("raw", lambda: raw.search(engine_query)),
        ("backend", lambda: index.search(engine_query)),
        ("service", service),
        ("Flask client", lambda: http_get(flask_client, path, headers)),
        ("waitress HTTP", lambda: http.get(path)),
    ]
    return Outcome(f"{name} [{page.total:,}]", interleaved(layers, *budget), note)


def _check_catalog(raw_result, page, body: bytes) -> str:
    """Say where the layers disagree (they should not)."""
    total, ids = raw_result[0], raw_result[1]
    answer = json.loads(body)
    problems = []
    if total != page.total or total != answer["total"]:
        problems.append(f"totals raw {total}, service {page.total}, http {answer['total']}")
    if [d.id for d in page.items] != ids[: len(page.items)]:
        problems.append("service's datasets differ from raw's")
    if [d["id"] for d in answer["items"]] != [d.id for d in page.items]:
        problems.append("HTTP's datasets differ from the service's")
    return "; ".join(problems)


# -- (b) record queries ----------------------------------------------------------------------


def records_part(
    workspace: Workspace, backends: list[str], sizes: dict[str, int], budget: tuple
) -> None:
    labels = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "opensearch": "OpenSearch"}
    for backend in backends:
        reason = skip_reason(backend)
        if reason is None and backend == "opensearch":
            reason = opensearch_store_reason()
        if reason:
            print(f"\n  record queries on {backend}: skipped, {reason}")
            continue
        bed = workspace.loaded_bed(backend, sizes[backend])
        outcomes = records_backend(bed, budget)
        report(f"Record queries, {bed.rows:,} records", labels[backend], outcomes)


def records_backend(bed: Bed, budget: tuple) -> list["Outcome"]:
    from portal.app import create_app

    ports = bed.open_backends()
    if bed.backend == "opensearch":
        raw = RawOpenSearchRecords(bed)
    else:
        raw = RawSqlRecords(bed, ports.engine)
    app = create_app(bed.settings(), ports)
    outcomes = []
    with waitress_server(app) as address:
        http = KeepAliveClient(*address)
        for case in record_cases():
            say(f"records {bed.backend}: {case.name}")
            outcomes.append(record_case(ports, raw, app, http, bed, case, budget))
        http.close()
    ports.dispose()
    return outcomes


def record_case(ports, raw, app, http, bed: Bed, case: RecordCase, budget) -> "Outcome":
    store, actor = ports.record_store, Actor.anonymous()
    recorder = Recorder(store)
    with ports.sessions() as session:
        _view, page = query_records(
            session, recorder, actor, bed.dataset_slug, bed.resource_id, case.query
        )
    store_query = recorder.last  # as the service passes it (q kept off the masked field)
    flask_client = app.test_client()
    path = bed.records_path + "?" + urlencode(case.params)
    note = _check_records(raw.run(case), page, http_get(flask_client, path))

    def service() -> None:
        with ports.sessions() as session:
            query_records(session, store, actor, bed.dataset_slug, bed.resource_id, case.query)

    layers = [
        ("raw", lambda: raw.run(case)),
        ("backend", lambda: store.query(bed.resource_id, store_query)),
        ("service", service),
        ("Flask client", lambda: http_get(flask_client, path)),
        ("waitress HTTP", lambda: http.get(path)),
    ]
    total = f"{page.total:,}{'+' if page.total_is_estimate else ''}"
    return Outcome(f"{case.name} [{total}]", interleaved(layers, *budget), note)


def _check_records(raw_result, page, body: bytes) -> str:
    ids, total = raw_result
    answer = json.loads(body)
    problems = []
    if total != page.total or page.total != answer["total"]:
        problems.append(f"totals raw {total}, service {page.total}, http {answer['total']}")
    if [row["_id"] for row in page.rows] != ids:
        problems.append("store's rows differ from raw's")
    if [row["_id"] for row in answer["records"]] != [row["_id"] for row in page.rows]:
        problems.append("HTTP's rows differ from the service's")
    return "; ".join(problems)


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--datasets", type=int, default=None, help=f"default {FULL_DATASETS:,}")
    arguments.add_argument("--rows", type=int, default=None, help=f"default {FULL_ROWS:,}")
    arguments.add_argument(
        "--opensearch-rows", type=int, default=None, help="records on OpenSearch (default --rows)"
    )
    arguments.add_argument("--part", choices=("catalog", "records", "both"), default="both")
    arguments.add_argument(
        "--seconds-per-case", type=float, default=None, help="timing budget (8 s; 1 s small)"
    )
    arguments.add_argument(
        "--probe-seconds",
        type=float,
        default=20.0,
        help="a catalog case whose raw SQLite query runs longer than this is not timed",
    )
    args = arguments.parse_args(argv)
    datasets = args.datasets or (SMALL_DATASETS if args.small else FULL_DATASETS)
    rows = args.rows or (SMALL_ROWS if args.small else FULL_ROWS)
    sizes = {"sqlite": rows, "postgresql": rows, "opensearch": args.opensearch_rows or rows}
    seconds = args.seconds_per_case or (1.0 if args.small else 8.0)
    budget = (seconds, 3, 40, 10.0) if args.small else (seconds, 10, 60, 60.0)
    backends = chosen_backends(args.backends)
    print(f"# query_latency: {datasets:,} datasets, {rows:,} records\n# {machine_note()}")
    with Workspace(args.data_dir) as workspace:
        if args.part in ("catalog", "both"):
            catalog_part(workspace, backends, datasets, budget, args.probe_seconds)
        if args.part in ("records", "both"):
            records_part(workspace, backends, sizes, budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
