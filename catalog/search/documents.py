"""The search document of a dataset: what the engines index, with the policy's labels."""

from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from catalog.models import Dataset, DownloadCount, Resource
from catalog.policy import data_labels, metadata_labels

# Fields holding the text a search matches, by weight: the title first, then the words that
# describe a dataset in a few terms (the English title among them), then the long text.
KEYWORD_FIELDS = ("title_en", "tags", "department_name", "theme_names", "resource_code")
BODY_FIELDS = ("description", "resource_names", "field_titles")


def dataset_downloads(dataset: Dataset) -> int:
    """Downloads of all the dataset's resources, every day together, read through the
    dataset's session (an indexed sum over its resources' daily counts); 0 outside one."""
    session = object_session(dataset)
    if session is None:
        return 0
    total = session.scalar(
        select(func.coalesce(func.sum(DownloadCount.count), 0))
        .join(Resource, Resource.id == DownloadCount.resource_id)
        .where(Resource.dataset_id == dataset.id)
    )
    return int(total)


def dataset_document(dataset: Dataset, downloads: int | None = None) -> dict:
    """The dataset's search document; ``downloads`` None reads its total from the catalog
    (catalog.services.downloads says when a download asks for the document again)."""
    return {
        "id": dataset.id,
        "slug": dataset.slug,
        "title": dataset.title,
        "title_en": dataset.title_en,
        "description": dataset.description,
        "resource_code": dataset.resource_code or "",
        "tags": [tag.name for tag in dataset.tags],
        "department": dataset.department.slug,
        "department_name": dataset.department.name,
        "themes": [theme.slug for theme in dataset.themes],
        "theme_names": [theme.name for theme in dataset.themes],
        "formats": sorted({r.format for r in dataset.resources if r.format}),
        "license": dataset.license_id or "",
        "open_type": dataset.open_type,
        "share_type": dataset.share_type,
        "update_frequency": dataset.update_frequency,
        "state": dataset.state,
        "resource_names": [r.name for r in dataset.resources],
        "field_titles": sorted(
            {f.get("title") or f["name"] for r in dataset.resources for f in r.fields}
        ),
        "modified_at": dataset.modified_at.isoformat(),
        "release_date": dataset.release_date.isoformat() if dataset.release_date else None,
        "downloads": dataset_downloads(dataset) if downloads is None else downloads,
        "revision": dataset.revision,
        "labels": sorted(metadata_labels(dataset)),
        "data_labels": sorted(data_labels(dataset)),
    }


def text_of(document: dict, names: tuple[str, ...]) -> str:
    """The document's text in the named fields, joined for matching."""
    parts: list[str] = []
    for name in names:
        value = document.get(name)
        if isinstance(value, list):
            parts.extend(value)
        elif value:
            parts.append(value)
    return "\n".join(parts)
