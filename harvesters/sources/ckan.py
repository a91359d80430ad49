"""A CKAN portal as a harvest source, read through its Action API.

Datasets are read with ``package_search`` page by page (``rows`` / ``start``), sorted by
id as ckanext-harvest does (a sort every CKAN and this portal's own Action API answer):
a dataset created during the harvest shifts the pages after it by one, so ids already
seen are skipped, and a page that brings nothing new ends the walk (a server that ignores
``start`` cannot loop us). A portal too old for ``package_search`` is read with
``package_list`` and ``package_show``.

Each CKAN package maps onto a dataset: title and notes (a ckanext-fluent/scheming
translation picks Chinese first), tags, groups and a scheming ``theme`` as themes, the
licence, metadata dates, frequency, temporal and spatial fields from the package or its
extras (ckanext-dcat style), maintainer or author as contact, the ``url`` field as landing
page, and every other field and extra kept in the extras. A resource is copied into the
object store when its format is a file format (CSV, XLSX, JSON, PDF, ZIP, ...) or it was
uploaded to CKAN; APIs, web pages and map services stay links. A resource the portal gives
no URL for (its data is not open to an anonymous harvester) is left out.
"""

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from harvesters.interfaces import (
    Fetcher,
    FetchError,
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

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # CKAN's own ceiling for rows (ckan.search.rows_max)
SORT = "id asc"
_API_SUFFIX = re.compile(r"/api(/3)?/action/?$")
_NAME = re.compile(r"[a-z0-9_-]{2,100}")
# Package fields mapped onto dataset fields, or CKAN's bookkeeping: not copied to extras.
_MAPPED_FIELDS = frozenset(
    "id name title notes tags groups license_id license_url license_title metadata_created "
    "metadata_modified extras maintainer maintainer_email author author_email organization "
    "owner_org url resources version state private type num_tags num_resources revision_id "
    "creator_user_id relationships_as_object relationships_as_subject isopen "
    "tracking_summary revision_timestamp title_translated notes_translated frequency theme "
    "spatial temporal_start temporal_end contact_name contact_email".split()
)


def action_base(url: str) -> str:
    """The Action API base (``https://host[/path]/api/3/action/``) of a portal URL given as
    ``https://host[/path]`` or already as its Action API URL."""
    root = _API_SUFFIX.sub("", url.strip().rstrip("/"))
    return f"{root.rstrip('/')}/api/3/action/"


def _failed(errors: dict[str, list[str]]) -> HarvestSourceError:
    return HarvestSourceError(
        "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
    )


class CkanSource:
    """A CKAN portal (``https://portal`` or ``https://portal/api/3/action``).

    Options: ``page_size`` (datasets per package_search page, 1-1000, default 100),
    ``organization`` (harvest only this organisation's datasets, by its name) and ``fq``
    (a Solr filter query added to the search, e.g. ``tags:economy``)."""

    kind = "ckan"
    label = "CKAN 门户"
    OPTIONS: ClassVar[dict[str, type]] = {"page_size": int, "organization": str, "fq": str}

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher
        self.base = action_base(spec.url) if isinstance(spec.url, str) else ""

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        errors = option_errors(spec.config, cls.OPTIONS)
        url_error = http_url_error(spec.url)
        if url_error is None:
            parts = urlsplit(spec.url.strip())
            if parts.query or parts.fragment:
                url_error = "Give the portal's address without '?' or '#' parts."
            elif "/api/" in f"{parts.path}/" and not _API_SUFFIX.search(parts.path):
                url_error = (
                    "Give the portal's address (https://portal) or its Action API "
                    "(https://portal/api/3/action), not one action."
                )
        if url_error:
            errors["url"] = [url_error]
        if "config" in errors or not isinstance(spec.config, Mapping):
            return errors
        page_size = spec.config.get("page_size")
        if isinstance(page_size, int) and not 1 <= page_size <= MAX_PAGE_SIZE:
            errors["config.page_size"] = [f"Use a number from 1 to {MAX_PAGE_SIZE}."]
        organization = spec.config.get("organization")
        if isinstance(organization, str) and not _NAME.fullmatch(organization):
            errors["config.organization"] = [
                "Give the organisation's name as in its CKAN address (lower-case letters, "
                "digits, '-' and '_')."
            ]
        return errors

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """Every dataset of the portal (or of the chosen organisation), page by page."""
        errors = self.check_spec(self.spec)
        if errors:
            raise _failed(errors)
        organization = self.spec.config.get("organization")
        if organization:
            self._check_organization(organization)
        try:
            packages = self._search()
            first = next(packages, None)
        except _ActionUnknown:
            if organization or self.spec.config.get("fq"):
                raise HarvestSourceError(
                    f"{self.base} has no package_search, so the organization and fq options "
                    "cannot be applied"
                ) from None
            packages, first = self._list_and_show(), None
        if first is not None:
            yield self._dataset(first)
        for package in packages:
            yield self._dataset(package)

    # Reading -------------------------------------------------------------------------

    def _search(self) -> Iterator[Any]:
        page_size = self.spec.config.get("page_size") or DEFAULT_PAGE_SIZE
        filters = []
        if self.spec.config.get("organization"):
            filters.append(f"organization:{self.spec.config['organization']}")
        if self.spec.config.get("fq"):
            filters.append(f"({self.spec.config['fq']})")
        params: dict[str, Any] = {"rows": page_size, "sort": SORT}
        if filters:
            params["fq"] = " AND ".join(filters)
        seen: set[str] = set()
        start = 0
        while True:
            result = self._call("package_search", {**params, "start": start})
            if not isinstance(result, Mapping) or not isinstance(result.get("results"), list):
                raise HarvestSourceError(
                    f"{self.base}package_search answered without a list of results"
                )
            page = result["results"]
            fresh = [package for package in page if _package_key(package) not in seen]
            for package in fresh:
                seen.add(_package_key(package))
                yield package
            start += len(page)
            count = result.get("count")
            if not fresh or (isinstance(count, int) and start >= count):
                return

    def _list_and_show(self) -> Iterator[Any]:
        names = self._call("package_list", {})
        if not isinstance(names, list):
            raise HarvestSourceError(f"{self.base}package_list answered without a list")
        for name in names:
            try:
                yield self._call("package_show", {"id": name})
            except HarvestSourceError as error:
                yield _Unreadable(str(name), str(error))

    def _check_organization(self, organization: str) -> None:
        names = self._call("organization_list", {})
        if isinstance(names, list) and organization not in names:
            known = ", ".join(str(name) for name in names[:20])
            more = " …" if len(names) > 20 else ""
            raise HarvestSourceError(
                f"{self.base} has no organization {organization!r}; it has: {known}{more}"
            )

    def _call(self, action: str, params: Mapping[str, Any]) -> Any:
        """One Action API call; its ``result``, or HarvestSourceError with CKAN's message."""
        url = self.base + action + (f"?{urlencode(params)}" if params else "")
        try:
            document = self.fetcher.get(url, accept="application/json")
            body = document.content
        except FetchError as error:
            body = getattr(error, "detail", "").encode()
            envelope = _envelope(body)
            if envelope is None:
                raise
            fault = error
        else:
            envelope = _envelope(body)
            fault = None
            if envelope is None:
                raise HarvestSourceError(
                    f"{url} did not answer as a CKAN Action API (expected JSON with "
                    "'success' and 'result'); check the portal address"
                )
        if envelope.get("success") is True and "result" in envelope:
            return envelope["result"]
        message = _ckan_message(envelope.get("error"))
        if "action name not known" in message.lower() or "action not found" in message.lower():
            raise _ActionUnknown(message)
        raise HarvestSourceError(f"CKAN refused {action} at {self.base}: {message}") from fault

    # Mapping -------------------------------------------------------------------------

    def _dataset(self, package: Any) -> RemoteDataset | GatherFailure:
        if isinstance(package, _Unreadable):
            return GatherFailure(remote_id=package.name, message=package.message)
        raw = json.dumps(package, ensure_ascii=False, default=str)
        remote_id = _package_key(package)
        if not remote_id:
            return GatherFailure(remote_id="", message="The package has no id.", raw=raw)
        try:
            return map_package(package, self.base, raw)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return GatherFailure(
                remote_id=remote_id, message=f"Cannot map the package: {error!r}", raw=raw
            )


class _ActionUnknown(HarvestSourceError):
    """The portal does not offer the action (a CKAN older than package_search)."""


class _Unreadable:
    """A dataset package_show could not read, reported as a gather failure."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message


def _package_key(package: Any) -> str:
    if not isinstance(package, Mapping):
        return ""
    return str(package.get("id") or package.get("name") or "")


def _envelope(body: bytes) -> Mapping[str, Any] | None:
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    if isinstance(envelope, Mapping) and "success" in envelope:
        return envelope
    return None


def _ckan_message(error: Any) -> str:
    if isinstance(error, Mapping):
        message = error.get("message")
        details = {k: v for k, v in error.items() if k not in ("message", "__type")}
        text = str(message) if message else ""
        if details:
            text = f"{text} {json.dumps(details, ensure_ascii=False)}".strip()
        return text or str(error.get("__type", "unknown error"))
    return str(error or "unknown error")


def _translated(value: Any) -> tuple[str, str]:
    """(text, English text) of a ckanext-fluent translation dict, Chinese first."""
    if not isinstance(value, Mapping):
        return "", ""
    chinese = next(
        (text for lang, text in value.items() if str(lang).lower().startswith("zh") and text),
        "",
    )
    english = first_text(value.get("en"))
    return first_text(chinese, english, *value.values()), english


def _extras(package: Mapping[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for name, value in package.items():
        if name not in _MAPPED_FIELDS and value not in (None, "", [], {}):
            extras[name] = value
    listed = package.get("extras") or []
    if isinstance(listed, Mapping):  # some portals answer extras as an object
        listed = [{"key": key, "value": value} for key, value in listed.items()]
    for item in listed:
        if isinstance(item, Mapping) and item.get("key"):
            extras[str(item["key"])] = item.get("value")
    return extras


def map_package(package: Mapping[str, Any], base: str, raw: str = "") -> RemoteDataset:
    """A CKAN package dict as a RemoteDataset (see the module docstring for the rules)."""
    extras = _extras(package)
    portal = base.removesuffix("api/3/action/")
    title_zh, title_en = _translated(package.get("title_translated"))
    notes_zh, notes_en = _translated(package.get("notes_translated"))
    title = first_text(title_zh, package.get("title"), package.get("name"))
    temporal_start, temporal_end = parse_interval(extras.get("temporal"))
    spatial, geometry = spatial_text(
        first_text(extras.get("spatial_text"), package.get("spatial"), extras.get("spatial"))
    )
    organization = package.get("organization") or {}
    if isinstance(organization, Mapping) and organization.get("name"):
        extras["organization"] = organization["name"]
        extras["organization_title"] = organization.get("title") or organization["name"]
    if geometry:
        extras["spatial"] = geometry
    extras["ckan_name"] = package.get("name") or ""
    extras["ckan_page"] = f"{portal}dataset/{package.get('name') or package['id']}"
    themes = [group.get("name") for group in package.get("groups") or [] if group.get("name")]
    if isinstance(package.get("theme"), str) and package["theme"]:
        themes.append(package["theme"])
    return RemoteDataset(
        remote_id=str(package["id"]),
        title=title,
        description=first_text(notes_zh, package.get("notes")),
        title_en=title_en if title_en != title else "",
        description_en=notes_en,
        tags=tuple(_tag_names(package.get("tags") or [])),
        themes=tuple(dict.fromkeys(themes)),
        license=normalise_license(
            first_text(package.get("license_id"), package.get("license_url"))
        ),
        issued=parse_date(first_text(extras.get("issued"), package.get("metadata_created"))),
        modified=parse_datetime(package.get("metadata_modified")),
        update_frequency=update_frequency(
            first_text(
                package.get("frequency"),
                extras.get("frequency"),
                extras.get("accrualPeriodicity"),
                extras.get("accrual_periodicity"),
                extras.get("update_frequency"),
            )
        ),
        temporal_start=parse_date(first_text(package.get("temporal_start"))) or temporal_start,
        temporal_end=parse_date(first_text(package.get("temporal_end")), end=True) or temporal_end,
        spatial=spatial,
        contact_name=first_text(
            package.get("maintainer"), package.get("author"), package.get("contact_name")
        ),
        contact_email=email_of(
            first_text(
                package.get("maintainer_email"),
                package.get("author_email"),
                package.get("contact_email"),
                package.get("publisher_email"),
            )
        ),
        resource_code=first_text(extras.get("resource_code"), extras.get("信息资源代码")),
        version=first_text(package.get("version")),
        landing_page=_http_url(package.get("url")),
        extras=extras,
        resources=tuple(
            _resource(resource, position)
            for position, resource in enumerate(package.get("resources") or [])
            if isinstance(resource, Mapping)
            and resource.get("state", "active") == "active"
            and first_text(resource.get("url"))
        ),
        raw=raw,
    )


def _tag_names(tags: list[Any]) -> Iterator[str]:
    for tag in tags:
        name = (
            first_text(tag.get("display_name"), tag.get("name"))
            if isinstance(tag, Mapping)
            else tag
        )
        if isinstance(name, str) and name.strip():
            yield name.strip()


def _http_url(value: Any) -> str:
    text = first_text(value)
    return text if urlsplit(text).scheme in ("http", "https") else ""


def _resource(resource: Mapping[str, Any], position: int) -> RemoteResource:
    url = first_text(resource.get("url")) or None
    label = format_label(resource.get("format"), resource.get("mimetype"), url or "")
    size = resource.get("size")
    uploaded = resource.get("url_type") == "upload"
    return RemoteResource(
        remote_id=str(resource.get("id") or url or position),
        name=first_text(
            resource.get("name"), resource.get("description"), url, f"资源 {position + 1}"
        ),
        url=url,
        format=label,
        media_type=media_type_of(resource.get("mimetype")),
        description=first_text(resource.get("description")),
        size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        last_modified=first_text(resource.get("last_modified"), resource.get("metadata_modified"))
        or None,
        store=stores_file(label, url, download=True if uploaded else None),
    )
