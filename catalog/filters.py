"""Dataset filters and facets, as data: one definition per filter.

The API, the pages and the query builder all read ``DATASET_FILTERS``; adding a facet is
adding one definition here.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, distinct, func, select
from sqlalchemy.orm import Session

from catalog.models import Dataset, Department, License, Resource, Tag, Theme
from catalog.models import dataset_tags as dataset_tags_table
from catalog.models import dataset_themes as dataset_themes_table
from catalog.vocab import LabelledEnum, OpenType, ShareType, UpdateFrequency


@dataclass(frozen=True)
class FacetCount:
    value: str
    label: str
    count: int


def _direct(query: Select) -> Select:
    return query


@dataclass(frozen=True)
class DatasetFilter:
    """A filter on datasets by one attribute, and the facet that counts its values."""

    param: str  # the query parameter, e.g. ?department=edu
    label: str  # its Chinese name on pages
    field: str  # the search document's field it filters and counts
    value: ColumnElement  # the catalog column holding the value
    title: ColumnElement | None = None  # a column naming each value, if any
    vocabulary: type[LabelledEnum] | None = None  # or the vocabulary that labels it
    joins: Callable[[Select], Select] = _direct  # from Dataset to the value's table

    def clause(self, values: Sequence[str]) -> ColumnElement[bool]:
        """Datasets having any of ``values``."""
        if self.joins is _direct:
            return self.value.in_(values)
        return Dataset.id.in_(self.joins(select(Dataset.id)).where(self.value.in_(values)))

    def counts(self, session: Session, where: ColumnElement[bool]) -> list[FacetCount]:
        """How many datasets matching ``where`` have each value, most first."""
        title = self.title if self.title is not None else self.value
        query = self.joins(
            select(self.value, title, func.count(distinct(Dataset.id)).label("n"))
        ).where(where)
        rows = session.execute(
            query.group_by(self.value, title).order_by(func.count(distinct(Dataset.id)).desc())
        ).all()
        return [FacetCount(value, self._label(value, label), n) for value, label, n in rows]

    def value_labels(self, session: Session, values: list[str]) -> dict[str, str]:
        """Display names of the given values (a department's name for its slug)."""
        if self.vocabulary is not None or self.title is None:
            return {value: self._label(value, value) for value in values}
        rows = session.execute(select(self.value, self.title).where(self.value.in_(values)))
        return dict(rows.all())

    def _label(self, value: str, title: str) -> str:
        if self.vocabulary is not None:
            try:
                return self.vocabulary(value).label
            except ValueError:
                return value
        return title


DATASET_FILTERS: tuple[DatasetFilter, ...] = (
    DatasetFilter(
        "department",
        "部门",
        "department",
        Department.slug,
        title=Department.name,
        joins=lambda q: q.select_from(Dataset).join(Department),
    ),
    DatasetFilter(
        "theme",
        "主题",
        "themes",
        Theme.slug,
        title=Theme.name,
        joins=lambda q: q.select_from(Dataset).join(dataset_themes_table).join(Theme),
    ),
    DatasetFilter(
        "tag",
        "标签",
        "tags",
        Tag.name,
        joins=lambda q: q.select_from(Dataset).join(dataset_tags_table).join(Tag),
    ),
    DatasetFilter(
        "format",
        "格式",
        "formats",
        Resource.format,
        joins=lambda q: q.select_from(Dataset).join(Resource),
    ),
    DatasetFilter(
        "license",
        "许可协议",
        "license",
        License.id,
        title=License.title,
        joins=lambda q: q.select_from(Dataset).join(License),
    ),
    DatasetFilter("open_type", "开放类型", "open_type", Dataset.open_type, vocabulary=OpenType),
    DatasetFilter("share_type", "共享类型", "share_type", Dataset.share_type, vocabulary=ShareType),
    DatasetFilter(
        "update_frequency",
        "更新频率",
        "update_frequency",
        Dataset.update_frequency,
        vocabulary=UpdateFrequency,
    ),
)

FILTERS_BY_PARAM = {f.param: f for f in DATASET_FILTERS}
