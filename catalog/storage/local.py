"""The local-folder object store: the embedded default, and a real one.

Every key is checked so that no ``..``, absolute path or link can reach outside the root;
writes go to a temporary file that is renamed into place only when complete.
"""

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from catalog.interfaces import ObjectInfo, StoredObject

CHUNK_SIZE = 1024 * 1024
# Chunks open() reads: a download hands each to the web server whole, and waitress moves a
# buffer past its outbuf_overflow (1 MiB by default) into a temporary file on disk; chunks
# of a quarter of that stay in memory and streamed downloads go about twice as fast.
READ_CHUNK = 256 * 1024


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


def check_range(start: int | None, end: int | None) -> tuple[int, int | None]:
    """(start, end) of a half-open byte range as every store takes it: None as the start is
    0; None as the end is the object's end."""
    start = 0 if start is None else start
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range {start}..{end}")
    return start, end


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

    def open(self, key: str, start: int | None = None, end: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        start, end = check_range(start, end)
        # Opened here, not in the generator, so a missing file raises before the first chunk.
        try:
            source = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise KeyError(key) from error
        return self._chunks(source, start, end)

    @staticmethod
    def _chunks(source: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
        with source:
            source.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = source.read(READ_CHUNK if left is None else min(READ_CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            status = path.stat()
        except (FileNotFoundError, NotADirectoryError) as error:
            raise KeyError(key) from error
        if not path.is_file():
            raise KeyError(key)
        return ObjectInfo(
            key=key,
            size=status.st_size,
            content_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            etag=f"{status.st_mtime_ns:x}-{status.st_size:x}",
            last_modified=datetime.fromtimestamp(status.st_mtime, UTC),
        )

    def presigned_url(
        self,
        key: str,
        expires_seconds: int,
        file_name: str | None = None,
        content_type: str | None = None,
    ) -> None:
        """A folder has no URLs of its own: the portal serves its files."""
        self._path(key)  # an unsafe key is refused here as on every store
        return None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def copy(self, source: str, target: str, content_type: str, sha256: str) -> StoredObject:
        """A copy through a temporary file, as put writes: the folder keeps no metadata, so
        the checksum is the one put computes while copying."""
        try:
            opened = self._path(source).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise KeyError(source) from error
        self._path(target)  # an unsafe target is refused before anything is read
        with opened:
            return self.put(target, opened, content_type)

    def remove_older(self, prefix: str, before: datetime) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        limit = before.timestamp()
        removed = 0
        # Deepest first, so a folder emptied of its files can go too.
        for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_symlink() or not path.resolve().is_relative_to(self.root):
                continue  # a link planted in the folder is not ours to follow or remove
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return removed

    def start_multipart_upload(
        self, key: str, content_type: str, size: int, expires_seconds: int, part_count: int = 0
    ) -> None:
        """A folder has no URLs to send parts to: uploads come through the portal."""
        self._path(key)
        return None

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        self._path(key)
        raise KeyError(f"the local folder store has no multipart upload {upload_id!r}")

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self._path(key)  # there is never an upload to abandon here

    def check(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"{self.root} is not writable")
        return f"folder {self.root}"
