"""The raw engine queries the latency benchmark compares the portal's layers with.

Catalog search: on SQLite the statements SqliteCatalogIndex.search runs, built by its own
``_where`` and ``_score``, on a connection kept open; on OpenSearch ``client.search`` with
the body of ``catalog.search.engines.build_search_body``.

Record queries: hand-written, as a developer would query the store's table or index given
its layout (SQL columns ``c<i>``, documented in catalog.records.sql; the OpenSearch fields
read from the index mapping's ``_meta``), each giving the same page and total as
``RecordStore.query``: the page, and a count up to ``COUNT_EXACT_LIMIT`` when the store
would count (filters or words, and more than one page or a cursor).
"""

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import make_url

from bench.backends import opensearch_client, psycopg_conninfo, sql_record_table
from bench.common import RECORD_FIELDS
from catalog.interfaces import RecordFilter, RecordQuery, SearchQuery
from catalog.records import COUNT_EXACT_LIMIT, check_query, encode_cursor

# -- catalog search ----------------------------------------------------------------------------


class TooSlow(Exception):
    """The raw query did not finish before its deadline."""


class RawSqliteCatalog:
    """The statements SqliteCatalogIndex.search runs, on one connection kept open."""

    def __init__(self, path):
        from catalog.search.sqlite import SqliteCatalogIndex

        self.connection = sqlite3.connect(path)
        self.generation = SqliteCatalogIndex._generation(self.connection)

    def search(self, query: SearchQuery, deadline: float | None = None):
        """The search's statements; with a deadline (seconds), TooSlow past it."""
        if deadline is None:
            return self._search(query)
        stop = time.perf_counter() + deadline
        self.connection.set_progress_handler(lambda: time.perf_counter() > stop, 10_000)
        try:
            return self._search(query)
        except sqlite3.OperationalError as error:
            if "interrupted" in str(error):
                raise TooSlow from None
            raise
        finally:
            self.connection.set_progress_handler(None, 0)

    def _search(self, query: SearchQuery):
        from catalog.search.sqlite import FACET_LIMIT, ORDER_BY, _score, _where

        g, run = self.generation, self.connection.execute
        where, params = _where(g, query)
        total = run(f"SELECT count(*) FROM docs_{g} d WHERE {where}", params).fetchone()[0]  # noqa: S608
        score_sql, score_params = _score(query.terms)
        rows = run(
            f"SELECT d.id, d.doc, {score_sql} AS score FROM docs_{g} d "  # noqa: S608
            f"WHERE {where} ORDER BY {ORDER_BY[query.sort]} LIMIT ? OFFSET ?",
            [*score_params, *params, query.limit, query.offset],
        ).fetchall()
        facets = {
            name: run(
                f"SELECT value, count(*) AS n FROM terms_{g} "  # noqa: S608
                f"WHERE field = ? AND doc_id IN (SELECT d.id FROM docs_{g} d "
                f"WHERE {where}) GROUP BY value ORDER BY n DESC, value LIMIT ?",
                [name, *params, FACET_LIMIT],
            ).fetchall()
            for name in query.facets
        }
        return total, [row[0] for row in rows], facets


class RawOpenSearchCatalog:
    def __init__(self, alias: str):
        self.client = opensearch_client()
        self.alias = alias

    def search(self, query: SearchQuery, deadline: float | None = None):
        from catalog.search.engines import build_search_body

        response = self.client.search(index=self.alias, body=build_search_body(query))
        return response["hits"]["total"]["value"], [h["_id"] for h in response["hits"]["hits"]]


# -- record queries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCase:
    """One record query, as the service and the API receive it and as raw queries."""

    name: str
    query: RecordQuery
    params: dict
    # Raw SQL: the condition per backend (? placeholders; {t} is the table), the order.
    where: dict[str, tuple[str, tuple]]
    order: str
    opensearch: Callable[[Callable[[str], str], str], dict]  # (engine field of, row) -> body
    columns: tuple[str, ...] = ()  # selected columns; () is all of them
    filtered: bool = False  # the total is counted (up to COUNT_EXACT_LIMIT)
    after_cursor: bool = False
    limit: int = 100


ALL_COLUMNS = ("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9_lat", "c9_lon")
TEXT_SEARCHED = ("名称", "街道", "地址")  # the text fields an anonymous caller's q searches


def _fts(word: str) -> str:
    return "{c0 c1 c2} : (" + '"' + word + '"' + ")"


def _bool_filter(*clauses) -> dict:
    return {"bool": {"filter": list(clauses)}}


