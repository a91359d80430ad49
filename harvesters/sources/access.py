"""What a harvest source on the portal's own machine may reach: folders, hosts and secrets.

A steward types a source's URL and options, and the harvest then runs with the portal's
privileges, so three things are kept to what the operator allowed:

- folders (the folder source, SQLite files of the SQL source): only inside the folders of
  the ``harvest_folder_roots`` setting. The portal hands them over once at start with
  ``configure_folder_roots``; until it does, no folder is allowed (fail closed), because
  ``SourceType.check_spec`` has no settings to read them from and ``harvesters`` may not
  import ``portal``;
- hosts that are not HTTP (a database server, an S3 endpoint): the fetcher's address rule
  (``harvesters.fetch.address_block_reason``), no loopback or private addresses unless the
  fetcher allows them;
- secrets (a database password, S3 keys): a source names an environment variable, never
  holds the secret, and only variables named ``OPENDATA_HARVEST_SECRET_*`` may be named,
  or a source could send the portal's own keys (``OPENDATA_SECRET_KEY``, AWS keys) to a
  server of the steward's choosing.
"""

import os
import re
import socket
from pathlib import Path

from harvesters.fetch import address_block_reason
from harvesters.interfaces import Fetcher, HarvestSourceError

SECRET_PREFIX = "OPENDATA_HARVEST_SECRET_"  # noqa: S105 - a name prefix, not a secret
_SECRET_NAME = re.compile(rf"{SECRET_PREFIX}[A-Z0-9_]+")

_folder_roots: tuple[Path, ...] = ()


def configure_folder_roots(setting: str) -> None:
    """Allow the folders of the ``harvest_folder_roots`` setting (``os.pathsep``-separated,
    each absolute); an empty setting allows none. Raises ValueError for a relative folder."""
    global _folder_roots
    roots = [part for part in setting.split(os.pathsep) if part.strip()]
    for root in roots:
        if not Path(root).is_absolute():
            raise ValueError(f"harvest folder root {root!r} is not an absolute path")
    _folder_roots = tuple(Path(root) for root in roots)


def folder_roots() -> tuple[Path, ...]:
    return _folder_roots


def root_of(path: Path) -> Path | None:
    """The allowed root that ``path`` lies in once every link is resolved, else None."""
    real = path.resolve()
    for root in _folder_roots:
        if real.is_relative_to(root.resolve()):
            return root.resolve()
    return None


def folder_rule_error(path: Path) -> str | None:
    """Why a source may not read ``path`` (not within the allowed roots), or None."""
    if not _folder_roots:
        return "No folder may be harvested on this portal (setting harvest_folder_roots is empty)."
    if root_of(path) is None:
        allowed = os.pathsep.join(str(root) for root in _folder_roots)
        return f"{path} is not inside the folders harvests may read ({allowed})."
    return None


def allows_private(fetcher: Fetcher) -> bool:
    """Whether the job's fetcher lets harvests reach private addresses; a fetcher that does
    not say (a test double) does not."""
    return bool(getattr(fetcher, "allow_private", False))


def vetted_address(host: str, port: int, allow_private: bool, timeout: float = 10) -> str:
    """Resolve ``host``, refuse it when any of its addresses is loopback, private or
    link-local (unless allowed), as the fetcher does, and return the first address that
    accepts a connection. The caller connects to that address itself, so a second lookup
    cannot answer differently (DNS rebinding)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise HarvestSourceError(f"cannot resolve host {host!r}: {error}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            reason = address_block_reason(address)
            if reason:
                raise HarvestSourceError(
                    f"host {host!r} resolves to {address}, a {reason} address; harvests may "
                    "not reach it (setting harvest_allow_private_addresses)"
                )
    failure: OSError | None = None
    # A name with IPv6 and IPv4 addresses may serve on only one of them.
    for address in addresses:
        try:
            socket.create_connection((address, port), timeout=timeout).close()
        except OSError as error:
            failure = error
        else:
            return address
    raise HarvestSourceError(f"cannot connect to {host}:{port}: {failure or 'no address'}")


def secret_name_error(name: object) -> str | None:
    """Why ``name`` may not be used as the environment variable holding a secret, or None."""
    if not isinstance(name, str) or not _SECRET_NAME.fullmatch(name):
        return (
            f"Name an environment variable starting with {SECRET_PREFIX} "
            "(upper-case letters, digits and '_')."
        )
    return None


def read_secret(name: str) -> str:
    """The secret in the environment variable ``name``; HarvestSourceError when unset."""
    error = secret_name_error(name)
    if error:
        raise HarvestSourceError(error)
    value = os.environ.get(name)
    if not value:
        raise HarvestSourceError(f"The environment variable {name} is not set on this worker.")
    return value
