"""The listings CKAN has and the catalog's services do not: dataset names, tags, theme counts
and a resource's dataset. Each is filtered inside the query by the policy's own clause, so
they count and name only what the caller may see."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.errors import NotFound
from catalog.models import Dataset, Resource, Tag, dataset_tags, dataset_themes
from catalog.policy import Actor, visible_clause
from catalog.services.datasets import get_dataset_resource


def dataset_names(session: Session, actor: Actor, limit: int | None, offset: int) -> list[str]:
    """Slugs of the datasets the actor may see, in name order."""
    query = (
        select(Dataset.slug)
        .where(visible_clause(actor, Dataset))
        .order_by(Dataset.slug)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def tag_names(session: Session, actor: Actor, containing: str) -> list[str]:
    """Tags of the datasets the actor may see (a tag of a hidden dataset would tell of it)."""
    query = (
        select(Tag.name)
        .join(dataset_tags, dataset_tags.c.tag_id == Tag.id)
        .join(Dataset, Dataset.id == dataset_tags.c.dataset_id)
        .where(visible_clause(actor, Dataset))
        .distinct()
        .order_by(Tag.name)
    )
    if containing:
        query = query.where(Tag.name.contains(containing, autoescape=True))
    return list(session.scalars(query))


def theme_dataset_counts(session: Session, actor: Actor) -> dict[str, int]:
    """Theme id -> how many datasets filed under it the actor may see."""
    query = (
        select(dataset_themes.c.theme_id, func.count())
        .join(Dataset, Dataset.id == dataset_themes.c.dataset_id)
        .where(visible_clause(actor, Dataset))
        .group_by(dataset_themes.c.theme_id)
    )
    return dict(session.execute(query).all())


def visible_resource(session: Session, actor: Actor, resource_id: str) -> tuple[Dataset, Resource]:
    """A resource and its dataset, found by the resource's id alone (as CKAN asks), through
    the dataset service and so the policy. A resource of a hidden dataset is "not found"
    exactly as one that does not exist."""
    missing = NotFound(f'Resource "{resource_id}" was not found.')
    dataset_id = session.scalar(select(Resource.dataset_id).where(Resource.id == resource_id))
    if dataset_id is None:
        raise missing
    try:
        return get_dataset_resource(session, actor, dataset_id, resource_id)
    except NotFound:
        raise missing from None
