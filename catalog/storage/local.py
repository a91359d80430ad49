"""The local-folder object store: the embedded default, and a real one.

Every key is checked so that no ``..``, absolute path or link can reach outside the root;
writes go to a temporary file that is renamed into place only when complete.
"""

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from catalog.interfaces import StoredObject

CHUNK_SIZE = 1024 * 1024


class UnsafeKey(ValueError):
    """A key that could escape the store's root."""


def check_key(key: str) -> str:
    """Refuse keys with empty, "." or ".." segments, backslashes or NULs, on every store:
    a key valid on one store is valid on every store."""
    # Judge the raw segments: a normalised path would hide "a/./b" or "a//b".
    parts = key.split("/")
    if "\\" in key or "\x00" in key or any(part in ("", ".", "..") for part in parts):
        raise UnsafeKey(f"unsafe object key {key!r}")
    return key


class LocalObjectStore:
    def __init__(self, root: Path):
        self.root = root.resolve()

    @classmethod
    def from_settings(cls, settings) -> "LocalObjectStore":
        return cls(Path(unquote(urlsplit(settings.storage_url).path)))

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*check_key(key).split("/"))
        # A link planted inside the root must not lead outside it either.
        if not path.resolve().is_relative_to(self.root):
            raise UnsafeKey(f"object key {key!r} leads outside the store")
        return path

    def put(self, key: str, stream: BinaryIO, content_type: str) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(descriptor, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return StoredObject(key, size, digest.hexdigest(), content_type)

    def open(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return self._chunks(path)

    @staticmethod
    def _chunks(path: Path) -> Iterator[bytes]:
        with path.open("rb") as source:
            while chunk := source.read(CHUNK_SIZE):
                yield chunk

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def check(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"{self.root} is not writable")
        return f"folder {self.root}"
