"""Settings: one declared list of keys, read from ``OPENDATA_*`` environment variables, an
optional ``opendata.toml`` in the instance folder, and defaults, in that order of precedence.
"""

import difflib
import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harvesters.sources.access import SECRET_PREFIX
from portal import setting_values as parsers

ENV_PREFIX = "OPENDATA_"
CONFIG_FILE = "opendata.toml"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
INSTANCE_PATH_VARIABLE = ENV_PREFIX + "INSTANCE_PATH"
# OPENDATA_* variables read outside the settings object, which are no misspelt settings:
# the test suite's servers (tests/), the benchmarks' (bench/), the state folder of
# scripts/services.sh, and the secrets harvest sources name (harvesters/sources/access.py).
OTHER_PREFIXES = (ENV_PREFIX + "TEST_", ENV_PREFIX + "BENCH_", SECRET_PREFIX)
OTHER_VARIABLES = (INSTANCE_PATH_VARIABLE, ENV_PREFIX + "SERVICES_DIR")


class SettingsError(ValueError):
    """A setting has a value the portal cannot use; the message says which and why."""


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[Any], Any]
    default: Callable[[Path], Any]  # from the instance folder
    description: str
    environment_variable: str = ""  # when not OPENDATA_ and the name

    @property
    def variable(self) -> str:
        """The environment variable the setting is read from."""
        return self.environment_variable or ENV_PREFIX + self.name.upper()


