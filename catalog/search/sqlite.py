"""The embedded search index: SQLite FTS5 with the trigram tokenizer, so Chinese works.

Words of three characters or more are found through the FTS index; shorter words (most
Chinese words are two characters: 医保, 学校) fall back to LIKE on the stored text.
Policy labels, filter values and facets live in side tables queried in the same SQL.
A rebuild fills a new generation of tables and swaps a one-row alias, so searches keep
answering from the old generation until the new one is complete.

A removal is for good: the outbox removes a document only when its dataset was deleted
from the catalog, and dataset ids are never reused. The removed id stays in a tombstone
table shared by all generations, so a drainer that read the dataset before it was deleted
and writes late cannot bring it back (the engines get the same from a versioned delete).
"""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import unquote

from catalog.interfaces import SearchHit, SearchQuery, SearchResult
from catalog.search.documents import BODY_FIELDS, KEYWORD_FIELDS, text_of
from catalog.search.highlight import SNIPPET_CHARS, highlight

FTS_MIN_CHARS = 3  # the trigram tokenizer cannot match fewer characters
TERM_FIELDS = (
    "department",
    "themes",
    "tags",
    "formats",
    "license",
    "open_type",
    "share_type",
    "update_frequency",
)
FACET_LIMIT = 50
ORDER_BY = {
    "relevance": "score DESC, d.modified DESC, d.id",
    "modified": "d.modified DESC, d.id",
    # Letters case-insensitively, as the engines' lowercased title.exact sorts; Chinese by
    # code point on both (pinyin order would need ICU collation on every backend).
    "title": "lower(d.title), d.id",
    "released": "d.released IS NULL, d.released DESC, d.id",
    "downloads": "d.downloads DESC, d.modified DESC, d.id",
    "id": "d.id",
}


class SqliteCatalogIndex:
    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def from_settings(cls, settings) -> "SqliteCatalogIndex":
        # sqlite:////abs/path or sqlite:///relative/path, as SQLAlchemy writes them.
        return cls(Path(unquote(settings.search_url.removeprefix("sqlite:///"))))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: cheap for SQLite, and safe across server threads.
        with closing(sqlite3.connect(self.path, timeout=30)) as connection:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            with connection:
                yield connection

    def ensure(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS alias (generation INTEGER NOT NULL)")
            if connection.execute("SELECT count(*) FROM alias").fetchone()[0] == 0:
                _create_generation(connection, 1)
                connection.execute("INSERT INTO alias VALUES (1)")

    @staticmethod
    def _generation(connection: sqlite3.Connection) -> int:
        return connection.execute("SELECT generation FROM alias").fetchone()[0]

    def upsert(self, documents: list[dict]) -> None:
        with self._connect() as connection:
            _ensure_tombstones(connection)
            generation = self._generation(connection)
            for document in documents:
                _write(connection, generation, document)

    def remove(self, ids: list[str]) -> None:
        with self._connect() as connection:
            _ensure_tombstones(connection)
            connection.executemany(
                "INSERT OR IGNORE INTO removed (id) VALUES (?)", [(i,) for i in ids]
            )
            generation = self._generation(connection)
            for doc_id in ids:
                _delete(connection, generation, doc_id)

    def rebuild(self, documents: Iterator[dict]) -> int:
        self.ensure()
        with self._connect() as connection:
            old = self._generation(connection)
            new = old + 1
            _drop_generation(connection, new)
            _create_generation(connection, new)
        written = 0
        batch: list[dict] = []
        for document in documents:
            batch.append(document)
            if len(batch) >= 500:
                written += self._write_batch(new, batch)
                batch = []
        written += self._write_batch(new, batch)
        with self._connect() as connection:
            connection.execute("UPDATE alias SET generation = ?", (new,))
            _drop_generation(connection, old)
        return written

    def _write_batch(self, generation: int, documents: list[dict]) -> int:
        with self._connect() as connection:
            _ensure_tombstones(connection)
            for document in documents:
                _write(connection, generation, document)
        return len(documents)

    def count(self) -> int:
        with self._connect() as connection:
            generation = self._generation(connection)
            return connection.execute(f"SELECT count(*) FROM docs_{generation}").fetchone()[0]

    def check(self) -> str:
        """Where the index is and how many datasets it holds; it only looks: a missing file
        or index is an error here, created by ``ensure`` (`opendata init`)."""
        if not self.path.exists():
            raise LookupError(f"{self.path} does not exist: run `opendata init`")
        # mode=rw opens an existing file only, and nothing here writes to it.
        uri = f"{self.path.resolve().as_uri()}?mode=rw"
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as connection:
            if not connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'alias'"
            ).fetchone():
                raise LookupError(f"{self.path} holds no search index: run `opendata init`")
            generation = self._generation(connection)
            count = connection.execute(f"SELECT count(*) FROM docs_{generation}").fetchone()[0]
        return f"SQLite FTS5 {sqlite3.sqlite_version} at {self.path}, {count} datasets"

    def search(self, query: SearchQuery) -> SearchResult:
        with self._connect() as connection:
            generation = self._generation(connection)
            where, params = _where(generation, query)
            # The matching ids once, in a temporary table of this connection: the total, the
            # page and every facet then read it instead of matching again.
            connection.execute("CREATE TEMP TABLE IF NOT EXISTS hits (id TEXT PRIMARY KEY)")
            connection.execute("DELETE FROM hits")
            connection.execute(
                f"INSERT INTO hits SELECT d.id FROM docs_{generation} d WHERE {where}", params
            )
            total = connection.execute("SELECT count(*) FROM hits").fetchone()[0]
            score_sql, score_params = _score(query.terms)
            rows = connection.execute(
                f"SELECT d.id, d.doc, {score_sql} AS score FROM hits "
                f"JOIN docs_{generation} d ON d.id = hits.id "
                f"ORDER BY {ORDER_BY[query.sort]} LIMIT ? OFFSET ?",
                [*score_params, query.limit, query.offset],
            ).fetchall()
            facets = {
                name: connection.execute(
                    f"SELECT t.value, count(*) AS n FROM hits "
                    f"JOIN terms_{generation} t ON t.doc_id = hits.id AND t.field = ? "
                    "GROUP BY t.value ORDER BY n DESC, t.value LIMIT ?",
                    [name, FACET_LIMIT],
                ).fetchall()
                for name in query.facets
            }
        words = [word for alternatives in query.terms for word in alternatives]
        hits = [
            SearchHit(doc_id, float(score), _highlights(json.loads(doc), words))
            for doc_id, doc, score in rows
        ]
        return SearchResult(hits, total, {k: [tuple(r) for r in v] for k, v in facets.items()})

    def suggest(self, prefix: str, labels: frozenset[str] | None, limit: int) -> list[str]:
        prefix = prefix.strip()
        if not prefix:
            return []
        with self._connect() as connection:
            generation = self._generation(connection)
            where, params = _where(generation, SearchQuery(labels=labels))
            rows = connection.execute(
                f"SELECT d.title FROM docs_{generation} d WHERE {where} "
                "AND d.title LIKE ? ESCAPE '\\' "
                "ORDER BY d.title NOT LIKE ? ESCAPE '\\', d.downloads DESC, d.title LIMIT ?",
                [*params, _contains(prefix), _escape(prefix) + "%", limit],
            ).fetchall()
        return [title for (title,) in rows]


