"""HTTP details shared by the API's download and export endpoints: the attachment header,
and the conditional and range requests of file downloads (RFC 9110 sections 13 and 14)."""

from datetime import datetime

from flask import Request
from werkzeug.http import parse_date

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
