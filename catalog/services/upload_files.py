"""The mechanics of steward uploads (catalog.services.uploads): the signed tokens that
carry a staged upload between its two steps, the reader that streams a request body into
the store while hashing, measuring and keeping a local copy, what kind of file an upload
is, and the record store that keeps only a preview.

No table holds staged uploads: a staged upload is an object under ``uploads/`` and a
token signed with the portal's secret key (itsdangerous), which names the object, its
size and checksum, the dataset and the user, and expires with the object. A token cannot
be forged or moved to another dataset or user, and a confirmed upload's object is gone,
so a token confirms once.
"""

import base64
import binascii
import hashlib
import mimetypes
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.interfaces import ObjectStore, RecordField, TableLoad
from catalog.models import Dataset
from catalog.services.resources import object_key

STAGING_PREFIX = "uploads/"
# How long a staged upload waits for its steward's confirmation; the cleanup removes the
# object an hour after its token has expired.
STAGED_SECONDS = 24 * 3600
CLEANUP_GRACE_SECONDS = 3600
CHUNK_BYTES = 1024 * 1024
HEAD_BYTES = 4096
MAX_FILE_NAME_CHARS = 200
PREVIEW_ROWS = 10
RAGGED_LINES_KEPT = 20

TABULAR_EXTENSIONS = frozenset({".csv", ".tsv", ".xlsx", ".json", ".geojson"})
TABULAR_MEDIA_TYPES = frozenset(
    {
        "text/csv",
        "text/tab-separated-values",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/json",
        "application/geo+json",
    }
)
MEDIA_TYPE_OF_FORMAT = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "geojson": "application/geo+json",
}
# Python's codec names as HTTP names them, for the charset of a CSV's media type.
CHARSETS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "gb18030": "GB18030",
    "cp1252": "windows-1252",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16LE",
    "utf-16-be": "UTF-16BE",
    "utf-32": "UTF-32",
}
# Types a browser would run or render as a page: a download of one is sent as bytes.
ACTIVE_MEDIA_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/xml",
        "application/xml",
    }
)
# A government portal hands out data, never programs.
EXECUTABLE_EXTENSIONS = frozenset(
    ".exe .dll .com .bat .cmd .msi .msp .scr .pif .cpl .ps1 .vbs .vbe .wsf .jar .apk .app "
    ".sh .so .dylib .elf .bin .run .lnk .hta".split()
)
EXECUTABLE_REFUSAL = (
    "Programs cannot be uploaded as data (a Windows, Linux or macOS executable or script). "
    "不能上传可执行程序或脚本文件。"
)


class FileTooLarge(CatalogError):
    """The upload is larger than the portal takes (HTTP 413)."""


@dataclass(frozen=True)
class IncomingFile:
    """A file as the web layer hands it over: its bytes (read once, in chunks) and what
    the client says of it."""

    stream: BinaryIO
    file_name: str
    media_type: str = ""


@dataclass(frozen=True)
class Checksums:
    """Checksums the client sent with a file, in hex, to be verified."""

    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class StagedUpload:
    """What a staged upload's token says: where its bytes wait and what they are."""

    key: str
    size: int
    sha256: str
    dataset_id: str
    user_id: str
    file_name: str
    media_type: str
    format: str
    tabular: bool
    field_names: list[str] = field(default_factory=list)  # the columns a confirm may keep
    ragged_lines: list[int] = field(default_factory=list)  # the first rows that are left out


@dataclass(frozen=True)
class PendingMultipart:
    """What a multipart upload's handle says, until it is completed."""

    key: str
    upload_id: str
    size: int
    dataset_id: str
    user_id: str
    file_name: str
    sha256: str | None = None


