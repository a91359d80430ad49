"""HTTP details shared by the API's download and export endpoints."""

from urllib.parse import quote


def content_disposition(name: str, extension: str) -> str:
    """An attachment header that keeps a Chinese file name (RFC 6266 with RFC 5987)."""
    file_name = f"{name}.{extension}" if extension else name
    printable = "".join(c for c in file_name if c.isprintable() and c not in '"\\/')
    ascii_fallback = printable.encode("ascii", "ignore").decode().strip() or "download"
    if ascii_fallback.startswith("."):
        ascii_fallback = "download" + ascii_fallback
    encoded = quote(printable or "download", safe="")
    return f"attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{encoded}"