def _phrases(col, word: str) -> dict:
    return {"bool": {"should": [{"match_phrase": {col(n): word}} for n in TEXT_SEARCHED]}}


def record_cases() -> list[RecordCase]:
    deep = check_query(RECORD_FIELDS, RecordQuery(sort=(("人数", "asc"),), limit=100))
    deep_cursor = encode_cursor(deep, (2500, 600_000))
    like = "(c0 LIKE ? ESCAPE '\\' OR c1 LIKE ? ESCAPE '\\' OR c2 LIKE ? ESCAPE '\\')"
    lower_like = (
        "(lower(c0) LIKE ? ESCAPE '\\' OR lower(c1) LIKE ? ESCAPE '\\' "
        "OR lower(c2) LIKE ? ESCAPE '\\')"
    )
    ilike = "(c0 ILIKE ? ESCAPE '\\' OR c1 ILIKE ? ESCAPE '\\' OR c2 ILIKE ? ESCAPE '\\')"
    fts = "_id IN (SELECT rowid FROM {t}_fts WHERE {t}_fts MATCH ?)"
    everything = {"sqlite": ("1 = 1", ()), "postgresql": ("true", ())}
    return [
        RecordCase(
            "first page, 100 rows",
            RecordQuery(limit=100),
            {"limit": 100},
            everything,
            "_id",
            lambda col, row: {"query": {"match_all": {}}, "sort": [{row: "asc"}]},
        ),
        RecordCase(
            "eq 街道=祖庙街道",
            RecordQuery(filters=(RecordFilter("街道", "eq", value="祖庙街道"),), limit=100),
            {"filters": json.dumps({"街道": "祖庙街道"}, ensure_ascii=False), "limit": 100},
            {"sqlite": ("c1 = ?", ("祖庙街道",)), "postgresql": ("c1 = ?", ("祖庙街道",))},
            "_id",
            lambda col, row: {
                "query": _bool_filter({"term": {col("街道") + ".keyword": "祖庙街道"}}),
                "sort": [{row: "asc"}],
            },
            filtered=True,
        ),
        RecordCase(
            "range 人数, sort -人数",
            RecordQuery(
                filters=(RecordFilter("人数", "range", gte=1000, lte=1100),),
                sort=(("人数", "desc"),),
                limit=100,
            ),
            {"filters": json.dumps({"人数": {"gte": 1000, "lte": 1100}}), "sort": "-人数"},
            {
                "sqlite": ("c4 >= ? AND c4 <= ?", (1000, 1100)),
                "postgresql": ("c4 >= ? AND c4 <= ?", (1000, 1100)),
            },
            "c4 DESC, _id",
            lambda col, row: {
                "query": _bool_filter({"range": {col("人数"): {"gte": 1000, "lte": 1100}}}),
                "sort": [{col("人数"): {"order": "desc", "missing": "_last"}}, {row: "asc"}],
            },
            filtered=True,
        ),
        RecordCase(
            "q 4 chars 实验学校",
            RecordQuery(q="实验学校", limit=20),
            {"q": "实验学校", "limit": 20},
            {
                "sqlite": (fts, (_fts("实验学校"),)),
                "postgresql": (ilike, ("%实验学校%",) * 3),
            },
            "_id",
            lambda col, row: {
                "query": _bool_filter(_phrases(col, "实验学校")),
                "sort": [{row: "asc"}],
            },
            filtered=True,
            limit=20,
        ),
        RecordCase(
            "q 2 chars 小学",
            RecordQuery(q="小学", limit=20),
            {"q": "小学", "limit": 20},
            {"sqlite": (like, ("%小学%",) * 3), "postgresql": (lower_like, ("%小学%",) * 3)},
            "_id",
            lambda col, row: {
                "query": _bool_filter(_phrases(col, "小学")),
                "sort": [{row: "asc"}],
            },
            filtered=True,
            limit=20,
        ),
        RecordCase(
            "bool + date range, 2 fields",
            RecordQuery(
                filters=(
                    RecordFilter("公办", "eq", value=True),
                    RecordFilter("成立日期", "range", gte="2000-01-01", lte="2005-12-31"),
                ),
                sort=(("成立日期", "asc"),),
                fields=("名称", "成立日期"),
                limit=50,
            ),
            {
                "filters": json.dumps(
                    {"公办": True, "成立日期": {"gte": "2000-01-01", "lte": "2005-12-31"}},
                    ensure_ascii=False,
                ),
                "sort": "成立日期",
                "fields": "名称,成立日期",
                "limit": 50,
            },
            {
                "sqlite": ("c8 = 1 AND c6 >= ? AND c6 <= ?", ("2000-01-01", "2005-12-31")),
                "postgresql": ("c8 AND c6 >= ? AND c6 <= ?", ("2000-01-01", "2005-12-31")),
            },
            "c6, _id",
            lambda col, row: {
                "query": _bool_filter(
                    {"term": {col("公办"): True}},
                    {"range": {col("成立日期"): {"gte": "2000-01-01", "lte": "2005-12-31"}}},
                ),
                "sort": [{col("成立日期"): {"order": "asc", "missing": "_last"}}, {row: "asc"}],
            },
            columns=("c0", "c6"),
            filtered=True,
            limit=50,
        ),
        RecordCase(
            "deep page by cursor, sort 人数",
            RecordQuery(sort=(("人数", "asc"),), limit=100, cursor=deep_cursor),
            {"sort": "人数", "limit": 100, "cursor": deep_cursor},
            {
                "sqlite": ("c4 >= ? AND (c4 > ? OR _id > ?)", (2500, 2500, 600_000)),
                "postgresql": ("c4 >= ? AND (c4 > ? OR _id > ?)", (2500, 2500, 600_000)),
            },
            "c4, _id",
            lambda col, row: {
                "query": {"match_all": {}},
                "sort": [{col("人数"): {"order": "asc", "missing": "_last"}}, {row: "asc"}],
                "search_after": [2500, 600_000],
            },
            after_cursor=True,
        ),
    ]


