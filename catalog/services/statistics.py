"""Portal statistics: what the catalog holds, counted over what the caller may see."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.models import Dataset, Department, DownloadCount, Resource
from catalog.policy import Actor, visible_clause
from catalog.services.datasets import catalog_statistics
from catalog.vocab import OpenType

NO_FORMAT_LABEL = "未注明格式"


@dataclass(frozen=True)
class Count:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class PortalStatistics:
    departments: int
    datasets: int
    resources: int
    records: int  # rows of the tabular resources of those datasets
    downloads: int  # file downloads and record exports, all days
    by_open_type: list[Count]  # every open type, in the vocabulary's order
    by_department: list[Count]  # departments with datasets the caller sees, most first
    by_format: list[Count]  # resource formats (upper case), most first


def portal_statistics(session: Session, actor: Actor) -> PortalStatistics:
    """Counts of datasets by open type, department and resource format, of resources,
    records and downloads: over the datasets the actor may see, filtered in the queries
    by the access policy, so no figure tells of a hidden dataset."""
    totals = catalog_statistics(session, actor)
    visible = visible_clause(actor, Dataset)
    per_open_type = dict(
        session.execute(
            select(Dataset.open_type, func.count()).where(visible).group_by(Dataset.open_type)
        ).all()
    )
    dataset_count = func.count(Dataset.id)
    per_department = session.execute(
        select(Department.slug, Department.name, dataset_count)
        .join(Dataset, Dataset.department_id == Department.id)
        .where(visible)
        .group_by(Department.id, Department.slug, Department.name)
        .order_by(dataset_count.desc(), Department.slug)
    ).all()
    format_code = func.upper(Resource.format)
    resource_count = func.count(Resource.id)
    per_format = session.execute(
        select(format_code, resource_count)
        .join(Dataset, Resource.dataset_id == Dataset.id)
        .where(visible)
        .group_by(format_code)
        .order_by(resource_count.desc(), format_code)
    ).all()
    downloads = session.scalar(
        select(func.coalesce(func.sum(DownloadCount.count), 0))
        .join(Resource, DownloadCount.resource_id == Resource.id)
        .join(Dataset, Resource.dataset_id == Dataset.id)
        .where(visible)
    )
    return PortalStatistics(
        departments=totals.departments,
        datasets=totals.datasets,
        resources=totals.resources,
        records=totals.records,
        downloads=int(downloads or 0),
        by_open_type=[
            Count(kind.value, kind.label, per_open_type.get(kind.value, 0)) for kind in OpenType
        ],
        by_department=[Count(slug, name, count) for slug, name, count in per_department],
        by_format=[Count(code or "", code or NO_FORMAT_LABEL, count) for code, count in per_format],
    )
