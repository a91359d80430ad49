"""What kind of table a file holds, from its bytes: the name and media type are only hints."""

import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import ijson

from harvesters.tabular.encoding import Recoded, detect_encoding
from harvesters.tabular.model import DEFAULT_LIMITS, Limits, TabularError, TabularFormat

HEAD_BYTES = 4096
MAX_LEADING_SPACE = 1 << 20
JSON_PROBE_EVENTS = 10_000  # parse events read to find a top-level "type" or "features"

# Formats that are sometimes published as "data" but are not tables we can read.
_NOT_TABLES = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Excel 97-2003 (.xls) or other OLE file: save it as XLSX or CSV",
    ),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")


@contextmanager
def binary_source(source: BinaryIO | str | os.PathLike, limits: Limits = DEFAULT_LIMITS):
    """A seekable binary stream over a path or a stream. A stream that cannot seek (an HTTP
    body) is first spooled to a temporary file, in chunks; a caller's stream is left open."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.stat().st_size > limits.max_bytes:
            raise TabularError(f"The file is larger than {limits.max_bytes} bytes.")
        with path.open("rb") as stream:
            yield stream
        return
    if _seekable(source):
        start = source.tell()
        size = source.seek(0, os.SEEK_END) - start
        source.seek(start)
        if size > limits.max_bytes:
            raise TabularError(f"The file is larger than {limits.max_bytes} bytes.")
        yield source
        return
    with tempfile.TemporaryFile() as spool:
        copied = 0
        while chunk := source.read(1 << 20):
            copied += len(chunk)
            if copied > limits.max_bytes:
                raise TabularError(f"The file is larger than {limits.max_bytes} bytes.")
            spool.write(chunk)
        spool.seek(0)
        yield spool


def _seekable(stream) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def sniff(
    stream_or_path: BinaryIO | str | os.PathLike, file_name: str = "", media_type: str = ""
) -> TabularFormat:
    """The format of the table in a file, from its content: XLSX is a zip with ``xl/``,
    JSON starts with ``[`` (an array) or ``{`` (a FeatureCollection is GeoJSON), anything
    else that is text is delimited text. The name and media type only label the messages:
    a CSV named ``.xlsx`` is read as CSV. A stream is read from its position and put back.
    Raises TabularError for an empty file and for files that are no table (a PDF, an old
    .xls, an HTML page, an RDF document, a zip without a workbook...)."""
    with binary_source(stream_or_path) as stream:
        start = stream.tell()
        try:
            return _sniff(stream, start, _label(file_name, media_type))
        finally:
            stream.seek(start)


def _label(file_name: str, media_type: str) -> str:
    if file_name:
        return repr(Path(file_name).name)
    return f"The {media_type} file" if media_type else "The file"


def _sniff(stream: BinaryIO, start: int, label: str) -> TabularFormat:
    head = stream.read(HEAD_BYTES)
    if not head.strip():
        head = _skip_blank(stream, head, label)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(stream, start, label)
    for magic, what in _NOT_TABLES:
        if head.startswith(magic):
            raise TabularError(f"{label} is {what}, not a table.")
    text = _head_text(head)
    first = text.lstrip()[:1]
    if first == "[" and _json_array_start(text.lstrip()[1:].lstrip()[:1]):
        return TabularFormat.JSON
    if first == "{":
        return _json_object_format(stream, start, label)
    if first == "<":
        raise TabularError(f"{label} is an HTML or XML document, not a table.")
    if text.lstrip().lower().startswith(("@prefix", "@base", "prefix ", "base ")):
        raise TabularError(f"{label} is an RDF (Turtle) document, not a table.")
    return TabularFormat.CSV


def _json_array_start(char: str) -> bool:
    # "[{", "[]", "[1", '["a"' open a JSON array; "[Name],[Age]" is a CSV header.
    return char in ("", "{", "[", "]", '"', "-") or char.isdigit()


def _skip_blank(stream: BinaryIO, head: bytes, label: str) -> bytes:
    # A file of whitespace is empty; whitespace before content is read past, within reason.
    skipped = len(head)
    while head and not head.strip() and skipped < MAX_LEADING_SPACE:
        head = stream.read(HEAD_BYTES)
        skipped += len(head)
    if not head.strip():
        raise TabularError(f"{label} is empty.")
    return head


def _head_text(head: bytes) -> str:
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, errors="ignore")
    if head.startswith(_BOMS[0]):
        head = head[3:]
    if head[1::2].count(0) > len(head) // 4:
        return head.decode("utf-16-le", errors="ignore")
    if head[0::2].count(0) > len(head) // 4:
        return head.decode("utf-16-be", errors="ignore")
    return head.decode("latin-1")  # only the ASCII punctuation at the start matters here


def _zip_format(stream: BinaryIO, start: int, label: str) -> TabularFormat:
    stream.seek(start)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise TabularError(
            f"{label} is a damaged or truncated zip archive (an XLSX?): {error}."
        ) from None
    if any(name.startswith("xl/") for name in names):
        return TabularFormat.XLSX
    if any(name.startswith("word/") for name in names):
        raise TabularError(f"{label} is a Word document, not a table.")
    raise TabularError(f"{label} is a zip archive without an Excel workbook (xl/) in it.")


def _json_object_format(stream: BinaryIO, start: int, label: str) -> TabularFormat:
    """A FeatureCollection is GeoJSON; any other JSON object is not a table we can read."""
    stream.seek(start)
    reader, _encoding = json_bytes(stream)
    try:
        for count, (prefix, event, value) in enumerate(ijson.parse(reader)):
            if prefix == "type" and event == "string":
                if value == "FeatureCollection":
                    return TabularFormat.GEOJSON
                break
            if prefix == "" and event == "map_key" and value == "features":
                return TabularFormat.GEOJSON
            if count >= JSON_PROBE_EVENTS:
                break
    except ijson.JSONError as error:
        raise TabularError(f"{label} is not valid JSON: {error}.") from None
    raise TabularError(
        f"{label} is a JSON object, not an array of records or a GeoJSON FeatureCollection."
    )


def json_bytes(stream: BinaryIO) -> tuple[BinaryIO | Recoded, str]:
    """The stream as UTF-8 bytes for ijson (past a UTF-8 BOM, or recoded from another
    encoding: GBK JSON exists), and the encoding it was in."""
    start = stream.tell()
    encoding = detect_encoding(stream)
    if encoding == "utf-8-sig":
        stream.seek(start + 3)
        return stream, encoding
    if encoding == "utf-8":
        return stream, encoding
    return Recoded(stream, encoding), encoding