class RawSqlRecords:
    """Hand-written SQL for each case on one connection kept open (sqlite3 or psycopg)."""

    def __init__(self, bed, engine):
        self.backend = bed.backend
        self.table, _fields = sql_record_table(engine, bed.resource_id)
        self.row_count = bed.rows
        if bed.backend == "sqlite":
            self.connection = sqlite3.connect(make_url(bed.database_url).database)
        else:
            import psycopg

            self.connection = psycopg.connect(psycopg_conninfo(bed.database_url), autocommit=True)

    def _sql(self, text: str) -> str:
        text = text.replace("{t}", self.table)
        return text if self.backend == "sqlite" else text.replace("?", "%s")

    def run(self, case: RecordCase):
        where, params = case.where[self.backend]
        columns = ", ".join(("_id", *(case.columns or ALL_COLUMNS)))
        statement = (
            f"SELECT {columns} FROM {self.table} WHERE {where} "  # noqa: S608
            f"ORDER BY {case.order} LIMIT {case.limit + 1}"
        )
        rows = self.connection.execute(self._sql(statement), params).fetchall()
        total = self.row_count
        if case.filtered and (case.after_cursor or len(rows) > case.limit):
            count = (
                f"SELECT count(*) FROM (SELECT 1 FROM {self.table} WHERE {where} "  # noqa: S608
                f"LIMIT {COUNT_EXACT_LIMIT + 1}) AS matches"
            )
            total = min(
                self.connection.execute(self._sql(count), params).fetchone()[0], COUNT_EXACT_LIMIT
            )
        elif case.filtered:
            total = len(rows)
        return [row[0] for row in rows[: case.limit]], total


class RawOpenSearchRecords:
    """Hand-written bodies for each case, on the store's index, read from its mapping."""

    def __init__(self, bed):
        self.client = opensearch_client()
        for name, index in self.client.indices.get(index=f"{bed.index_prefix}*").items():
            meta = index["mappings"].get("_meta", {})
            if meta.get("resource_id") == bed.resource_id:
                self.index = name
                self.columns = {f["name"]: f["column"] for f in meta["fields"]}
                others = set(index["mappings"]["properties"]) - set(self.columns.values())
                (self.row,) = others
                break
        else:
            raise RuntimeError(f"No index of resource {bed.resource_id} under {bed.index_prefix}")

    def run(self, case: RecordCase):
        body = case.opensearch(self.columns.__getitem__, self.row)
        selected = [f.name for f in RECORD_FIELDS]
        if case.columns:
            selected = [RECORD_FIELDS[int(c[1:])].name for c in case.columns]
        body.update(
            size=case.limit + 1,
            track_total_hits=True if not case.filtered else COUNT_EXACT_LIMIT,
            _source={"includes": [self.row, *(self.columns[n] for n in selected)]},
        )
        hits = self.client.search(index=self.index, body=body)["hits"]
        ids = [hit["_source"][self.row] for hit in hits["hits"][: case.limit]]
        return ids, hits["total"]["value"]