def _create_generation(connection: sqlite3.Connection, generation: int) -> None:
    g = generation
    connection.executescript(
        f"""
        CREATE TABLE docs_{g} (
            rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc TEXT NOT NULL,
            title TEXT NOT NULL, keywords TEXT NOT NULL, body TEXT NOT NULL,
            modified TEXT, released TEXT, downloads INTEGER NOT NULL DEFAULT 0,
            revision INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE terms_{g} (doc_id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL);
        CREATE INDEX terms_{g}_by_value ON terms_{g} (field, value, doc_id);
        CREATE INDEX terms_{g}_by_doc ON terms_{g} (doc_id, field, value);
        CREATE TABLE labels_{g} (doc_id TEXT NOT NULL, label TEXT NOT NULL);
        CREATE INDEX labels_{g}_by_label ON labels_{g} (label, doc_id);
        CREATE INDEX labels_{g}_by_doc ON labels_{g} (doc_id);
        CREATE VIRTUAL TABLE fts_{g} USING fts5(
            title, keywords, body, content='', tokenize='trigram');
        """
    )


def _ensure_tombstones(connection: sqlite3.Connection) -> None:
    # Here rather than in ensure(): index files made before tombstones existed get the table
    # on their first write.
    connection.execute("CREATE TABLE IF NOT EXISTS removed (id TEXT PRIMARY KEY)")


def _drop_generation(connection: sqlite3.Connection, generation: int) -> None:
    for table in ("docs", "terms", "labels", "fts"):
        connection.execute(f"DROP TABLE IF EXISTS {table}_{generation}")


def _delete(connection: sqlite3.Connection, g: int, doc_id: str) -> None:
    row = connection.execute(
        f"SELECT rowid, title, keywords, body FROM docs_{g} WHERE id = ?", (doc_id,)
    ).fetchone()
    if row is None:
        return
    # A contentless FTS table forgets a row only when told its old text.
    connection.execute(
        f"INSERT INTO fts_{g} (fts_{g}, rowid, title, keywords, body) "
        "VALUES ('delete', ?, ?, ?, ?)",
        row,
    )
    connection.execute(f"DELETE FROM docs_{g} WHERE id = ?", (doc_id,))
    connection.execute(f"DELETE FROM terms_{g} WHERE doc_id = ?", (doc_id,))
    connection.execute(f"DELETE FROM labels_{g} WHERE doc_id = ?", (doc_id,))


