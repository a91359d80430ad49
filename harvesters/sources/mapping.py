"""Normalising what remote catalogs say onto the catalog's values, for every source type.

Remote portals write the same fact many ways: a weekly update is ``R/P1W`` in data.json,
``http://publications.europa.eu/resource/authority/frequency/WEEKLY`` in DCAT, ``weekly``
or ``每周`` in a CKAN extra; a date is ``2019-06-10``, ``2016-09-05T18:25:21.249967`` or
``2011-11-19T12:00:00Z``; CC BY 4.0 is a CKAN id, an http or https URL, or an EU licence
IRI. These helpers turn them into the catalog's codes and types, and return "" or None for
what they cannot read rather than guessing, so a bad value never fails a dataset.
"""

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from catalog.vocab import UpdateFrequency

# Words and codes of update frequencies, lower-cased: the EU frequency vocabulary's codes
# (the last segment of its IRIs), Dublin Core's freq terms, CKAN's free text, Chinese labels.
_FREQUENCY_WORDS: dict[str, UpdateFrequency] = {
    **dict.fromkeys(
        "cont continuous update_cont realtime real-time 实时 1min 5min 10min 15min 30min "
        "hourly bihourly trihourly 12hrs daily_2 instant".split(),
        UpdateFrequency.REALTIME,
    ),
    **dict.fromkeys("daily 每日 每天 日".split(), UpdateFrequency.DAILY),
    **dict.fromkeys(
        "weekly weekly_2 weekly_3 biweekly semiweekly threetimesaweek 每周 周".split(),
        UpdateFrequency.WEEKLY,
    ),
    **dict.fromkeys(
        "monthly monthly_2 monthly_3 semimonthly threetimesamonth 每月 月".split(),
        UpdateFrequency.MONTHLY,
    ),
    **dict.fromkeys(
        "quarterly bimonthly 每季度 季度 每季".split(),
        UpdateFrequency.QUARTERLY,
    ),
    **dict.fromkeys(
        "annual_2 semiannual biannual semiannually 每半年 半年 annual_3 triannual".split(),
        UpdateFrequency.SEMIANNUAL,
    ),
    **dict.fromkeys("annual annually yearly 每年 年".split(), UpdateFrequency.ANNUAL),
    **dict.fromkeys(
        "irreg irregular other biennial triennial quadrennial quinquennial decennial "
        "bidecennial tridecennial never op_datpro as_needed eventual not_planned 不定期 "
        "其他".split(),
        UpdateFrequency.OTHER,
    ),
}
# Phrases with spaces, which the word lists above cannot hold.
_FREQUENCY_WORDS.update(
    {
        "on occurence": UpdateFrequency.OTHER,
        "on occurrence": UpdateFrequency.OTHER,
        "as needed": UpdateFrequency.OTHER,
    }
)
_DURATION = re.compile(
    r"P(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$",
    re.I,
)
_DAYS_PER_UNIT = {
    "years": 365.0,
    "months": 30.4,
    "weeks": 7.0,
    "days": 1.0,
    "hours": 1 / 24,
    "minutes": 1 / 1440,
    "seconds": 1 / 86400,
}
# Upper bounds, in days, of each frequency an ISO 8601 repeat duration falls into.
_DURATION_BUCKETS = (
    (1.0, UpdateFrequency.REALTIME),
    (4.0, UpdateFrequency.DAILY),
    (15.0, UpdateFrequency.WEEKLY),
    (45.0, UpdateFrequency.MONTHLY),
    (120.0, UpdateFrequency.QUARTERLY),
    (270.0, UpdateFrequency.SEMIANNUAL),
    (400.0, UpdateFrequency.ANNUAL),
)


