"""Content-Disposition for downloads: one header that keeps a file name in any script.

The portal's own downloads and exports send it, and S3 sends it for presigned URLs, so a
file reaches the user under the same name whichever way it travels.
"""

from urllib.parse import quote


def attachment(file_name: str) -> str:
    """``attachment; filename="…"; filename*=UTF-8''…`` (RFC 6266 with RFC 5987).

    Browsers read ``filename*``, which keeps a Chinese name whole; ``filename`` is an ASCII
    stand-in for old clients. Quotes, backslashes, slashes and control characters are left
    out of both: they could end the header or name a folder."""
    kept = "".join(c for c in file_name if c.isprintable() and c not in '"\\/').strip()
    kept = kept or "download"
    fallback = kept.encode("ascii", "ignore").decode().strip() or "download"
    if fallback.startswith("."):  # nothing but the extension was ASCII
        fallback = "download" + fallback
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(kept, safe='')}"


def with_extension(name: str, extension: str) -> str:
    """The name a download is saved under: ``name.extension``, unless the name already ends
    with the extension (``学校名录.csv`` stays as it is)."""
    if not extension or name.lower().endswith(f".{extension.lower()}"):
        return name
    return f"{name}.{extension}"