def _write(connection: sqlite3.Connection, g: int, document: dict) -> None:
    doc_id = document["id"]
    if connection.execute("SELECT 1 FROM removed WHERE id = ?", (doc_id,)).fetchone():
        return
    indexed = connection.execute(f"SELECT revision FROM docs_{g} WHERE id = ?", (doc_id,))
    row = indexed.fetchone()
    # A drain that read an older revision and writes late must not undo a newer one.
    if row is not None and row[0] > document["revision"]:
        return
    _delete(connection, g, doc_id)
    title = document["title"]
    keywords = text_of(document, KEYWORD_FIELDS)
    body = text_of(document, BODY_FIELDS)
    cursor = connection.execute(
        f"INSERT INTO docs_{g} "
        "(id, doc, title, keywords, body, modified, released, downloads, revision) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            doc_id,
            json.dumps(document, ensure_ascii=False),
            title,
            keywords,
            body,
            document["modified_at"],
            document.get("release_date"),
            document.get("downloads", 0),
            document["revision"],
        ),
    )
    connection.execute(
        f"INSERT INTO fts_{g} (rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
        (cursor.lastrowid, title, keywords, body),
    )
    terms = []
    for field in TERM_FIELDS:
        values = document.get(field)
        for value in values if isinstance(values, list) else [values]:
            if value:
                terms.append((doc_id, field, value))
    connection.executemany(f"INSERT INTO terms_{g} VALUES (?, ?, ?)", terms)
    connection.executemany(
        f"INSERT INTO labels_{g} VALUES (?, ?)", [(doc_id, label) for label in document["labels"]]
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(text: str) -> str:
    return "%" + _escape(text) + "%"


def _fts_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _where(g: int, query: SearchQuery) -> tuple[str, list]:
    clauses: list[str] = []
    params: list = []
    # EXISTS, not IN: with an IN list beside the full-text match SQLite crosses the two
    # sets (labelled datasets x text hits); EXISTS probes the side tables' indexes per row.
    if query.labels is not None:
        marks = ",".join("?" * len(query.labels)) or "NULL"
        clauses.append(
            f"EXISTS (SELECT 1 FROM labels_{g} l WHERE l.doc_id = d.id AND l.label IN ({marks}))"
        )
        params.extend(sorted(query.labels))
    if query.exclude_ids:
        clauses.append(f"d.id NOT IN ({','.join('?' * len(query.exclude_ids))})")
        params.extend(sorted(query.exclude_ids))
    for field, values in query.filters:
        marks = ",".join("?" * len(values)) or "NULL"
        clauses.append(
            f"EXISTS (SELECT 1 FROM terms_{g} t WHERE t.doc_id = d.id AND t.field = ? "
            f"AND t.value IN ({marks}))"
        )
        params.extend([field, *values])
    for alternatives in query.terms:
        matches = []
        for word in alternatives:
            if len(word) >= FTS_MIN_CHARS:
                matches.append(f"d.rowid IN (SELECT rowid FROM fts_{g} WHERE fts_{g} MATCH ?)")
                params.append(_fts_phrase(word))
            else:
                matches.append(
                    "(d.title LIKE ? ESCAPE '\\' OR d.keywords LIKE ? ESCAPE '\\' "
                    "OR d.body LIKE ? ESCAPE '\\')"
                )
                params.extend([_contains(word)] * 3)
        clauses.append("(" + " OR ".join(matches) + ")")
    return (" AND ".join(clauses) or "1 = 1"), params


def _score(terms: tuple[tuple[str, ...], ...]) -> tuple[str, list]:
    """Relevance: per query word, its best place among the alternatives: the whole title
    (100), in the title (10), in tags, department or themes (3), elsewhere (1)."""
    if not terms:
        return "0", []
    parts, params = [], []
    for alternatives in terms:
        cases = []
        for word in alternatives:
            cases.append(
                "CASE WHEN d.title = ? THEN 100 WHEN d.title LIKE ? ESCAPE '\\' THEN 10 "
                "WHEN d.keywords LIKE ? ESCAPE '\\' THEN 3 ELSE 1 END"
            )
            params.extend([word, _contains(word), _contains(word)])
        parts.append("max(" + ", ".join(cases) + ", 0)" if len(cases) > 1 else cases[0])
    return " + ".join(parts), params


def _highlights(document: dict, words: list[str]) -> dict[str, str]:
    marked = {
        "title": highlight(document["title"], words),
        "description": highlight(document.get("description", ""), words, SNIPPET_CHARS),
    }
    return {field: text for field, text in marked.items() if text}
