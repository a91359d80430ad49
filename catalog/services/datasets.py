"""Datasets: find, show, create, update and withdraw, each through the access policy."""

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.models import Dataset, Department, License, Resource, Tag, Theme, utcnow
from catalog.policy import Action, Actor, require, require_create_dataset, visible_clause
from catalog.services.audit import dataset_snapshot, record_dataset_change
from catalog.services.departments import SLUG_PATTERN
from catalog.vocab import (
    DatasetState,
    LabelledEnum,
    OpenType,
    ShareMethod,
    ShareType,
    UpdateFrequency,
)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class DatasetValues:
    """Values to create a dataset with or to change; fields left UNSET are not touched."""

    slug: str = UNSET
    title: str = UNSET
    title_en: str = UNSET
    description: str = UNSET
    description_en: str = UNSET
    department: str = UNSET  # slug
    themes: list[str] = UNSET  # slugs
    tags: list[str] = UNSET
    license: str | None = UNSET
    resource_code: str | None = UNSET
    provider: str = UNSET
    provider_code: str = UNSET
    open_type: str = UNSET
    open_condition: str = UNSET
    share_type: str = UNSET
    share_condition: str = UNSET
    share_method: str = UNSET
    update_frequency: str = UNSET
    release_date: date | None = UNSET
    related_resource_codes: list[str] = UNSET
    temporal_start: date | None = UNSET
    temporal_end: date | None = UNSET
    spatial: str = UNSET
    contact_name: str = UNSET
    contact_email: str = UNSET
    contact_phone: str = UNSET
    state: str = UNSET
    version: str = UNSET
    extras: dict[str, Any] = UNSET

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not UNSET
        }


REQUIRED_ON_CREATE = ("slug", "title", "department", "open_type", "share_type")
# Columns copied as they are; the others need a lookup (department, themes, tags, license).
PLAIN_COLUMNS = frozenset(DatasetValues.__dataclass_fields__) - {
    "department",
    "themes",
    "tags",
    "license",
}
VOCABULARIES = {
    "open_type": OpenType,
    "share_type": ShareType,
    "share_method": ShareMethod,
    "update_frequency": UpdateFrequency,
    "state": DatasetState,
}


def accepted_values(vocabulary: type[LabelledEnum]) -> list[str]:
    """What a vocabulary's field or filter accepts: each code, and each Chinese label."""
    return [*vocabulary.codes(), *(member.label for member in vocabulary)]


def describe_choices(vocabulary: type[LabelledEnum]) -> str:
    """``unconditional (无条件开放), conditional (有条件开放), ...``, for messages and docs."""
    return ", ".join(f"{member.value} ({member.label})" for member in vocabulary)


def dataset_load_options():
    """Load what pages and documents show of a dataset, in a few queries."""
    return (
        selectinload(Dataset.department),
        selectinload(Dataset.themes),
        selectinload(Dataset.tags),
        selectinload(Dataset.resources),
        selectinload(Dataset.license),
    )


def _load(session: Session, slug_or_id: str) -> Dataset:
    dataset = session.scalar(
        select(Dataset)
        .where((Dataset.slug == slug_or_id) | (Dataset.id == slug_or_id))
        .options(*dataset_load_options())
    )
    if dataset is None:
        raise NotFound("Dataset not found.")
    return dataset


def get_dataset(session: Session, actor: Actor, slug_or_id: str) -> Dataset:
    """The dataset, or NotFound if it does not exist or the actor may not see it."""
    dataset = _load(session, slug_or_id)
    require(actor, Action.VIEW, dataset)
    return dataset


def get_dataset_resource(
    session: Session, actor: Actor, slug_or_id: str, resource_id: str
) -> tuple[Dataset, Resource]:
    """A dataset and one of its resources in one query, with neither's relations loaded: the
    read path of downloads and record queries. NotFound as ``get_dataset`` says."""
    row = session.execute(
        select(Dataset, Resource)
        .outerjoin(Resource, (Resource.dataset_id == Dataset.id) & (Resource.id == resource_id))
        .where((Dataset.slug == slug_or_id) | (Dataset.id == slug_or_id))
    ).first()
    if row is None:
        raise NotFound("Dataset not found.")
    dataset, resource = row
    require(actor, Action.VIEW, dataset)
    if resource is None:
        raise NotFound("Resource not found.")
    return dataset, resource


