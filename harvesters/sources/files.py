"""Files as harvest sources: one file at a URL (``url``) and the files of a folder on the
portal's machine (``folder``). Each file becomes one dataset with one resource; the sync
pipeline copies the file into the object store and loads it into the record store when it
is a table (CSV, XLSX, JSON, GeoJSON), so these types only describe the files.

A file URL is fetched by the pipeline with a conditional GET (ETag / Last-Modified), so
``gather`` asks the server nothing, unless the URL names no file (``/download?id=7``): then
it reads the answer's headers once for the Content-Disposition name.

A folder is read only inside the folders the operator allowed (``harvest_folder_roots``,
see ``harvesters.sources.access``), links resolved: a file that is a link out of them is
reported, not read. Its files carry the sha256 of their content, so an unchanged file is
not imported again, whatever its modification time says.
"""

import hashlib
import json
import mimetypes
import os
import re
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path, PurePosixPath
from typing import BinaryIO, ClassVar
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from harvesters.interfaces import (
    Fetcher,
    GatherFailure,
    HarvestSourceError,
    RemoteDataset,
    RemoteResource,
    SourceSpec,
)
from harvesters.sources.access import folder_rule_error, root_of
from harvesters.sources.mapping import format_label
from harvesters.sources.options import option_errors

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The tabular formats the record store loads, what a folder or S3 prefix harvests by default,
# with the media types Python's mimetypes does not all know.
TABULAR_MEDIA_TYPES = {
    ".csv": "text/csv",
    ".xlsx": XLSX_TYPE,
    ".json": "application/json",
    ".geojson": "application/geo+json",
}
HASH_CHUNK = 1024 * 1024
_FORMAT = re.compile(r"[A-Za-z0-9]{1,16}")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# RFC 6266: filename*=charset'language'percent-encoded, preferred over a plain filename.
_EXTENDED_NAME = re.compile(r"filename\*\s*=\s*([\w!#$&+^`{}~.-]+)'[^']*'([^;\s]+)", re.I)
_PLAIN_NAME = re.compile(r'(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', re.I)


def file_format(file_name: str) -> tuple[str, str]:
    """The format label (CSV, XLSX, ...) and media type a file's name suggests."""
    suffix = PurePosixPath(file_name).suffix.lower()
    media_type = (
        TABULAR_MEDIA_TYPES.get(suffix)
        or mimetypes.guess_type(file_name)[0]
        or "application/octet-stream"
    )
    return (format_label(suffix) if suffix else ""), media_type


def is_tabular(file_name: str) -> bool:
    return PurePosixPath(file_name).suffix.lower() in TABULAR_MEDIA_TYPES


def title_of(file_name: str) -> str:
    """A dataset title from a file name: the name without its extension."""
    return PurePosixPath(file_name).stem.strip() or file_name


def is_hidden(file_name: str) -> bool:
    # Dot files and Excel's "~$name.xlsx" lock files sit beside real data in shared folders.
    return file_name.startswith((".", "~$"))


def decode_name(text: str) -> str:
    """A percent-encoded name as text: UTF-8, else GB18030 (older Chinese sites encode
    their URLs that way), else byte for byte."""
    raw = unquote_to_bytes(text)
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _repaired(text: str) -> str:
    """Header text that arrived as Latin-1 (servers sending GBK or UTF-8 bytes unencoded)."""
    if not any("\x80" <= char <= "\xff" for char in text) or any(char > "\xff" for char in text):
        return text
    raw = text.encode("latin-1")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return text


def _base_name(name: str) -> str:
    # A server's name may carry a path ("../../x.csv", "C:\\exports\\x.csv"): keep the last part.
    return PurePosixPath(name.replace("\\", "/")).name.strip()


def disposition_file_name(value: str) -> str:
    """The file name of a Content-Disposition header ("" when it names none)."""
    extended = _EXTENDED_NAME.search(value)
    if extended:
        charset, encoded = extended.groups()
        try:
            name = unquote_to_bytes(encoded).decode(charset)
        except (LookupError, UnicodeDecodeError):
            name = decode_name(encoded)
        return _base_name(name)
    plain = _PLAIN_NAME.search(value)
    if not plain:
        return ""
    name = re.sub(r"\\(.)", r"\1", plain.group(1)) if plain.group(1) is not None else plain.group(2)
    name = _repaired(name.strip())
    if _PERCENT_ESCAPE.search(name):
        name = decode_name(name)
    return _base_name(name)