def duration_days(text: str) -> float | None:
    """The length in days of an ISO 8601 duration (``P1M``, ``PT1H``, ``P0.5M``), or None."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groupdict().values()):
        return None
    return sum(
        float(value.replace(",", ".")) * _DAYS_PER_UNIT[unit]
        for unit, value in match.groupdict().items()
        if value
    )


def update_frequency(value: object) -> str:
    """The UpdateFrequency code of a frequency as a source states it: an ISO 8601 repeat
    (``R/P1D``), an EU or Dublin Core vocabulary IRI, or a word; "" when unknown."""
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.strip()
    if text.upper().startswith("R/"):
        days = duration_days(text.rsplit("/", 1)[-1])
        if days is None:
            return ""
        bucket = next((freq for bound, freq in _DURATION_BUCKETS if days < bound), None)
        return (bucket or UpdateFrequency.OTHER).value
    if "/" in text or "#" in text:  # an IRI: its last segment is the code
        text = re.split(r"[/#]", text.rstrip("/"))[-1]
    word = text.lower().replace("-", "_") if text.isascii() else text
    code = _FREQUENCY_WORDS.get(word) or _FREQUENCY_WORDS.get(text.lower())
    if code is None and text in UpdateFrequency.codes():
        return text
    return code.value if code else ""


_DATE_PREFIX = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def parse_datetime(value: object) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime (a naive one is taken as UTC,
    a date as its midnight); None when it is not one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            day = parse_date(text)
            if day is None:
                return None
            moment = datetime.combine(day, time())
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_date(value: object, *, end: bool = False) -> date | None:
    """The date of an ISO 8601 date or date-time; a year (``1993``) or month (``2001-12``)
    is its first day, or its last day with ``end`` (for the end of a period)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    partial = _DATE_PREFIX.match(text)
    if partial:
        year, month, day = partial.groups()
        try:
            if day:
                return date(int(year), int(month), int(day))
            if month:
                first = date(int(year), int(month), 1)
                following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
                return following - timedelta(days=1) if end else first
            return date(int(year), 12, 31) if end else date(int(year), 1, 1)
        except ValueError:
            return None
    moment = parse_datetime(text)
    return moment.date() if moment else None


def parse_interval(value: object) -> tuple[date | None, date | None]:
    """Start and end dates of an ISO 8601 interval (``2000-01-15/2010-01-15``,
    ``1993/2005``, ``2001-01/2001-12``, ``2015-01-01/P1Y``, ``R/2015-01-01/P1M``)."""
    if not isinstance(value, str) or "/" not in value:
        return None, None
    parts = value.strip().split("/")
    if parts[0].upper().startswith("R"):
        parts = parts[1:]
    if len(parts) != 2:
        return None, None
    first, second = parts
    start = parse_date(first) if not first.upper().startswith("P") else None
    if second.upper().startswith("P"):
        days = duration_days(second)
        end = start + timedelta(days=round(days)) if start and days is not None else None
    else:
        end = parse_date(second, end=True)
    if start is None and first.upper().startswith("P") and end is not None:
        days = duration_days(first)
        start = end - timedelta(days=round(days)) if days is not None else None
    return start, end


# Licences the catalog knows (catalog.services.departments.LICENSES), by the ids and URLs
# remote catalogs use for them: CKAN ids, creativecommons.org and opendatacommons.org URLs
# (http or https, with or without "legalcode" and trailing slash), EU licence IRIs.
_LICENSE_ALIASES = {
    "cc-by-4.0": "cc-by-4.0",
    "cc_by_4_0": "cc-by-4.0",
    "creativecommons.org/licenses/by/4.0": "cc-by-4.0",
    "cc0-1.0": "cc0-1.0",
    "cc-zero": "cc0-1.0",
    "cc0": "cc0-1.0",
    "cc0_1_0": "cc0-1.0",
    "creativecommons.org/publicdomain/zero/1.0": "cc0-1.0",
    "odc-by": "odc-by-1.0",
    "odc-by-1.0": "odc-by-1.0",
    "odc_by_1_0": "odc-by-1.0",
    "opendatacommons.org/licenses/by/1-0": "odc-by-1.0",
    "opendatacommons.org/licenses/by/1.0": "odc-by-1.0",
    "opendatacommons.org/licenses/by": "odc-by-1.0",
}


