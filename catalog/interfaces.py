"""The ports of the catalog: each is a Protocol with one backend per engine, chosen by URL."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str


class ObjectStore(Protocol):
    """Where resource files live: a local folder by default, S3 at scale."""

    def put(self, key: str, stream: BinaryIO, content_type: str) -> StoredObject:
        """Store the stream's bytes under key, reading it in chunks; all or nothing."""

    def open(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; raises KeyError if there is no such object."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def check(self) -> str:
        """Say where the store is; raise if it does not answer."""
