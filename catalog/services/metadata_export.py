"""The public catalog as other portals read it: what the DCAT and data.json exports share.

The exports describe exactly what an anonymous caller may see, so every query here filters
with the access policy for the anonymous actor, never with a filter of its own. Where the
portal serves its pages, documents and files is the web layer's knowledge: it passes it in
as ``PortalLinks``, so nothing here knows a route or a request.
"""

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from catalog.models import Dataset, Department, License, Resource, Theme
from catalog.policy import Action, Actor, can, visible_clause
from catalog.services.datasets import dataset_load_options, get_dataset

PUBLIC = Actor.anonymous()
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# Bumped whenever the exported documents change shape, so caches do not keep old ones.
EXPORT_VERSION = "1"

# Media types of the formats resources are filed under, for resources that do not state one.
MEDIA_TYPES = {
    "CSV": "text/csv",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "XLS": "application/vnd.ms-excel",
    "JSON": "application/json",
    "GEOJSON": "application/geo+json",
    "XML": "application/xml",
    "PDF": "application/pdf",
    "HTML": "text/html",
    "ZIP": "application/zip",
    "TXT": "text/plain",
    "DOCX": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class PortalLinks:
    """Absolute URLs of the portal's pages, documents and files, built by the web layer."""

    home: str
    catalog: str  # the catalog's IRI
    dataset: Callable[[str], str]  # slug -> the dataset's IRI (its metadata documents)
    dataset_page: Callable[[str], str]  # slug -> its page for people (the landing page)
    department_page: Callable[[str], str]  # slug -> the department's page
    themes: str  # the IRI of the portal's theme scheme
    theme: Callable[[str], str]  # slug -> the theme's IRI
    licence: Callable[[str], str]  # id -> the IRI of a licence that has no address of its own
    download: Callable[[str, str], str]  # dataset slug, resource id -> the file's download


@dataclass(frozen=True)
class CatalogInfo:
    """What the catalog says of itself. The title is the site's name (a setting)."""

    title: str
    title_en: str = "Chancheng District Open Government Data Portal"
    description: str = (
        "佛山市禅城区人民政府数据开放平台的公共数据目录：各部门依法向社会开放的数据集及其资源。"
    )
    description_en: str = (
        "The public catalog of the open government data of Chancheng District, Foshan: the "
        "datasets its departments open to the public, with their files and services."
    )
    publisher: str = "佛山市禅城区人民政府"
    publisher_en: str = "People's Government of Chancheng District, Foshan"


@dataclass(frozen=True)
class CatalogState:
    """A fingerprint of the public catalog, cheap to compute, for ETag and Last-Modified."""

    count: int
    issued: datetime | None  # the first public dataset's creation
    modified: datetime | None  # the latest change to a public dataset
    fingerprint: str

    def etag(self, *representation: object) -> str:
        """An entity tag of one representation (format, page, base URL) of this state."""
        text = "|".join(str(part) for part in (EXPORT_VERSION, self.fingerprint, *representation))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CatalogPage:
    datasets: list[Dataset]
    page: int
    page_size: int
    total: int

    @property
    def last_page(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _public():
    return visible_clause(PUBLIC, Dataset)


def public_catalog_state(session: Session) -> CatalogState:
    """Count, dates and fingerprint of the public catalog.

    Every change to a dataset bumps its revision and modified time; the departments, themes
    and licences the documents name change without touching datasets, so their rows are
    part of the fingerprint too (a few dozen rows).
    """
    count, revisions, issued, modified = session.execute(
        select(
            func.count(Dataset.id),
            func.coalesce(func.sum(Dataset.revision), 0),
            func.min(Dataset.created_at),
            func.max(Dataset.modified_at),
        ).where(_public())
    ).one()
    digest = hashlib.sha256(f"{count}|{revisions}|{issued}|{modified}".encode())
    for statement in (
        select(
            Department.id,
            Department.slug,
            Department.name,
            Department.name_en,
            Department.code,
            Department.contact_email,
            Department.contact_phone,
        ).order_by(Department.id),
        select(Theme.slug, Theme.name, Theme.name_en).order_by(Theme.slug),
        select(License.id, License.title, License.title_en, License.url).order_by(License.id),
    ):
        for row in session.execute(statement):
            digest.update(repr(tuple(row)).encode())
    return CatalogState(count, issued, modified, digest.hexdigest())


def public_catalog_page(session: Session, page: int, page_size: int) -> CatalogPage:
    """One page of the public datasets, oldest first so that new datasets append to the end
    and a harvester walking the pages does not see the earlier ones shift."""
    total = session.scalar(select(func.count(Dataset.id)).where(_public())) or 0
    datasets = session.scalars(
        select(Dataset)
        .where(_public())
        .order_by(Dataset.created_at, Dataset.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
        .options(*dataset_load_options())
    ).all()
    return CatalogPage(list(datasets), page, page_size, total)


def iter_public_datasets(session: Session, batch_size: int = 200) -> Iterator[Dataset]:
    """Every public dataset, oldest first, read in batches so memory stays flat however
    large the catalog: each batch starts after the last one's key (no growing OFFSET), and
    the session keeps no reference to rows the caller has let go of."""
    after: tuple[datetime, str] | None = None
    while True:
        statement = select(Dataset).where(_public())
        if after is not None:
            created, dataset_id = after
            statement = statement.where(
                or_(
                    Dataset.created_at > created,
                    and_(Dataset.created_at == created, Dataset.id > dataset_id),
                )
            )
        batch = session.scalars(
            statement.order_by(Dataset.created_at, Dataset.id)
            .limit(batch_size)
            .options(*dataset_load_options())
        ).all()
        yield from batch
        if len(batch) < batch_size:
            return
        after = (batch[-1].created_at, batch[-1].id)


def public_dataset(session: Session, slug: str) -> Dataset:
    """One dataset of the public catalog; NotFound for any the public may not see."""
    return get_dataset(session, PUBLIC, slug)


def public_may_download(dataset: Dataset) -> bool:
    """Whether anyone may fetch the dataset's files without a grant."""
    return can(PUBLIC, Action.READ_DATA, dataset)


def contact_email(dataset: Dataset) -> str | None:
    """The dataset's contact address, else its department's; None if neither looks like one."""
    email = (dataset.contact_email or dataset.department.contact_email).strip()
    return email if _EMAIL.match(email) else None


def links_to_file(resource: Resource) -> bool:
    """Whether a link points at a file (a format the portal knows, not a web page or an
    API), so that its address is a download address as well as an access address."""
    file_format = resource.format.upper()
    return resource.url is not None and file_format in MEDIA_TYPES and file_format != "HTML"


def media_type_of(resource: Resource) -> str | None:
    """The resource's media type without parameters, or its format's usual one."""
    stated = resource.media_type.split(";", 1)[0].strip().lower()
    if stated and "/" in stated:
        return stated
    return MEDIA_TYPES.get(resource.format.upper())