def create_dataset(session: Session, actor: Actor, values: DatasetValues) -> Dataset:
    """Create a dataset (editors and admins of its department). Missing fields and unknown
    department, licence or themes are reported together, before the permission check."""
    given = values.given()
    errors = {
        name: ["This field is required."] for name in REQUIRED_ON_CREATE if not given.get(name)
    }
    errors.update(reference_errors(session, given))
    if errors:
        raise InvalidInput(errors)
    department = _department(session, given["department"])
    require_create_dataset(
        actor, department.id, "Only editors and admins of a department may create its datasets."
    )
    dataset = Dataset()
    apply_values(session, dataset, given)
    dataset.department = department
    session.add(dataset)
    session.flush()
    record_dataset_change(
        session, actor, "dataset.create", dataset.id, None, dataset_snapshot(dataset)
    )
    session.commit()
    return dataset


def update_dataset(
    session: Session,
    actor: Actor,
    slug_or_id: str,
    values: DatasetValues,
    expected_revision: int | None = None,
) -> Dataset:
    """Change the given fields; moving a dataset to another department needs rights in both."""
    dataset = _load(session, slug_or_id)
    require(actor, Action.EDIT, dataset)
    if expected_revision is not None and expected_revision != dataset.revision:
        raise Conflict("The dataset changed since you read it; reload and try again.")
    before = dataset_snapshot(dataset)
    given = values.given()
    # An unknown department is reported by apply_values, with the other fields' errors.
    department = None
    if "department" in given:
        department = session.scalar(
            select(Department).where(Department.slug == given["department"])
        )
        if department is not None:
            require_create_dataset(
                actor, department.id, "You may not move datasets into that department."
            )
    apply_values(session, dataset, given)
    if department is not None:
        dataset.department = department
    after = dataset_snapshot(dataset)
    if after == before:
        return dataset
    dataset.revision += 1
    dataset.modified_at = utcnow()
    record_dataset_change(session, actor, "dataset.update", dataset.id, before, after)
    session.commit()
    return dataset


def withdraw_dataset(session: Session, actor: Actor, slug_or_id: str) -> Dataset:
    """Withdraw (撤回) a dataset: it leaves the public catalog but its history stays."""
    dataset = _load(session, slug_or_id)
    require(actor, Action.DELETE, dataset)
    if dataset.state == DatasetState.WITHDRAWN:
        return dataset
    before = dataset_snapshot(dataset)
    dataset.state = DatasetState.WITHDRAWN.value
    dataset.revision += 1
    dataset.modified_at = utcnow()
    record_dataset_change(
        session, actor, "dataset.withdraw", dataset.id, before, dataset_snapshot(dataset)
    )
    session.commit()
    return dataset


def delete_dataset(session: Session, actor: Actor, slug_or_id: str) -> None:
    """Delete a dataset for good (its audit trail stays)."""
    dataset = _load(session, slug_or_id)
    require(actor, Action.DELETE, dataset)
    record_dataset_change(
        session, actor, "dataset.delete", dataset.id, dataset_snapshot(dataset), None
    )
    session.delete(dataset)
    session.commit()


def _department(session: Session, slug: str) -> Department:
    department = session.scalar(select(Department).where(Department.slug == slug))
    if department is None:
        raise InvalidInput({"department": [f"No department {slug!r}."]})
    return department


