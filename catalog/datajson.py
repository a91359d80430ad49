"""The public catalog as a Project Open Data v1.1 catalog (data.json).

The document is produced as a stream of JSON pieces, one dataset at a time, read from the
database in batches: a catalog of a hundred thousand datasets takes no more memory than one
of three hundred. Chinese text is written as it is (no \\u escapes).
"""

import json
from collections.abc import Iterator
from urllib.parse import quote

from sqlalchemy.orm import Session

from catalog.models import Dataset, Resource
from catalog.services.metadata_export import (
    CatalogInfo,
    PortalLinks,
    contact_email,
    iter_public_datasets,
    links_to_file,
    media_type_of,
    public_may_download,
)
from catalog.vocab import OpenType, UpdateFrequency

SCHEMA = "https://project-open-data.cio.gov/v1.1/schema"
CONTEXT = SCHEMA + "/catalog.jsonld"
DESCRIBED_BY = SCHEMA + "/catalog.json"
LANGUAGE = "zh-CN"

# update_frequency -> the ISO 8601 repeating intervals POD lists for accrualPeriodicity.
PERIODICITY = {
    UpdateFrequency.REALTIME: "R/PT1S",
    UpdateFrequency.DAILY: "R/P1D",
    UpdateFrequency.WEEKLY: "R/P1W",
    UpdateFrequency.MONTHLY: "R/P1M",
    UpdateFrequency.QUARTERLY: "R/P3M",
    UpdateFrequency.SEMIANNUAL: "R/P6M",
    UpdateFrequency.ANNUAL: "R/P1Y",
    UpdateFrequency.OTHER: "irregular",
}
ACCESS_LEVELS = {
    OpenType.UNCONDITIONAL: "public",
    OpenType.CONDITIONAL: "restricted public",
    OpenType.NOT_OPEN: "non-public",
}
# POD limits rights to 255 characters.
RIGHTS_LENGTH = 255
# Reserved and unreserved URI characters, and % so that escapes already made stay as they are.
URI_CHARACTERS = ":/?#[]@!$&'()*+,;=%~-._"
DEFAULT_RIGHTS = "本数据为有条件开放，请向数据提供部门申请。"


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def data_json_pieces(
    session: Session, info: CatalogInfo, links: PortalLinks, document_url: str
) -> Iterator[str]:
    """The data.json document of the public catalog, in pieces to be sent as they come."""
    yield (
        '{"@context":'
        + _dumps(CONTEXT)
        + ',"@id":'
        + _dumps(document_url)
        + ',"@type":"dcat:Catalog","conformsTo":'
        + _dumps(SCHEMA)
        + ',"describedBy":'
        + _dumps(DESCRIBED_BY)
        + ',"dataset":['
    )
    separator = ""
    for dataset in iter_public_datasets(session):
        yield separator + _dumps(pod_dataset(dataset, info, links))
        separator = ","
    yield "]}"


def pod_dataset(dataset: Dataset, info: CatalogInfo, links: PortalLinks) -> dict:
    """One dataset as a POD v1.1 dataset object."""
    department = dataset.department
    keywords = [tag.name for tag in dataset.tags] or [theme.name for theme in dataset.themes]
    entry = {
        "@type": "dcat:Dataset",
        "identifier": links.dataset(dataset.slug),
        "title": dataset.title,
        # POD requires a description and at least one keyword: a dataset registered without
        # them is described by its title and found under its themes or its department.
        "description": dataset.description.strip() or dataset.title,
        "keyword": keywords or [department.name],
        "modified": _moment(dataset.modified_at),
        "publisher": {
            "@type": "org:Organization",
            "name": department.name,
            "subOrganizationOf": {"@type": "org:Organization", "name": info.publisher},
        },
        "contactPoint": _contact_point(dataset),
        "accessLevel": ACCESS_LEVELS[OpenType(dataset.open_type)],
        "landingPage": links.dataset_page(dataset.slug),
        "language": [LANGUAGE],
    }
    if dataset.open_type != OpenType.UNCONDITIONAL:
        # POD asks non-public datasets to say why, and how one may get the data.
        rights = dataset.open_condition.strip() or DEFAULT_RIGHTS
        entry["rights"] = rights[:RIGHTS_LENGTH]
    if dataset.license is not None:
        entry["license"] = dataset.license.url or links.licence(dataset.license.id)
    if dataset.release_date is not None:
        entry["issued"] = dataset.release_date.isoformat()
    else:
        entry["issued"] = _moment(dataset.created_at)
    if dataset.update_frequency in PERIODICITY:
        entry["accrualPeriodicity"] = PERIODICITY[UpdateFrequency(dataset.update_frequency)]
    if dataset.spatial:
        entry["spatial"] = dataset.spatial
    if dataset.temporal_start and dataset.temporal_end:
        start, end = dataset.temporal_start.isoformat(), dataset.temporal_end.isoformat()
        entry["temporal"] = f"{start}/{end}"
    if dataset.themes:
        entry["theme"] = [theme.name for theme in dataset.themes]
    downloadable = public_may_download(dataset)
    distributions = [_distribution(dataset, r, links, downloadable) for r in dataset.resources]
    if distributions:
        entry["distribution"] = distributions
    return entry


def _uri(url: str) -> str:
    """An outside address as a URI: spaces and non-ASCII characters percent-encoded."""
    return quote(url, safe=URI_CHARACTERS)


def _moment(value) -> str:
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _contact_point(dataset: Dataset) -> dict:
    department = dataset.department
    contact = {"@type": "vcard:Contact", "fn": dataset.contact_name or department.name}
    email = contact_email(dataset)
    if email is not None:
        contact["hasEmail"] = "mailto:" + email
    return contact


def _distribution(
    dataset: Dataset, resource: Resource, links: PortalLinks, downloadable: bool
) -> dict:
    """A resource as a POD distribution; like the REST API, no data address where the public
    may not fetch the data, only the dataset's page telling how to apply."""
    entry = {"@type": "dcat:Distribution", "title": resource.name}
    if resource.description:
        entry["description"] = resource.description
    if downloadable and resource.storage_key is not None:
        entry["downloadURL"] = links.download(dataset.slug, resource.id)
    elif downloadable and resource.url and resource.url.lower().startswith(("http:", "https:")):
        entry["downloadURL" if links_to_file(resource) else "accessURL"] = _uri(resource.url)
    else:
        entry["accessURL"] = links.dataset_page(dataset.slug)
    if "downloadURL" in entry:
        # POD requires the media type of every downloadURL; a file of a format the portal
        # does not know is described as plain bytes.
        entry["mediaType"] = media_type_of(resource) or "application/octet-stream"
    if resource.format:
        entry["format"] = resource.format
    return entry
