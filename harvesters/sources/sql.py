"""A table or query in a department's SQL database as a harvest source (``sql``).

Each run exports the result to a CSV file (UTF-8 with a byte-order mark, so Excel on
Chinese Windows opens it right), streaming: rows come from a server-side cursor in batches
and go to a spooled temporary file while they are hashed, so no result is ever whole in
memory. The export's sha256 is the resource's content hash: an unchanged result is not
imported again. One source is one dataset with one resource.

Only reading is allowed, by three guards: the text check (one SELECT or WITH statement,
no ';'), a read-only transaction (PostgreSQL, MySQL / MariaDB, Oracle) or a read-only
SQLite file (``mode=ro`` and ``query_only``), and dialects without such a guarantee are
refused. The password is never stored with the source: ``password_env`` names the
environment variable that holds it (see ``harvesters.sources.access`` for which names may
be used). A database host is reached under the fetcher's address rule, and an SQLite file
only inside the allowed harvest folders.
"""

import csv
import hashlib
import io
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from urllib.parse import quote

from sqlalchemy import Engine, TextClause, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from harvesters.interfaces import (
    Fetcher,
    GatherFailure,
    HarvestSourceError,
    RemoteDataset,
    RemoteResource,
    SourceSpec,
)
from harvesters.sources.access import (
    allows_private,
    folder_rule_error,
    read_secret,
    secret_name_error,
    vetted_address,
)
from harvesters.sources.options import option_errors

BATCH_ROWS = 5_000
SPOOL_BYTES = 8 * 1024 * 1024  # exports up to this size stay in memory, larger ones on disk
CONNECT_TIMEOUT_SECONDS = 15
# How each dialect is told that the transaction may only read. SQLite is opened read-only.
READ_ONLY = {
    "postgresql": "SET TRANSACTION READ ONLY",
    "mysql": "SET TRANSACTION READ ONLY",
    "mariadb": "SET TRANSACTION READ ONLY",
    "oracle": "SET TRANSACTION READ ONLY",
}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "oracle": 1521}
# URL options a source may set; others can make a driver read local files (libpq's
# passfile, service, sslkey) or change where it connects.
URL_OPTIONS = frozenset(
    {"sslmode", "connect_timeout", "application_name", "charset", "client_encoding"}
)
# Values csv writes right as they are; checked by exact type, the export's hot path.
_AS_IS = frozenset({str, int, float, Decimal})
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STATEMENT_START = re.compile(r"(select|with)\b", re.I)
_TABLE = re.compile(r"(?!\d)\w+(\.(?!\d)\w+)?")


def query_error(query: str) -> str | None:
    """Why ``query`` may not be harvested (not one SELECT), or None. A conservative text
    check: the read-only transaction is what really stops a write (a CTE with a DELETE)."""
    if ";" in query:
        return "Give one statement, without ';'."
    if not _STATEMENT_START.match(_COMMENTS.sub(" ", query).strip()):
        return "Only a SELECT query (or WITH ... SELECT) may be harvested."
    return None


