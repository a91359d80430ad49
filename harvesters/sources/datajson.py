"""A Project Open Data catalog (``data.json``) as a harvest source.

Both forms are read: v1.1, an object whose ``dataset`` list holds the datasets, and the
older v1.0, a bare list of datasets. Catalogs reach a hundred megabytes (a city's or an
agency's whole inventory), so the catalog is streamed to a temporary file (bounded by the
fetcher's file limit) and parsed from there incrementally with ijson: each dataset is built
from the parser's events and handed on before the next is read, and no more than one
dataset is held in memory, however large the catalog.

A dataset maps onto the catalog's fields: identifier, title, description, keyword, theme,
license, issued / modified (a ``modified`` that is an ISO 8601 repeat such as ``R/P1W``
is read as the update frequency, as POD v1.1 allows), accrualPeriodicity, temporal
(``start/end``), spatial, contactPoint (vCard ``fn`` and ``hasEmail``, or v1.0's plain
``contactPoint`` and ``mbox``), publisher, landingPage; each distribution is a resource,
copied into the object store when it has a ``downloadURL`` of a file format, kept as a link
when it has only an ``accessURL`` (an API or a web page). Every other field is kept in the
dataset's extras.
"""

import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar

import ijson

from harvesters.interfaces import (
    Fetcher,
    GatherFailure,
    HarvestSourceError,
    RemoteDataset,
    RemoteResource,
    SourceSpec,
)
from harvesters.sources.files import http_url_error
from harvesters.sources.mapping import (
    email_of,
    first_text,
    format_label,
    media_type_of,
    normalise_license,
    parse_date,
    parse_datetime,
    parse_interval,
    spatial_text,
    stores_file,
    update_frequency,
)
from harvesters.sources.options import option_errors

_BOM = b"\xef\xbb\xbf"
# Fields mapped onto dataset fields; every other field of a dataset goes into its extras.
_MAPPED_FIELDS = frozenset(
    "identifier title description keyword theme license issued modified accrualPeriodicity "
    "temporal spatial contactPoint mbox landingPage distribution @type".split()
)


class DataJsonSource:
    """A data.json catalog at an http(s) URL (Project Open Data v1.1 or v1.0). No options."""

    kind = "datajson"
    label = "data.json 目录"
    OPTIONS: ClassVar[dict[str, type]] = {}

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        errors = option_errors(spec.config, cls.OPTIONS)
        url_error = http_url_error(spec.url)
        if url_error:
            errors["url"] = [url_error]
        return errors

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """Every dataset of the catalog, parsed as the catalog streams in."""
        errors = self.check_spec(self.spec)
        if errors:
            raise HarvestSourceError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
            )
        url = self.spec.url.strip()
        with tempfile.TemporaryFile() as spool:
            # Spooled to disk first: the pipeline works on each dataset (fetching its files)
            # between two reads, and a catalog connection left idle that long is dropped.
            with self.fetcher.stream(url) as answer:
                if answer is None:  # no conditional request was made, so no 304 is expected
                    raise HarvestSourceError(f"{url} answered 304 Not Modified to a plain GET")
                for chunk in answer.chunks:
                    spool.write(chunk)
            spool.seek(0)
            for position, item in enumerate(stream_datasets(spool, url)):
                yield map_dataset(item, position)


def stream_datasets(catalog: BinaryIO, url: str) -> Iterator[Any]:
    """The datasets of a data.json catalog read from a binary file, one at a time, parsed
    incrementally. HarvestSourceError when it is not JSON or not a catalog."""
    head = catalog.read(4096)
    start = head.removeprefix(_BOM).lstrip()
    while not start and head:
        head = catalog.read(4096)
        start = head.lstrip()
    if not start:
        raise HarvestSourceError(f"{url} is empty, not a data.json catalog")
    builder = _ItemBuilder(_item_prefix(start[:1], url))
    catalog.seek(0)
    if catalog.read(len(_BOM)) != _BOM:
        catalog.seek(0)
    try:
        yield from builder.feed(ijson.parse(catalog, use_float=True))
    except ijson.JSONError as error:
        raise HarvestSourceError(f"{url} is not valid JSON: {error}") from None
    if builder.prefix == "dataset.item" and not builder.saw_catalog:
        raise HarvestSourceError(
            f"{url} is a JSON object without a 'dataset' list, not a data.json catalog"
        )


def _item_prefix(first: bytes, url: str) -> str:
    if first == b"{":
        return "dataset.item"  # v1.1: {"conformsTo": ..., "dataset": [...]}
    if first == b"[":
        return "item"  # v1.0: [dataset, dataset, ...]
    raise HarvestSourceError(f"{url} is not a data.json catalog (it is not a JSON object or list)")


