"""Relevance: the share of the judged searches (catalog/demo/data/search_judgements.json)
whose expected dataset comes first, on every search backend reachable.

    .venv/bin/python -m bench.relevance [--backends sqlite,opensearch]

The demo catalog is loaded once into a temporary SQLite catalog, then indexed into each
backend; the same judged queries run through the search service as an anonymous caller.
"""

import os
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from bench.common import machine_note, parser, print_table, say
from catalog.backends import Backends
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.demo.loader import load_demo
from catalog.demo.relevance import judge_searches
from catalog.policy import Actor
from catalog.records.sql import SqlRecordStore
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.services.search import reindex_catalog
from catalog.storage.local import LocalObjectStore

OPERATOR = Actor(name="bench", sysadmin=True)


def _opensearch_index(prefix: str):
    url = os.environ.get("OPENDATA_BENCH_OPENSEARCH_URL") or os.environ.get(
        "OPENDATA_TEST_OPENSEARCH_URL"
    )
    if not url:
        return None
    from catalog.search.opensearch import OpenSearchCatalogIndex

    return OpenSearchCatalogIndex.from_settings(
        SimpleNamespace(search_url=url, search_index_prefix=prefix)
    )


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    options = arguments.parse_args()
    wanted = {name.strip() for name in options.backends.split(",")}
    with tempfile.TemporaryDirectory() as folder:
        engine = create_database_engine(f"sqlite:///{Path(folder) / 'catalog.db'}")
        upgrade_database(engine)
        sqlite_index = SqliteCatalogIndex(Path(folder) / "search.db")
        sqlite_index.ensure()
        backends = Backends(
            engine=engine,
            sessions=session_factory(engine),
            object_store=LocalObjectStore(Path(folder) / "objects"),
            catalog_index=sqlite_index,
            record_store=SqlRecordStore(engine),
        )
        say("loading the demo catalog")
        with backends.sessions() as session:
            load_demo(session, backends.object_store, backends.record_store, OPERATOR)
        indexes = {"sqlite": sqlite_index}
        prefix = f"bench-relevance-{uuid.uuid4().hex[:8]}"
        if "opensearch" in wanted:
            engine_index = _opensearch_index(prefix)
            if engine_index is None:
                say("opensearch: skipped, OPENDATA_TEST_OPENSEARCH_URL is not set")
            else:
                indexes["opensearch"] = engine_index
        rows, misses = [], []
        try:
            for name, index in indexes.items():
                if name not in wanted:
                    continue
                with backends.sessions() as session:
                    reindex_catalog(session, index)
                    judged = judge_searches(session, index)
                kinds = Counter(j.kind for j in judged)
                first = Counter(j.kind for j in judged if j.ok)
                share = sum(first.values()) / len(judged)
                detail = ", ".join(f"{k} {first[k]}/{n}" for k, n in sorted(kinds.items()))
                rows.append([name, len(judged), sum(first.values()), f"{share:.0%}", detail])
                misses += [f"{name}: {j.q} -> {j.first}" for j in judged if not j.ok]
        finally:
            if "opensearch" in indexes:
                indexes["opensearch"].delete_indices()
            engine.dispose()
    print_table(
        f"Judged searches ranking the expected dataset first ({machine_note()})",
        ["backend", "queries", "first", "share", "by kind"],
        rows,
    )
    for miss in misses:
        print(f"  missed: {miss}")


if __name__ == "__main__":
    main()