def _url_file_name(url: str) -> str:
    return _base_name(decode_name(urlsplit(url).path.rsplit("/", 1)[-1]))


def http_url_error(url: object) -> str | None:
    """Why ``url`` is no http(s) URL with a host, or None."""
    if not isinstance(url, str):
        return "Give the URL as text."
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError as error:
        return f"Not a valid URL: {error}."
    if parts.scheme not in ("http", "https"):
        return "Use an http:// or https:// URL."
    if not parts.hostname:
        return "The URL names no host."
    return None


def _failed(errors: dict[str, list[str]]) -> HarvestSourceError:
    return HarvestSourceError(
        "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
    )


class FileUrlSource:
    """One file at an http(s) URL: a dataset with one resource, its remote id the URL.

    Options: ``title`` (default: the file's name without extension), ``description``,
    ``format`` (overrides the one the name suggests, e.g. CSV for a ``.txt`` file)."""

    kind = "url"
    label = "文件地址"
    OPTIONS: ClassVar[dict[str, type]] = {"title": str, "description": str, "format": str}

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        errors = option_errors(spec.config, cls.OPTIONS)
        url_error = http_url_error(spec.url)
        if url_error:
            errors["url"] = [url_error]
        given_format = spec.config.get("format") if isinstance(spec.config, Mapping) else None
        if isinstance(given_format, str) and not _FORMAT.fullmatch(given_format):
            errors["config.format"] = ["Use 1-16 letters or digits, such as CSV or XLSX."]
        return errors

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """The file as one dataset; a URL that names no file costs one GET of its headers."""
        errors = self.check_spec(self.spec)
        if errors:
            raise _failed(errors)
        url = self.spec.url.strip()
        config = self.spec.config
        file_name = self._file_name(url)
        file_format_label, media_type = file_format(file_name)
        if config.get("format"):
            file_format_label = format_label(config["format"])
        title = config.get("title") or title_of(file_name)
        description = config.get("description", "")
        resource = RemoteResource(
            remote_id=url,
            name=file_name,
            url=url,
            format=file_format_label,
            media_type=media_type,
            description=description,
            file_name=file_name,
        )
        yield RemoteDataset(
            remote_id=url,
            title=title,
            description=description,
            resources=(resource,),
            raw=json.dumps({"url": url, "config": dict(config)}, ensure_ascii=False),
        )

    def _file_name(self, url: str) -> str:
        from_url = _url_file_name(url)
        if PurePosixPath(from_url).suffix:
            return from_url
        wanted_format = self.spec.config.get("format")
        if wanted_format:
            return f"{from_url or urlsplit(url).hostname}.{wanted_format.lower()}"
        with self.fetcher.stream(url) as answer:
            headers = answer.headers if answer else {}
        from_header = disposition_file_name(headers.get("content-disposition", ""))
        if from_header:
            return from_header
        label = format_label("", headers.get("content-type", ""))
        suffix = f".{label.lower()}" if label else ""
        return f"{from_url or urlsplit(url).hostname}{suffix}"