class UploadTokens:
    """Signs and reads the tokens of staged uploads and the handles of multipart ones."""

    def __init__(self, secret_key: str):
        self._staged = URLSafeTimedSerializer(secret_key, salt="opendata.upload.staged")
        self._multipart = URLSafeTimedSerializer(secret_key, salt="opendata.upload.multipart")

    def sign_staged(self, staged: StagedUpload) -> str:
        return self._staged.dumps(asdict(staged))

    def read_staged(self, token: str) -> StagedUpload:
        """The staged upload of a token; InvalidInput for one forged, damaged or expired."""
        try:
            values = self._staged.loads(token, max_age=STAGED_SECONDS)
            return StagedUpload(**values)
        except SignatureExpired:
            problem = "The upload has expired: upload the file again. 上传已过期，请重新上传。"
        except (BadSignature, TypeError, ValueError):
            problem = "This is not an upload token of this portal. 上传凭据无效。"
        raise InvalidInput({"token": [problem]}, message=problem)

    def sign_multipart(self, pending: PendingMultipart) -> str:
        return self._multipart.dumps(asdict(pending))

    def read_multipart(self, handle: str) -> PendingMultipart:
        """The multipart upload of a handle; NotFound for one forged or expired."""
        try:
            return PendingMultipart(**self._multipart.loads(handle, max_age=STAGED_SECONDS))
        except (BadSignature, TypeError, ValueError):
            raise NotFound("No such multipart upload (or it has expired).") from None


def clean_file_name(name: str | None) -> str:
    """The name the client gave, without folders or control characters (a browser on
    Windows may send ``C:\\fakepath\\人口.csv``); InvalidInput when nothing is left."""
    base = re.split(r"[\\/]", name or "")[-1]
    kept = "".join(char for char in base if char.isprintable()).strip().strip(".")
    if not kept:
        raise InvalidInput({"file_name": ["Give the file's name. 请提供文件名。"]})
    if len(kept) > MAX_FILE_NAME_CHARS:
        _stem, dot, extension = kept.rpartition(".")
        extension = extension if dot and len(extension) <= 10 else ""
        kept = kept[: MAX_FILE_NAME_CHARS - len(extension) - 1].rstrip() + (
            f".{extension}" if extension else ""
        )
    if PurePosixPath(kept).suffix.lower() in EXECUTABLE_EXTENSIONS:
        raise InvalidInput({"file_name": [EXECUTABLE_REFUSAL]}, message=EXECUTABLE_REFUSAL)
    return kept


def staging_key(dataset: Dataset, file_name: str) -> str:
    """uploads/<department>/<dataset>/<random>/<safe name>: a key nobody can guess."""
    final = object_key(dataset, "x", 1, file_name)  # the safe name, as the final key has it
    safe_name = final.rsplit("/", 1)[-1]
    return (
        f"{STAGING_PREFIX}{dataset.department.slug}/{dataset.slug}/"
        f"{secrets.token_hex(16)}/{safe_name}"
    )


def claims_table(file_name: str, media_type: str) -> bool:
    """Whether the name or type says the file is a table (CSV, XLSX, JSON, GeoJSON): it
    must then read as one. Other files (PDF, ZIP, DOCX, .xls) become plain downloads."""
    given = media_type.split(";")[0].strip().lower()
    return PurePosixPath(file_name).suffix.lower() in TABULAR_EXTENSIONS or (
        given in TABULAR_MEDIA_TYPES
    )


