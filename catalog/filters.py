"""Dataset filters and facets, as data: one definition per filter.

The API, the pages and the search backends all read ``DATASET_FILTERS``; adding a facet is
adding one definition here (and its field to the search document).
"""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from catalog.models import Department, License, Theme
from catalog.vocab import LabelledEnum, OpenType, ShareType, UpdateFrequency


@dataclass(frozen=True)
class FacetCount:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class DatasetFilter:
    """A filter on datasets by one attribute, and the facet that counts its values."""

    param: str  # the query parameter, e.g. ?department=edu
    label: str  # its Chinese name on pages
    field: str  # the search document's field it filters and counts
    # How a value is named on pages: by a vocabulary, by a catalog column, or as itself.
    vocabulary: type[LabelledEnum] | None = None
    value_column: ColumnElement | None = None
    name_column: ColumnElement | None = None

    def value_labels(self, session: Session, values: list[str]) -> dict[str, str]:
        """Display names of the given values (a department's name for its slug)."""
        if self.vocabulary is not None:
            return {value: _vocabulary_label(self.vocabulary, value) for value in values}
        if self.value_column is not None and values:
            query = select(self.value_column, self.name_column).where(self.value_column.in_(values))
            return dict(session.execute(query).all())
        return {value: value for value in values}


def _vocabulary_label(vocabulary: type[LabelledEnum], value: str) -> str:
    try:
        return vocabulary(value).label
    except ValueError:
        return value


DATASET_FILTERS: tuple[DatasetFilter, ...] = (
    DatasetFilter("department", "部门", "department", None, Department.slug, Department.name),
    DatasetFilter("theme", "主题", "themes", None, Theme.slug, Theme.name),
    DatasetFilter("tag", "标签", "tags"),
    DatasetFilter("format", "格式", "formats"),
    DatasetFilter("license", "许可协议", "license", None, License.id, License.title),
    DatasetFilter("open_type", "开放类型", "open_type", OpenType),
    DatasetFilter("share_type", "共享类型", "share_type", ShareType),
    DatasetFilter("update_frequency", "更新频率", "update_frequency", UpdateFrequency),
)

FILTERS_BY_PARAM = {f.param: f for f in DATASET_FILTERS}