class FolderSource:
    """The files of a folder on the portal's machine (``file:///path``), one dataset each,
    its remote id the path relative to the folder.

    Options: ``pattern``, a glob matched against that relative path from its end (``*.csv``,
    ``2024/*.xlsx``; default: every CSV, XLSX, JSON and GeoJSON file), and ``recursive``
    (default false: the folder's own files only). Hidden files, Excel lock files and linked
    sub-folders are passed over; a link to a file outside the allowed folders is reported."""

    kind = "folder"
    label = "文件夹"
    OPTIONS: ClassVar[dict[str, type]] = {"pattern": str, "recursive": bool}

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        errors = option_errors(spec.config, cls.OPTIONS)
        try:
            folder = folder_path(spec.url)
        except ValueError as error:
            errors["url"] = [str(error)]
            return errors
        refused = folder_rule_error(folder)
        if refused:
            errors["url"] = [refused]
        elif not folder.is_dir():
            errors["url"] = [f"{folder} is not a folder on this machine."]
        return errors

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """Every matching file, in path order, each read once to hash it."""
        # Checked again: the roots or the folder's links may have changed since it was saved.
        errors = self.check_spec(self.spec)
        if errors:
            raise _failed(errors)
        folder = folder_path(self.spec.url).resolve()
        try:
            os.scandir(folder).close()
        except OSError as error:
            raise HarvestSourceError(f"cannot read the folder {folder}: {error}") from None
        for found in self._walk(folder):
            yield found if isinstance(found, GatherFailure) else self._dataset(*found)

    def _walk(self, folder: Path) -> Iterator[tuple[str, Path] | GatherFailure]:
        pattern = self.spec.config.get("pattern")
        recursive = self.spec.config.get("recursive", False)
        unreadable: list[OSError] = []
        # os.walk does not follow linked folders, which keeps a walk finite and inside.
        for directory, folders, names in os.walk(folder, onerror=unreadable.append):
            wanted = [name for name in folders if not is_hidden(name)] if recursive else []
            folders[:] = sorted(wanted)
            for name in sorted(names):
                relative = (Path(directory) / name).relative_to(folder).as_posix()
                shown = _readable_name(relative)
                if is_hidden(PurePosixPath(shown).name):
                    continue
                if pattern:
                    if not PurePosixPath(shown).match(pattern):
                        continue
                elif not is_tabular(shown):
                    continue
                yield shown, Path(directory) / name
        for error in unreadable:
            where = Path(error.filename or folder).relative_to(folder).as_posix()
            yield GatherFailure(
                remote_id=_readable_name(where), message=f"cannot read the folder {where}: {error}"
            )

    def _dataset(self, relative: str, path: Path) -> RemoteDataset | GatherFailure:
        if root_of(path) is None:
            return GatherFailure(
                remote_id=relative,
                message=f"{relative} links to {path.resolve()}, outside the folders harvests "
                "may read; it was not read.",
            )
        real = path.resolve()
        try:
            digest, size = _sha256_of(real)
            modified = formatdate(real.stat().st_mtime, usegmt=True)
        except (OSError, HarvestSourceError) as error:
            return GatherFailure(remote_id=relative, message=f"cannot read {relative}: {error}")
        file_name = PurePosixPath(relative).name
        file_format_label, media_type = file_format(file_name)
        resource = RemoteResource(
            remote_id=relative,
            name=file_name,
            url=real.as_uri(),
            opener=lambda: _open_inside(real),
            format=file_format_label,
            media_type=media_type,
            file_name=file_name,
            size=size,
            # The resource's time only, which the metadata hash leaves out: a file touched or
            # copied again unchanged is unchanged, its dataset included.
            last_modified=modified,
            content_hash=f"sha256:{digest}",
        )
        return RemoteDataset(
            remote_id=relative,
            title=title_of(file_name),
            resources=(resource,),
            raw=json.dumps({"path": relative, "size": size}, ensure_ascii=False),
        )


def folder_path(url: str) -> Path:
    """The absolute local path of a ``file:///path`` URL; ValueError says what is wrong."""
    if not isinstance(url, str):
        raise ValueError("Give the folder as a file:/// URL.")
    parts = urlsplit(url.strip())
    if parts.scheme != "file":
        raise ValueError("Give the folder as a file:/// URL, such as file:///data/人口.")
    if parts.netloc not in ("", "localhost"):
        raise ValueError("A folder source reads this machine's folders only (file:///path).")
    path = Path(unquote(parts.path))
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError("Give the folder's absolute path, without '..'.")
    return path


def _readable_name(name: str) -> str:
    """A file name as text. Linux stores names as bytes; a name that is no UTF-8 (files
    unpacked from a Chinese Windows zip) is GBK, and Python hands it over undecodable."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("gb18030", errors="replace")
    return name


def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with _open_inside(path) as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@contextmanager
def _open_inside(path: Path) -> Iterator[BinaryIO]:
    """Open a regular file for reading, refusing one that is (or became) a link out of the
    allowed folders, or a device or pipe that would block the harvest forever."""
    if root_of(path) is None:
        raise HarvestSourceError(f"{path} is outside the folders harvests may read")
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise HarvestSourceError(f"{path} is not a regular file")
        os.set_blocking(descriptor, True)
        stream = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with stream:
        yield stream