class _ItemBuilder:
    """Turns ijson's parse events into the items found under one prefix, one at a time."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.saw_catalog = False
        self._builder: ijson.ObjectBuilder | None = None

    def feed(self, events: Iterable[tuple[str, str, Any]]) -> Iterator[Any]:
        for prefix, event, value in events:
            if prefix == "dataset" and event == "start_array":
                self.saw_catalog = True
            if self._builder is None:
                if prefix != self.prefix:
                    continue
                if event in ("start_map", "start_array"):
                    self._builder = ijson.ObjectBuilder()
                    self._builder.event(event, value)
                else:
                    yield value  # a bare value where a dataset should be
                continue
            self._builder.event(event, value)
            if prefix == self.prefix and event in ("end_map", "end_array"):
                yield self._builder.value
                self._builder = None


def map_dataset(item: Any, position: int = 0) -> RemoteDataset | GatherFailure:
    """One data.json dataset as a RemoteDataset, or a GatherFailure keeping its JSON."""
    raw = json.dumps(item, ensure_ascii=False, default=str)
    if not isinstance(item, Mapping):
        return GatherFailure(
            remote_id=f"#{position + 1}",
            message=f"Dataset {position + 1} of the catalog is not a JSON object.",
            raw=raw,
        )
    identifier = first_text(item.get("identifier"))
    if not identifier:
        return GatherFailure(
            remote_id=f"#{position + 1}",
            message=f"Dataset {position + 1} of the catalog has no identifier.",
            raw=raw,
        )
    if not first_text(item.get("title")):
        return GatherFailure(remote_id=identifier, message="The dataset has no title.", raw=raw)
    try:
        return _mapped(item, identifier, raw)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return GatherFailure(
            remote_id=identifier, message=f"Cannot map the dataset: {error!r}", raw=raw
        )


def _words(value: Any) -> tuple[str, ...]:
    """A list of words, or v1.0's comma-separated string of them."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return ()
    return tuple(
        dict.fromkeys(word.strip() for word in value if isinstance(word, str) and word.strip())
    )


def _publisher_name(publisher: Any) -> str:
    if isinstance(publisher, Mapping):
        return first_text(publisher.get("name"))
    return first_text(publisher)


def _mapped(item: Mapping[str, Any], identifier: str, raw: str) -> RemoteDataset:
    modified_text = first_text(item.get("modified"))
    repeats = modified_text.upper().startswith("R/")
    temporal_start, temporal_end = parse_interval(item.get("temporal"))
    spatial_value = item.get("spatial")
    if spatial_value is not None and not isinstance(spatial_value, str):
        spatial_value = json.dumps(spatial_value, ensure_ascii=False)
    spatial, geometry = spatial_text(spatial_value)
    contact = item.get("contactPoint")
    if isinstance(contact, Mapping):
        contact_name = first_text(contact.get("fn"))
        contact_email = email_of(contact.get("hasEmail"))
    else:  # v1.0: "contactPoint": "name", "mbox": "address"
        contact_name = first_text(contact)
        contact_email = email_of(item.get("mbox"))
    extras = {name: value for name, value in item.items() if name not in _MAPPED_FIELDS}
    if isinstance(item.get("publisher"), Mapping | str):
        extras["publisher"] = _publisher_name(item.get("publisher"))
    if repeats:
        extras["modified"] = modified_text
    if geometry:
        extras["spatial"] = geometry
    return RemoteDataset(
        remote_id=identifier,
        title=first_text(item.get("title")),
        description=first_text(item.get("description")),
        tags=_words(item.get("keyword")),
        themes=_words(item.get("theme")),
        license=normalise_license(item.get("license")),
        issued=parse_date(item.get("issued")),
        modified=None if repeats else parse_datetime(modified_text),
        update_frequency=update_frequency(
            first_text(item.get("accrualPeriodicity"), modified_text if repeats else "")
        ),
        temporal_start=temporal_start,
        temporal_end=temporal_end,
        spatial=spatial,
        contact_name=contact_name,
        contact_email=contact_email,
        landing_page=first_text(item.get("landingPage")),
        extras=extras,
        resources=tuple(_resources(item.get("distribution"))),
        raw=raw,
    )


def _resources(distributions: Any) -> Iterator[RemoteResource]:
    if not isinstance(distributions, list):
        return
    used: set[str] = set()
    for position, distribution in enumerate(distributions):
        if not isinstance(distribution, Mapping):
            continue
        download = first_text(distribution.get("downloadURL"))
        url = download or first_text(distribution.get("accessURL"))
        if not url:
            continue
        title = first_text(distribution.get("title"))
        label = format_label(distribution.get("format"), distribution.get("mediaType"), url)
        # Portals list one URL under several formats (ArcGIS Hub's CSV and SHP share a
        # download URL), so the URL alone is not unique within a dataset.
        remote_id = first_text(distribution.get("identifier")) or url
        if remote_id in used:
            remote_id = f"{remote_id}#{title or position + 1}"
        used.add(remote_id)
        yield RemoteResource(
            remote_id=remote_id,
            name=first_text(title, url.rsplit("/", 1)[-1].split("?")[0], label, url),
            url=url,
            format=label,
            media_type=media_type_of(distribution.get("mediaType")),
            description=first_text(distribution.get("description")),
            last_modified=first_text(distribution.get("modified")) or None,
            store=stores_file(label, url, download=bool(download)),
        )
