"""How each kind of setting value is read and checked, from an environment variable (text)
or the instance's TOML file (text, numbers, true/false).

Each parser returns the value the portal uses or raises ValueError saying what is wrong;
the settings loader adds which setting and where it came from.
"""

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from limits import parse_many
from limits.storage import SCHEMES as LIMITER_STORAGE_SCHEMES
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
# Elasticsearch and OpenSearch index names: lower case, no separators or wildcards.
INDEX_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.-]*")
SEARCH_ENGINE_SCHEMES = (
    "opensearch+http",
    "opensearch+https",
    "elasticsearch+http",
    "elasticsearch+https",
)


def text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def secret_key(value: object) -> str:
    if not text(value).strip():
        raise ValueError(
            "must not be empty; leave it unset to use the key generated into the instance folder"
        )
    return value


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not a yes/no value")


def _whole_number(value: object) -> int:
    # TOML's true is a bool, which Python counts as the int 1.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a whole number")


def positive_int(value: object) -> int:
    number = _whole_number(value)
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive number")
    return number


def port(value: object) -> int:
    number = _whole_number(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"{value!r} is not a port number (1 to 65535)")
    return number


def host(value: object) -> str:
    """An address to listen on: an IPv4 or IPv6 address, or a host name."""
    try:
        ipaddress.ip_address(text(value))
    except ValueError:  # not an address: a name, then
        if not HOST_NAME.fullmatch(value) or len(value) > 253:
            raise ValueError(
                f"{value!r} is not an IP address or host name to listen on, such as 127.0.0.1 "
                "or 0.0.0.0"
            ) from None
    return value


def rate_limit(value: object) -> str:
    # Flask-Limiter's own parser, the one api/limits.py hands the value to.
    try:
        parse_many(text(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a rate limit such as '600/minute;20000/day'") from None
    return value


def index_prefix(value: object) -> str:
    if not INDEX_PREFIX.fullmatch(text(value)):
        raise ValueError(
            f"{value!r} cannot begin an index name: use lower-case letters, digits, - _ ."
        )
    return value


def _scheme(value: object, schemes: tuple[str, ...]) -> str:
    scheme = urlsplit(text(value)).scheme
    if scheme not in schemes:
        raise ValueError(f"{value!r} has scheme {scheme!r}; use one of: {', '.join(schemes)}")
    return scheme


def _sqlite_file(value: str) -> None:
    """sqlite:///path, as SQLAlchemy writes it and every embedded backend reads it."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"{value!r} is not a URL such as sqlite:///path/to/file.db") from None
    if url.host or not url.database or url.database == ":memory:":
        raise ValueError(f"{value!r} names no file; use sqlite:///path/to/file.db")


def _server(value: str) -> None:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - reading it is what checks it
    except ValueError:
        raise ValueError(f"{value!r} has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"{value!r} names no host")


def _url(
    schemes: tuple[str, ...], embedded: str, check_embedded: Callable[[str], None]
) -> Callable[[object], str]:
    """A URL of one of ``schemes``: the ``embedded`` one checked by ``check_embedded``,
    any other naming a server."""

    def parse(value: object) -> str:
        if _scheme(value, schemes) == embedded:
            check_embedded(value)
        else:
            _server(value)
        return value

    return parse


def _postgresql(value: str) -> None:
    # A host is optional: without one, libpq takes the local socket.
    try:
        make_url(value)
    except ArgumentError:
        raise ValueError(
            f"{value!r} is not a URL such as postgresql+psycopg://user:password@host/db"
        ) from None


def database_url(value: object) -> str:
    if _scheme(value, ("sqlite", "postgresql", "postgresql+psycopg")) == "sqlite":
        _sqlite_file(value)
    else:
        _postgresql(value)
    return value


search_url = _url(("sqlite", *SEARCH_ENGINE_SCHEMES), "sqlite", _sqlite_file)
queue_url = _url(("sqlite", "redis", "rediss"), "sqlite", _sqlite_file)


def storage_url(value: object) -> str:
    parts = urlsplit(value if isinstance(value, str) else "")
    if _scheme(value, ("file", "s3")) == "s3" and not parts.netloc:
        raise ValueError(f"{value!r} names no bucket; use s3://bucket or s3://bucket/prefix")
    if parts.scheme == "file" and (not parts.path or parts.netloc not in ("", "localhost")):
        raise ValueError(f"{value!r} names no folder on this machine; use file:///path/to/folder")
    return value


def s3_endpoint_url(value: object) -> str:
    if text(value):
        _scheme(value, ("http", "https"))
        _server(value)
    return value


def rate_limit_storage_url(value: object) -> str:
    if text(value):
        schemes = tuple(s for s in sorted(LIMITER_STORAGE_SCHEMES) if not s.startswith("async+"))
        _scheme(value, schemes)
    return value