DECLARED: tuple[Setting, ...] = (
    Setting(
        "database_url",
        parsers.database_url,
        lambda instance: f"sqlite:///{instance / 'catalog.db'}",
        "Catalog database: sqlite:///path (embedded) or postgresql+psycopg://user:pw@host/db.",
    ),
    Setting(
        "storage_url",
        parsers.storage_url,
        lambda instance: (instance / "objects").as_uri(),
        "Object store: file:///folder (embedded) or s3://bucket.",
    ),
    Setting(
        "search_url",
        parsers.search_url,
        lambda instance: f"sqlite:///{instance / 'search.db'}",
        "Search engine: sqlite:///path (embedded), opensearch+http://host:9200 or "
        "elasticsearch+http://host:9200.",
    ),
    Setting(
        "s3_endpoint_url",
        parsers.s3_endpoint_url,
        lambda instance: "",
        "S3 endpoint for s3:// storage (MinIO, any S3-compatible store); empty for AWS.",
    ),
    Setting(
        "s3_region",
        parsers.text,
        lambda instance: "us-east-1",
        "S3 region for s3:// storage.",
    ),
    Setting(
        "s3_access_key_id",
        parsers.text,
        lambda instance: "",
        "S3 access key; empty to use the standard AWS credential chain.",
    ),
    Setting(
        "s3_secret_access_key",
        parsers.text,
        lambda instance: "",
        "S3 secret key.",
    ),
    Setting(
        "search_index_prefix",
        parsers.index_prefix,
        lambda instance: "opendata",
        "Prefix of the index and alias names on Elasticsearch / OpenSearch.",
    ),
    Setting(
        "queue_url",
        parsers.queue_url,
        lambda instance: f"sqlite:///{instance / 'queue.db'}",
        "Job queue: sqlite:///path (embedded) or redis://host:6379/0.",
    ),
    Setting(
        "embedded_worker",
        parsers.boolean,
        lambda instance: True,
        "Run a job worker inside `opendata serve`, so one command does everything; turn it off "
        "when `opendata worker` runs apart (on Redis, on other machines).",
    ),
    Setting(
        "harvest_allow_private_addresses",
        parsers.boolean,
        lambda instance: False,
        "Let harvest sources reach loopback, private and link-local addresses (off: no SSRF "
        "into the government network from a harvest URL).",
    ),
    Setting(
        "harvest_timeout_seconds",
        parsers.positive_int,
        lambda instance: 30,
        "Connect and read timeout of each harvest request, in seconds.",
    ),
    Setting(
        "harvest_max_document_bytes",
        parsers.positive_int,
        lambda instance: 50 * 1024**2,
        "Largest metadata document (a catalog page, a data.json) a harvest reads, in bytes.",
    ),
    Setting(
        "harvest_max_file_bytes",
        parsers.positive_int,
        lambda instance: 2 * 1024**3,
        "Largest resource file a harvest copies into the object store, in bytes (after "
        "decompression); a larger one is kept as a link.",
    ),
    Setting(
        "harvest_folder_roots",
        parsers.text,
        lambda instance: "",
        "Folders that folder harvest sources may read, separated by the OS path separator; "
        "empty: none.",
    ),
    Setting(
        "harvest_lease_seconds",
        parsers.positive_int,
        lambda instance: 60,
        "How long a harvest job's lease lasts without a heartbeat before the job counts as lost.",
    ),
    Setting(
        "rate_limit",
        parsers.rate_limit,
        lambda instance: "600/minute;20000/day",
        "API rate limit per token (or per address for anonymous callers), in Flask-Limiter's "
        "notation.",
    ),
    Setting(
        "rate_limit_storage_url",
        parsers.rate_limit_storage_url,
        lambda instance: "",
        "Where rate-limit counters live: memory:// or redis://...; empty: the queue's Redis "
        "when OPENDATA_QUEUE_URL is one, else memory.",
    ),
    Setting(
        "export_direct_max_rows",
        parsers.positive_int,
        lambda instance: 200_000,
        "Record exports up to this many rows stream directly; larger ones run as a job that "
        "writes the file to the object store and hands out its link.",
    ),
    Setting(
        "secret_key",
        parsers.secret_key,
        lambda instance: _stored_secret_key(instance),
        "Signs sessions and CSRF tokens. Generated into the instance folder when absent.",
    ),
    Setting(
        "max_upload_bytes",
        parsers.positive_int,
        lambda instance: 2 * 1024**3,
        "Largest file a steward may upload, in bytes.",
    ),
    Setting(
        "site_name",
        parsers.text,
        lambda instance: "禅城区政府数据开放平台",
        "The portal's name on its pages.",
    ),
    Setting(
        "debug",
        parsers.boolean,
        lambda instance: False,
        "Flask's debug mode (never in production): templates are reread when changed, and an "
        "unhandled error reaches the server instead of the portal's error page; `opendata "
        "serve --debug` then shows its traceback in the browser. Code changes need a restart.",
    ),
    Setting(
        "host",
        parsers.host,
        lambda instance: "127.0.0.1",
        "Address `opendata serve` listens on: 127.0.0.1 for this machine only, 0.0.0.0 (or ::) "
        "for every interface, as in a container.",
    ),
    Setting(
        "port",
        parsers.port,
        lambda instance: 5000,
        "Port `opendata serve` listens on (1 to 65535).",
        environment_variable="PORT",
    ),
)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each OPENDATA_* variable that nothing reads, with the closest setting:
    a misspelt variable would otherwise be ignored without a word. (A misspelt key of the
    config file is refused instead: that file holds settings only.)"""
    known = [setting.variable for setting in DECLARED] + list(OTHER_VARIABLES)
    # Compared without the prefix all share, which would make any two names look alike.
    by_stem = {variable.removeprefix(ENV_PREFIX): variable for variable in known}
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known or name.startswith(OTHER_PREFIXES):
            continue
        closest = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), by_stem, n=1)
        hint = (
            f"did you mean {by_stem[closest[0]]}?" if closest else "`opendata settings` lists them."
        )
        warnings.append(f"{name} is not a setting and is ignored; {hint}")
    return warnings


def _stored_secret_key(instance: Path) -> str:
    """The key generated into the instance folder; empty when none was yet."""
    path = instance / SECRET_KEY_FILE
    return path.read_text().strip() if path.exists() else ""


def _generated_secret_key(instance: Path) -> str:
    path = instance / SECRET_KEY_FILE
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        # Created readable by the owner only, and never under version control.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    storage_url: str
    s3_endpoint_url: str
    s3_region: str
    s3_access_key_id: str
    s3_secret_access_key: str
    search_url: str
    search_index_prefix: str
    queue_url: str
    embedded_worker: bool
    harvest_allow_private_addresses: bool
    harvest_timeout_seconds: int
    harvest_max_document_bytes: int
    harvest_max_file_bytes: int
    harvest_folder_roots: str
    harvest_lease_seconds: int
    rate_limit: str
    rate_limit_storage_url: str
    export_direct_max_rows: int
    secret_key: str
    max_upload_bytes: int
    site_name: str
    debug: bool
    host: str
    port: int
    testing: bool = False

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] = os.environ,
        overrides: Mapping[str, Any] | None = None,
        testing: bool = False,
        generate_secret_key: bool = True,
    ) -> "Settings":
        """Read the settings; raise SettingsError naming the first bad value. Without
        ``generate_secret_key`` (for a check that must create nothing) a key not yet
        generated into the instance folder is left empty."""
        overrides = overrides or {}
        instance = Path(
            overrides.get("instance_path")
            or environ.get(INSTANCE_PATH_VARIABLE)
            or Path.cwd() / "instance"
        ).resolve()
        from_file = _read_config_file(instance / CONFIG_FILE)
        values: dict[str, Any] = {}
        for setting in DECLARED:
            env_name = setting.variable
            # The error names the setting as its source spells it: a variable or a key.
            if setting.name in overrides:
                raw, named, origin = overrides[setting.name], env_name, "override"
            elif env_name in environ:
                raw, named, origin = environ[env_name], env_name, f"environment variable {env_name}"
            elif setting.name in from_file:
                raw, named, origin = from_file[setting.name], setting.name, instance / CONFIG_FILE
            else:
                values[setting.name] = setting.default(instance)
                continue
            try:
                values[setting.name] = setting.parse(raw)
            except (TypeError, ValueError) as error:
                raise SettingsError(f"{named} (from {origin}): {error}") from error
        unknown = set(from_file) - {s.name for s in DECLARED}
        if unknown:
            raise SettingsError(f"{instance / CONFIG_FILE}: unknown settings {sorted(unknown)}")
        if generate_secret_key and not values["secret_key"]:
            values["secret_key"] = _generated_secret_key(instance)
        return cls(instance_path=instance, testing=testing, **values)

    def describe(self) -> list[tuple[str, str]]:
        """(name, value) pairs to show an operator, with secrets and passwords hidden."""
        shown = []
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "secret_key" and not value:
                value = "(not yet generated: run `opendata init`)"
            elif field.name in ("secret_key", "s3_secret_access_key"):
                value = "(set)" if value else "(empty)"
            elif isinstance(value, str) and "@" in value:
                parts = urlsplit(value)
                if parts.password:
                    value = value.replace(f":{parts.password}@", ":***@")
            shown.append((field.name, str(value)))
        return shown


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as source:
            return tomllib.load(source)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: {error}") from error
