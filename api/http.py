"""HTTP details shared by the API's download and export endpoints: the attachment header,
and the conditional and range requests of file downloads (RFC 9110 sections 13 and 14)."""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

from flask import Request, Response, redirect, request
from werkzeug.http import http_date, parse_date, quote_etag

from api.errors import problem
from catalog.storage.disposition import attachment, with_extension


class RangeNotSatisfiable(Exception):
    """The request's range starts at or past the end of the file (answer 416)."""


def content_disposition(name: str, extension: str) -> str:
    """An attachment header that keeps a Chinese file name (RFC 6266 with RFC 5987)."""
    return attachment(with_extension(name, extension))


def not_modified(request: Request, etag: str | None, last_modified: datetime) -> bool:
    """Whether the caller's copy is current (answer 304): If-None-Match, compared weakly as
    RFC 9110 asks; If-Modified-Since only when there is no If-None-Match."""
    if request.if_none_match:
        return etag is not None and request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and last_modified.replace(microsecond=0) <= since


def requested_range(
    request: Request, etag: str | None, last_modified: datetime, size: int | None
) -> tuple[int, int] | None:
    """The byte range the request asks for, half-open (start, end) and cut at the file's
    end; None for the whole file. The whole file is also the answer to a Range header that
    does not parse, to several ranges (sent whole with 200, as RFC 9110 allows, rather than
    as multipart/byteranges, which download tools rarely ask for), and to an If-Range that
    no longer matches the file. Raises RangeNotSatisfiable for a range past the end."""
    if (
        size is None
        or not request.headers.get("Range")
        or not _if_range_holds(request, etag, last_modified)
    ):
        return None
    ranges = request.range
    if ranges is None or ranges.units != "bytes" or len(ranges.ranges) != 1:
        return None
    begin, stop = ranges.ranges[0]
    if begin < 0:  # bytes=-N: the last N bytes, or all of a shorter file
        if size == 0:
            raise RangeNotSatisfiable
        return max(0, size + begin), size
    if begin >= size:
        raise RangeNotSatisfiable
    return begin, size if stop is None else min(stop, size)


def _if_range_holds(request: Request, etag: str | None, last_modified: datetime) -> bool:
    """If-Range: the range applies only to the file the caller has part of; an entity tag
    must match strongly (a weak one never does), a date exactly."""
    value = request.headers.get("If-Range", "").strip()
    if not value:
        return True
    if value.startswith('"'):
        return etag is not None and value == f'"{etag}"'
    if value.startswith("W/"):
        return False
    date = parse_date(value)
    return date is not None and last_modified.replace(microsecond=0) == date


class StoredFile(Protocol):
    """What an answer with a stored file needs to know of it (a resource's file, an
    export job's file)."""

    file_name: str
    size: int | None
    sha256: str | None
    media_type: str
    modified_at: datetime


def file_response(
    file: StoredFile,
    cache_control: str,
    open_chunks: Callable[[int | None, int | None], Iterator[bytes]],
    presigned: Callable[[int | None], str | None] | None = None,
) -> Response:
    """The answer with a stored file: its headers (the Chinese name kept), 304 for a
    current copy, 206 for a range and 416 past the end, HEAD without the body; then a 302
    to ``presigned(start)`` when given and the store has such links, else the bytes of
    ``open_chunks(start, end)`` (half-open). Counting and auditing happen in those two."""
    headers = {
        "Accept-Ranges": "bytes" if file.size is not None else "none",
        "Last-Modified": http_date(file.modified_at),
        "Content-Disposition": attachment(file.file_name),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": cache_control,
    }
    if file.sha256:
        headers["ETag"] = quote_etag(file.sha256)
    if not_modified(request, file.sha256, file.modified_at):
        return Response(status=304, headers=headers)
    try:
        byte_range = requested_range(request, file.sha256, file.modified_at, file.size)
    except RangeNotSatisfiable:
        response = problem(416, f"The range starts past the end of the file ({file.size} bytes).")
        response.headers["Content-Range"] = f"bytes */{file.size}"
        return response
    start, end = byte_range or (None, None)
    status, length = 200, file.size
    if byte_range is not None:
        status, length = 206, end - start
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
    if length is not None:
        headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status=status, headers=headers, content_type=file.media_type)
    if presigned is not None:
        url = presigned(start)
        if url is not None:
            response = redirect(url, code=302)
            response.headers["Cache-Control"] = "no-store"
            return response
    # content_type, not mimetype: a GBK file must not be labelled charset=utf-8.
    return Response(
        open_chunks(start, end), status=status, headers=headers, content_type=file.media_type
    )