def is_executable(head: bytes) -> bool:
    """A Windows (PE), Linux (ELF) or macOS (Mach-O) program, from its first bytes."""
    if head.startswith((b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")):
        return True
    if head.startswith(b"MZ") and len(head) >= 64:
        # "MZ" alone could start a CSV header; a program has its PE header where it says.
        offset = int.from_bytes(head[60:64], "little")
        return head[offset : offset + 4] == b"PE\x00\x00"
    return False


def table_media_type(table: TableLoad) -> str:
    media_type = MEDIA_TYPE_OF_FORMAT[table.format]
    charset = CHARSETS.get(table.encoding or "")
    if table.format == "csv" and charset:
        return f"{media_type}; charset={charset}"
    return media_type


def plain_media_type(file_name: str) -> str:
    """The type a plain file is served with, from its name; never one a browser runs."""
    guessed = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    return "application/octet-stream" if guessed in ACTIVE_MEDIA_TYPES else guessed


def plain_format(file_name: str) -> str:
    extension = PurePosixPath(file_name).suffix[1:]
    return extension.upper() if extension.isalnum() and len(extension) <= 10 else ""


def parse_digest_header(value: str) -> str | None:
    """The sha-256 of a ``Digest: sha-256=<base64>`` (RFC 3230) or ``Content-Digest`` /
    ``Repr-Digest: sha-256=:<base64>:`` (RFC 9530) header, in hex; None if it names none.
    InvalidInput for a sha-256 that is not one."""
    for item in value.split(","):
        algorithm, _, encoded = item.strip().partition("=")
        if algorithm.strip().lower() != "sha-256":
            continue
        digest = _base64(encoded.strip().strip(":"), 32, "Digest")
        return digest.hex()
    return None


def parse_content_md5(value: str) -> str:
    return _base64(value.strip(), 16, "Content-MD5").hex()


def _base64(text: str, length: int, header: str) -> bytes:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != length:
        raise InvalidInput({header: [f"Not a base64 digest of {length} bytes."]})
    return decoded


def check_sha256(text: str | None, name: str = "sha256") -> str | None:
    if text is None or text == "":
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise InvalidInput({name: ["A SHA-256 is 64 hexadecimal digits."]})
    return text.lower()


class SpoolingReader:
    """The client's stream, read once in order as the object store reads it: hashed,
    counted, copied to a local file (for the table's inference, which seeks), and cut off
    with FileTooLarge past ``max_bytes``."""

    def __init__(self, stream: BinaryIO, spool: BinaryIO, max_bytes: int, md5: bool = False):
        self._stream = stream
        self._spool = spool
        self._max_bytes = max_bytes
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, amount: int | None = -1) -> bytes:
        if amount is None or amount < 0:
            amount = CHUNK_BYTES  # never the whole rest at once: it may be gigabytes
        data = self._stream.read(min(amount, CHUNK_BYTES)) or b""
        self.size += len(data)
        if self.size > self._max_bytes:
            raise FileTooLarge(too_large_message(self._max_bytes))
        self.sha256.update(data)
        if self.md5 is not None:
            self.md5.update(data)
        self._spool.write(data)
        return data


def too_large_message(max_bytes: int) -> str:
    return (
        f"The file is larger than the {max_bytes} bytes the portal takes "
        f"(文件超过平台允许的 {max_bytes / 1024**2:.0f} MB)."
    )


def spool_object(store: ObjectStore, key: str, target: BinaryIO) -> tuple[int, str]:
    """Copy an object into a local file, chunk by chunk; (size, sha256) of what was read.
    KeyError if the object is gone."""
    digest, size = hashlib.sha256(), 0
    for chunk in store.open(key):
        digest.update(chunk)
        size += len(chunk)
        target.write(chunk)
    target.flush()
    target.seek(0)
    return size, digest.hexdigest()


class PreviewSink:
    """A record store that keeps nothing but the first rows: a proposal reads the whole
    file through the real ingestion, so that every problem shows before the steward
    confirms, and stores none of it."""

    def __init__(self, keep: int = PREVIEW_ROWS):
        self.keep = keep
        self.rows: list[dict] = []

    def create(self, resource_id: str, fields: list[RecordField]) -> None:
        self.rows = []

    def append(self, resource_id: str, rows) -> int:
        count = 0
        for row in rows:
            count += 1
            if len(self.rows) < self.keep:
                self.rows.append(row)
        return count

    def drop(self, resource_id: str) -> None:
        self.rows = []

    def exists(self, resource_id: str) -> bool:
        return False


def plain_value(value: Any) -> Any:
    """A record's value as JSON holds it (a preview row)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):  # a geo point: (lat, lon)
        return list(value)
    if isinstance(value, Decimal):
        return float(value)
    return value