def normalise_license(value: object) -> str:
    """The catalog's licence id when ``value`` names one it knows, else ``value`` as the
    source gave it (a licence id or URL), stripped; "" for none."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    key = text.lower()
    if key.startswith(("http://", "https://")):
        parts = urlsplit(key)
        path = re.sub(r"/(legalcode(\.[a-z-]+)?|deed\.[a-z-]+)$", "", parts.path.rstrip("/"))
        key = f"{parts.hostname or ''}{path}".removeprefix("www.")
        if key.startswith("publications.europa.eu/resource/authority/licence/"):
            key = key.rsplit("/", 1)[-1]
    return _LICENSE_ALIASES.get(key, text)


# Resource formats the harvest copies into the object store: files a person downloads.
# Anything else (APIs, web pages, map services, SPARQL endpoints) stays a link.
FILE_FORMATS = frozenset(
    "CSV TSV TXT XLS XLSX ODS JSON GEOJSON JSONLD XML RDF TTL NT N3 ZIP GZ 7Z RAR TAR PDF "
    "DOC DOCX ODT PPT PPTX SHP KML KMZ GML GPKG GPX PARQUET AVRO DBF MDB SQLITE NETCDF NC "
    "HDF5 TIFF GEOTIFF JPG JPEG PNG SVG MP3 MP4 DWG DXF".split()
)
LINK_FORMATS = frozenset(
    "API HTML HTM WEB PAGE WMS WFS WMTS WCS SPARQL ESRI REST ARCGIS SOAP OAI-PMH FEED RSS "
    "ATOM MSG_HTTP OPENAPI".split()
)
_MEDIA_TYPE_FORMATS = {
    "text/csv": "CSV",
    "text/tab-separated-values": "TSV",
    "text/plain": "TXT",
    "application/vnd.ms-excel": "XLS",
    "application/xls": "XLS",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "application/vnd.oasis.opendocument.spreadsheet": "ODS",
    "application/json": "JSON",
    "application/geo+json": "GEOJSON",
    "application/vnd.geo+json": "GEOJSON",
    "application/ld+json": "JSONLD",
    "application/xml": "XML",
    "text/xml": "XML",
    "application/rdf+xml": "RDF",
    "text/turtle": "TTL",
    "application/n-triples": "NT",
    "application/zip": "ZIP",
    "application/x-zip-compressed": "ZIP",
    "application/gzip": "GZ",
    "application/pdf": "PDF",
    "application/msword": "DOC",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.google-earth.kml+xml": "KML",
    "application/vnd.google-earth.kmz": "KMZ",
    "application/gml+xml": "GML",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
    "text/html": "HTML",
    "application/xhtml+xml": "HTML",
    "application/http": "API",
    "application/sparql-query": "SPARQL",
    "application/x-ndjson": "JSON",
}
_FORMAT_ALIASES = {"JPG": "JPEG", "HTM": "HTML", "WEB PAGE": "HTML", "ESRI REST": "API"}


def media_type_of(value: object) -> str:
    """A media type from a plain value or an IANA IRI (``.../media-types/text/csv``)."""
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    marker = "/assignments/media-types/"
    if marker in text:
        text = text.split(marker, 1)[1]
    return text.split(";")[0].strip()


def format_label(declared: object, media_type: object = "", url: object = "") -> str:
    """A short upper-case format label (CSV, XLSX, API, ...) from the declared format (a
    word, ``.csv``, a media type, an EU file-type IRI), else the media type, else the URL."""
    if isinstance(declared, str) and declared.strip():
        text = declared.strip()
        if "/" in text and not text.lower().startswith(("http://", "https://")):
            by_type = _MEDIA_TYPE_FORMATS.get(media_type_of(text))
            if by_type:
                return by_type
        if text.lower().startswith(("http://", "https://")):
            if "/media-types/" in text:
                by_type = _MEDIA_TYPE_FORMATS.get(media_type_of(text))
                if by_type:
                    return by_type
            text = re.split(r"[/#]", text.rstrip("/"))[-1]
        label = text.lstrip(".").upper()
        return _FORMAT_ALIASES.get(label, label)
    by_type = _MEDIA_TYPE_FORMATS.get(media_type_of(media_type))
    if by_type:
        return by_type
    if isinstance(url, str) and url:
        suffix = PurePosixPath(urlsplit(url).path).suffix.lstrip(".").upper()
        if suffix in FILE_FORMATS:
            return _FORMAT_ALIASES.get(suffix, suffix)
    return ""


def stores_file(label: str, url: str | None, *, download: bool | None = None) -> bool:
    """Whether a resource is a file to copy into the object store (True) or a link to keep
    (False). ``download`` is what the source says of the URL: True for a download URL
    (DCAT / data.json downloadURL), False for an access or landing URL, None when it does
    not say (CKAN); then only known file formats are copied. APIs and web pages never are."""
    if not url or urlsplit(url).scheme not in ("http", "https") or download is False:
        return False
    if label in LINK_FORMATS:
        return False
    return label in FILE_FORMATS or download is True


def email_of(value: object) -> str:
    """An e-mail address from ``mailto:x@y`` or ``x@y``; "" when it is none."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    text = text.split("?", 1)[0]
    return text if "@" in text else ""


def phone_of(value: object) -> str:
    """A telephone number from ``tel:+86-10-1234`` or the number itself."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    return text[len("tel:") :] if text.lower().startswith("tel:") else text


def spatial_text(value: object) -> tuple[str, str]:
    """(spatial, geometry): a place name or bounding box is the dataset's spatial text; a
    GeoJSON geometry goes into the extras instead, where its size does no harm."""
    if not isinstance(value, str) or not value.strip():
        return "", ""
    text = value.strip()
    if text.startswith("{"):
        return "", text
    return text, ""


def first_text(*values: object) -> str:
    """The first value that is non-empty text, stripped."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