def reference_errors(session: Session, given: dict[str, Any]) -> dict[str, list[str]]:
    """Errors in what the values name in the catalog: a department, licence or theme that
    does not exist. These lists are public, so a caller may hear of them before any
    permission check (the REST API reports them with its schema's errors)."""
    errors: dict[str, list[str]] = {}
    department = given.get("department")
    if (
        department
        and session.scalar(select(Department.id).where(Department.slug == department)) is None
    ):
        errors["department"] = [f"No department {department!r}."]
    licence = given.get("license")
    if licence and session.get(License, licence) is None:
        errors["license"] = [f"Unknown licence {licence!r}."]
    if given.get("themes"):
        known = set(session.scalars(select(Theme.slug).where(Theme.slug.in_(given["themes"]))))
        missing = set(given["themes"]) - known
        if missing:
            errors["themes"] = [f"Unknown themes: {', '.join(sorted(missing))}."]
    return errors


def apply_values(session: Session, dataset: Dataset, given: dict[str, Any]) -> None:
    """Validate the given values against the catalog and set them; raise with every error.
    Commits nothing, so a caller may make it part of a larger transaction (a harvest)."""
    with session.no_autoflush:
        _validate(session, dataset, given)
    for name in PLAIN_COLUMNS & given.keys():
        setattr(dataset, name, given[name])
    if "license" in given:
        dataset.license = given["license"]
    if "themes" in given:
        dataset.themes = given["themes"]
    if "tags" in given:
        dataset.tags = _tags(session, given["tags"])


def _validate(session: Session, dataset: Dataset, given: dict[str, Any]) -> None:
    """Check the given values, replacing codes and slugs by what they name; raise on errors."""
    errors = reference_errors(session, given)
    for name, vocabulary in VOCABULARIES.items():
        if name in given:
            try:
                given[name] = vocabulary.from_code_or_label(given[name]).value
            except ValueError:
                errors[name] = [f"Use one of: {describe_choices(vocabulary)}."]
    if "slug" in given:
        slug = given["slug"]
        if not SLUG_PATTERN.match(slug or ""):
            errors["slug"] = ["Use 1-100 lower-case letters, digits and '-'."]
        elif session.scalar(
            select(Dataset.id).where(Dataset.slug == slug, Dataset.id != dataset.id)
        ):
            errors["slug"] = [f"The slug {slug!r} is taken."]
    if "title" in given and not (given["title"] or "").strip():
        errors["title"] = ["A dataset needs a title."]
    if given.get("resource_code") and session.scalar(
        select(Dataset.id).where(
            Dataset.resource_code == given["resource_code"], Dataset.id != dataset.id
        )
    ):
        errors["resource_code"] = ["Another dataset has this resource code."]
    start = given.get("temporal_start", dataset.temporal_start)
    end = given.get("temporal_end", dataset.temporal_end)
    if start and end and end < start:
        errors["temporal_end"] = ["The end of the time covered comes before its start."]
    if errors:
        session.rollback()
        raise InvalidInput(errors)
    if given.get("license"):
        given["license"] = session.get(License, given["license"])
    if "themes" in given:
        given["themes"] = list(
            session.scalars(select(Theme).where(Theme.slug.in_(given["themes"])))
        )


def _tags(session: Session, names: list[str]) -> list[Tag]:
    wanted = sorted({name.strip() for name in names if name.strip()})
    existing = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    return [existing.get(name) or Tag(name=name) for name in wanted]


@dataclass(frozen=True)
class CatalogStatistics:
    departments: int
    datasets: int
    resources: int
    records: int  # rows of the tabular resources of those datasets


def catalog_statistics(session: Session, actor: Actor) -> CatalogStatistics:
    """Counts over what the actor may see (the home page's figures)."""
    visible = visible_clause(actor, Dataset)
    datasets = session.scalar(select(func.count()).select_from(Dataset).where(visible)) or 0
    resources, records = session.execute(
        select(func.count(Resource.id), func.coalesce(func.sum(Resource.row_count), 0))
        .join(Dataset)
        .where(visible)
    ).one()
    departments = session.scalar(select(func.count()).select_from(Department)) or 0
    return CatalogStatistics(departments, datasets, resources, int(records))