def database_url(url: str) -> URL:
    """The source's SQLAlchemy URL; plain postgresql:// means psycopg, the installed driver."""
    parsed = make_url(url.strip())
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class SqlQuerySource:
    """A query's or a table's rows, exported to CSV on every run.

    URL: an SQLAlchemy URL without password (``postgresql://user@host/db``,
    ``sqlite:////data/folder/file.db``). Options: ``query`` (one SELECT) or ``table``
    (``name`` or ``schema.name``), ``title`` (default: the table's name, else 数据库查询),
    ``description``, ``password_env`` (the environment variable holding the password; required
    but for SQLite)."""

    kind = "sql"
    label = "数据库查询"
    OPTIONS: ClassVar[dict[str, type]] = {
        "query": str,
        "table": str,
        "title": str,
        "description": str,
        "password_env": str,
    }

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        errors = option_errors(spec.config, cls.OPTIONS)
        if errors:
            return errors
        url_error = _url_error(spec.url)
        if url_error:
            errors["url"] = [url_error]
        query, table = spec.config.get("query"), spec.config.get("table")
        if bool(query) == bool(table):
            errors["config.query"] = ["Give either a query or a table, not both."]
        elif query and (problem := query_error(query)):
            errors["config.query"] = [problem]
        elif table and not _TABLE.fullmatch(table):
            errors["config.table"] = ["Give a table name, or schema.name."]
        password_env = spec.config.get("password_env")
        if password_env is not None:
            secret_error = secret_name_error(password_env)
            if secret_error:
                errors["config.password_env"] = [secret_error]
        elif not url_error and database_url(spec.url).get_backend_name() != "sqlite":
            # Always a password of the steward's choosing: without one, libpq and other
            # drivers would fall back on the worker's own (PGPASSWORD, ~/.pgpass).
            errors["config.password_env"] = [
                "A database server needs the environment variable holding its password."
            ]
        return errors

    @property
    def remote_id(self) -> str:
        """The source's one dataset: the same URL and query are the same dataset."""
        config = self.spec.config
        what = config.get("query") or f"table:{config.get('table')}"
        return "sql:" + hashlib.sha256(f"{self.spec.url.strip()}\n{what}".encode()).hexdigest()

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """Run the query now and describe its export: one dataset, one CSV resource."""
        errors = self.check_spec(self.spec)
        if errors:
            raise HarvestSourceError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
            )
        config = self.spec.config
        table = config.get("table")
        title = config.get("title") or (table.rsplit(".", 1)[-1] if table else "数据库查询")
        engine = self._engine()
        try:
            spool, digest, size, rows = self._export(engine)
        finally:
            engine.dispose()
        file_name = f"{_safe_file_stem(title)}.csv"
        resource = RemoteResource(
            remote_id="export",
            name=file_name,
            opener=lambda: _reader(spool),
            format="CSV",
            media_type="text/csv",
            file_name=file_name,
            size=size,
            content_hash=f"sha256:{digest}",
        )
        raw = {"url": self.spec.url, "query": config.get("query"), "table": table, "rows": rows}
        yield RemoteDataset(
            remote_id=self.remote_id,
            title=title,
            description=config.get("description", ""),
            resources=(resource,),
            raw=json.dumps(raw, ensure_ascii=False),
        )

    def _statement(self, engine: Engine) -> TextClause:
        table = self.spec.config.get("table")
        if not table:
            # Every ':' escaped, so text() binds nothing ("::int" casts, times in strings),
            # while it still escapes '%' for drivers that use it as their placeholder.
            return text(self.spec.config["query"].replace(":", "\\:"))
        preparer = engine.dialect.identifier_preparer
        name = ".".join(preparer.quote(part) for part in table.split("."))
        return text(f"SELECT * FROM {name}")  # noqa: S608 - a checked, quoted table name

    def _engine(self) -> Engine:
        url = database_url(self.spec.url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            path = Path(url.database or "")
            refused = folder_rule_error(path)
            if refused:
                raise HarvestSourceError(refused)
            location = "file:" + quote(str(path.resolve())) + "?mode=ro"

            def connect() -> sqlite3.Connection:
                connection = sqlite3.connect(location, uri=True, check_same_thread=False)
                connection.execute("PRAGMA query_only = ON")
                return connection

            return create_engine("sqlite://", creator=connect, poolclass=NullPool)
        address = vetted_address(
            url.host or "", url.port or DEFAULT_PORTS[backend], allows_private(self.fetcher)
        )
        password = read_secret(self.spec.config["password_env"])
        if backend == "postgresql":
            # hostaddr: connect to the vetted address, keeping the host name for TLS.
            connect_args = {"hostaddr": address, "connect_timeout": CONNECT_TIMEOUT_SECONDS}
            return create_engine(
                url.set(password=password), poolclass=NullPool, connect_args=connect_args
            )
        return create_engine(url.set(host=address, password=password), poolclass=NullPool)

    def _export(self, engine: Engine) -> tuple[tempfile.SpooledTemporaryFile, str, int, int]:
        """Run the statement in a read-only transaction and write its rows as CSV to a
        spooled file: (the file, its sha256, its size in bytes, the number of rows)."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
        digest = hashlib.sha256()
        batch_text = io.StringIO()
        writer = csv.writer(batch_text)

        def write_out() -> None:
            data = batch_text.getvalue().encode("utf-8")
            digest.update(data)
            spool.write(data)
            batch_text.seek(0)
            batch_text.truncate()

        rows = 0
        try:
            with engine.connect() as connection:
                read_only = READ_ONLY.get(engine.dialect.name)
                if read_only:
                    connection.exec_driver_sql(read_only)
                result = connection.execution_options(
                    stream_results=True, max_row_buffer=BATCH_ROWS
                ).execute(self._statement(engine))
                batch_text.write("\ufeff")
                writer.writerow(list(result.keys()))
                for batch in result.partitions(BATCH_ROWS):
                    writer.writerows(
                        [value if type(value) in _AS_IS else _cell(value) for value in row]
                        for row in batch
                    )
                    rows += len(batch)
                    write_out()
                write_out()
        except SQLAlchemyError as error:
            spool.close()
            reason = getattr(error, "orig", None) or error
            raise HarvestSourceError(f"the database query failed: {reason}") from None
        except BaseException:
            spool.close()
            raise
        return spool, digest.hexdigest(), spool.tell(), rows


def _url_error(url: object) -> str | None:
    if not isinstance(url, str):
        return "Give an SQLAlchemy database URL."
    try:
        parsed = database_url(url)
    except (ArgumentError, ValueError) as error:
        return f"Not a database URL: {error}."
    backend = parsed.get_backend_name()
    if backend != "sqlite" and backend not in READ_ONLY:
        known = ", ".join(sorted({"sqlite", *READ_ONLY}))
        return f"{backend} cannot be read in a read-only transaction; use one of: {known}."
    if parsed.password is not None:
        return "Leave the password out of the URL; name its environment variable in password_env."
    unknown = sorted(set(parsed.query) - URL_OPTIONS)
    if unknown:
        return f"URL options not allowed: {', '.join(unknown)}."
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as error:
        return f"This portal has no driver for {parsed.drivername}: {error}."
    if backend == "sqlite":
        path = Path(parsed.database or "")
        if not path.is_absolute():
            return "Give the SQLite file's absolute path: sqlite:////folder/file.db."
        return folder_rule_error(path) or (
            None if path.is_file() else f"{path} is not a file on this machine."
        )
    if not parsed.host:
        return "The URL names no database host."
    return None


def _cell(value: Any) -> Any:
    """A database value as CSV text, in the house format (ISO dates, true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _safe_file_stem(title: str) -> str:
    stem = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "_", title).strip(" ._")
    return stem[:100] or "export"


class _SpoolView(io.RawIOBase):
    """A read-only view of an export with a position of its own: each opener call reads
    the export from the start, and closing a view leaves the export for the next one."""

    def __init__(self, spool: tempfile.SpooledTemporaryFile) -> None:
        self._spool = spool
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._spool.seek(self._position)
        data = self._spool.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        end = self._spool.seek(0, io.SEEK_END)
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: end}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


@contextmanager
def _reader(spool: tempfile.SpooledTemporaryFile) -> Iterator[BinaryIO]:
    with io.BufferedReader(_SpoolView(spool)) as reader:
        yield reader
