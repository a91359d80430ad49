"""Loads the demo catalog through the catalog's own services, so it is always valid.

Running it twice changes nothing: every department, theme, user, dataset, resource and
grant is looked up by its slug or name first and only created when missing. The services
stamp what they create with the current time; the demo then gives its datasets the times
of :mod:`catalog.demo.timeline` instead, so that two loads give the same catalog.
"""

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.demo import timeline
from catalog.demo.files import media_type_for, write_resource_file
from catalog.demo.links import link_url
from catalog.demo.values import iter_rows, resource_seed
from catalog.interfaces import ObjectStore, RecordField, RecordStore
from catalog.models import (
    Dataset,
    Department,
    Grant,
    Resource,
    ResourceVersion,
    SearchOutbox,
    Theme,
    User,
)
from catalog.policy import Actor
from catalog.services import users
from catalog.services.datasets import DatasetValues, create_dataset
from catalog.services.departments import (
    DepartmentValues,
    create_department,
    create_theme,
    ensure_licenses,
)
from catalog.services.grants import create_grant
from catalog.services.resources import ResourceValues, add_resource, find_resource
from catalog.services.search import add_synonyms, list_synonyms
from catalog.vocab import Role

DATA = Path(__file__).parent / "data"
ADMIN_NAME = "admin"
FILE_EXTENSIONS = {"CSV": "csv", "XLSX": "xlsx", "GEOJSON": "geojson"}
# Generated files are spooled in memory up to this size, then on disk.
SPOOL_BYTES = 8 * 1024 * 1024
DEPARTMENT_FIELDS = frozenset(field.name for field in fields(DepartmentValues))


@dataclass
class DemoReport:
    departments: int = 0
    themes: int = 0
    users: int = 0
    synonyms: int = 0
    datasets: int = 0
    resources: int = 0
    files: int = 0
    records: int = 0
    grants: int = 0

    def summary(self) -> str:
        if not any(vars(self).values()):
            return "Demo catalog already loaded; nothing changed."
        return (
            f"Demo catalog loaded: {self.departments} departments, {self.themes} themes, "
            f"{self.users} users, {self.synonyms} synonym sets, {self.datasets} datasets, "
            f"{self.resources} resources "
            f"({self.files} generated files), {self.records} records, {self.grants} grants."
        )


@dataclass(frozen=True)
class Site:
    """The demo's ``data/site.json`` and each department's website."""

    portal_url: str
    dataset_api_description: str
    reference_time: datetime
    department_sites: dict[str, str]

    @classmethod
    def read(cls) -> "Site":
        site = json.loads((DATA / "site.json").read_text(encoding="utf-8"))
        return cls(
            portal_url=site["portal_url"],
            dataset_api_description=site["dataset_api_description"],
            reference_time=datetime.fromisoformat(site["reference_time"]),
            department_sites={d["slug"]: d["website"] for d in _read("departments.json")},
        )


def _read(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def load_demo(
    session: Session,
    object_store: ObjectStore,
    record_store: RecordStore,
    actor: Actor,
    progress: Callable[[str], None] = lambda _message: None,
) -> DemoReport:
    report = DemoReport()
    site = Site.read()
    ensure_licenses(session)
    session.commit()
    _load_themes(session, actor, report)
    _load_departments(session, actor, report)
    _load_users(session, actor, report)
    _load_synonyms(session, actor, report)
    specs = _read("datasets.json")
    stores = (object_store, record_store)
    for position, spec in enumerate(specs, start=1):
        _load_dataset(session, actor, stores, site, spec, report)
        if position % 50 == 0:
            progress(f"  {position}/{len(specs)} datasets")
    _load_grants(session, actor, site, report)
    return report


def _load_themes(session: Session, actor: Actor, report: DemoReport) -> None:
    known = set(session.scalars(select(Theme.slug)))
    for spec in _read("themes.json"):
        if spec["slug"] not in known:
            create_theme(session, actor, spec["slug"], spec["name"], spec.get("name_en", ""))
            report.themes += 1


def _load_departments(session: Session, actor: Actor, report: DemoReport) -> None:
    known = set(session.scalars(select(Department.slug)))
    for spec in _read("departments.json"):
        if spec["slug"] not in known:
            values = {name: value for name, value in spec.items() if name in DEPARTMENT_FIELDS}
            create_department(session, actor, DepartmentValues(**values))
            report.departments += 1


def _load_users(session: Session, actor: Actor, report: DemoReport) -> None:
    """The sysadmin ``admin``, the public users of ``data/users.json`` and, for each
    department, an editor ``<slug>-steward``."""
    known = set(session.scalars(select(User.name)))
    if ADMIN_NAME not in known:
        users.create_user(session, actor, ADMIN_NAME, display_name="平台管理员", sysadmin=True)
        report.users += 1
    for spec in _read("users.json"):
        if spec["name"] not in known:
            users.create_user(session, actor, spec["name"], spec["display_name"], spec["email"])
            report.users += 1
    for department in session.scalars(select(Department).order_by(Department.slug)).all():
        name = f"{department.slug}-steward"
        if name in known:
            continue
        steward = users.create_user(
            session, actor, name, display_name=f"{department.name}数据管理员"
        )
        users.set_membership(session, actor, steward, department, Role.EDITOR)
        report.users += 1


def _load_synonyms(session: Session, actor: Actor, report: DemoReport) -> None:
    known = {tuple(sorted(s.terms)) for s in list_synonyms(session)}
    for terms in _read("synonyms.json"):
        if tuple(sorted(terms)) not in known:
            add_synonyms(session, actor, terms)
            report.synonyms += 1


def _load_dataset(
    session: Session,
    actor: Actor,
    stores: tuple[ObjectStore, RecordStore],
    site: Site,
    spec: dict,
    report: DemoReport,
) -> None:
    object_store, record_store = stores
    dataset = session.scalar(select(Dataset).where(Dataset.slug == spec["slug"]))
    if dataset is None:
        # The department provides its own data and answers questions about it, unless the
        # spec names another provider or contact.
        department = session.scalar(select(Department).where(Department.slug == spec["department"]))
        values = DatasetValues(
            slug=spec["slug"],
            title=spec["title"],
            title_en=spec.get("title_en", ""),
            description=spec.get("description", ""),
            department=spec["department"],
            themes=spec.get("themes", []),
            tags=spec.get("tags", []),
            license=spec.get("license"),
            resource_code=spec.get("resource_code"),
            open_type=spec["open_type"],
            open_condition=spec.get("open_condition", ""),
            share_type=spec["share_type"],
            share_condition=spec.get("share_condition", ""),
            share_method=spec.get("share_method", "file"),
            update_frequency=spec.get("update_frequency", "other"),
            release_date=_date(spec.get("release_date")),
            temporal_start=_date(spec.get("temporal_start")),
            temporal_end=_date(spec.get("temporal_end")),
            spatial=spec.get("spatial", ""),
            state=spec.get("state", "published"),
            provider=spec.get("provider", department.name),
            provider_code=spec.get("provider_code", department.code),
            contact_name=spec.get("contact_name", f"{department.name}数据管理员"),
            contact_email=spec.get("contact_email", department.contact_email),
            contact_phone=spec.get("contact_phone", department.contact_phone),
        )
        dataset = create_dataset(session, actor, values)
        report.datasets += 1
    for resource_spec in spec.get("resources", []):
        resource = find_resource(session, dataset, resource_spec["name"])
        if resource is None:
            resource = _add_resource(session, actor, object_store, site, dataset, resource_spec)
            report.resources += 1
            report.files += "fields" in resource_spec
        if "fields" in resource_spec and not record_store.exists(resource.id):
            _load_records(record_store, dataset, resource, resource_spec, report)
    _set_times(session, dataset, spec, site.reference_time)


def _set_times(session: Session, dataset: Dataset, spec: dict, reference: datetime) -> None:
    """Give the dataset, its resources and their files the demo's times, as long as only
    the demo has written to it (the dataset's creation, then one revision per resource)."""
    created = timeline.created_at(dataset.slug, date.fromisoformat(spec["release_date"]), reference)
    modified = timeline.modified_at(dataset.slug, dataset.update_frequency, created, reference)
    untouched = dataset.revision == 1 + len(dataset.resources)
    if not untouched or (dataset.created_at, dataset.modified_at) == (created, modified):
        return
    dataset.created_at, dataset.modified_at = created, modified
    for resource in dataset.resources:
        resource.created_at, resource.modified_at = created, modified
    versions = select(ResourceVersion).where(
        ResourceVersion.resource_id.in_([resource.id for resource in dataset.resources])
    )
    for version in session.scalars(versions):
        version.created_at = modified
    # The search document carries modified_at: have it written again.
    session.add(SearchOutbox(dataset_id=dataset.id))
    session.commit()


def _load_records(
    record_store: RecordStore, dataset: Dataset, resource: Resource, spec: dict, report: DemoReport
) -> None:
    """The generated file's rows into the record store: the same rows the file holds, as the
    generator gives them again for the same seed."""
    fields = [
        RecordField(f["name"], f["type"], f.get("title", ""), bool(f.get("sensitive", False)))
        for f in resource.fields
    ]
    rows = iter_rows(spec["fields"], spec["rows"], resource_seed(dataset.slug, spec["name"]))
    record_store.create(resource.id, fields)
    report.records += record_store.append(
        resource.id, ({"_id": number, **row} for number, row in enumerate(rows, start=1))
    )


def _add_resource(
    session: Session,
    actor: Actor,
    object_store: ObjectStore,
    site: Site,
    dataset: Dataset,
    spec: dict,
) -> Resource:
    file_format = spec["format"]
    if "fields" not in spec:
        department_site = site.department_sites[dataset.department.slug]
        values = ResourceValues(
            name=spec["name"],
            format=file_format,
            media_type=media_type_for(file_format),
            description=site.dataset_api_description if file_format == "API" else "",
            url=link_url(spec, dataset.slug, department_site, site.portal_url),
        )
        return add_resource(session, actor, object_store, dataset.slug, values)
    fields = [
        {
            "name": f["name"],
            "title": f.get("title", ""),
            "type": f.get("type", "text"),
            "sensitive": bool(f.get("sensitive", False)),
        }
        for f in spec["fields"]
    ]
    values = ResourceValues(
        name=spec["name"],
        format=file_format,
        media_type=media_type_for(file_format),
        fields=fields,
        row_count=spec["rows"],
    )
    extension = FILE_EXTENSIONS.get(file_format.upper())
    if extension is None:
        raise ValueError(f"datasets.json: the demo cannot generate {file_format} files")
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as content:
        write_resource_file(spec, resource_seed(dataset.slug, spec["name"]), content)
        content.seek(0)
        return add_resource(
            session, actor, object_store, dataset.slug, values, content, f"data.{extension}"
        )


def _load_grants(session: Session, actor: Actor, site: Site, report: DemoReport) -> None:
    """The grants of ``data/grants.json``: a department or a user given a dataset's data."""
    for spec in _read("grants.json"):
        if _holds_grant(session, spec):
            continue
        given = create_grant(
            session,
            actor,
            spec["dataset"],
            department=spec.get("department"),
            user=spec.get("user"),
            reason=spec["reason"],
        )
        granted_on = date.fromisoformat(spec["granted_on"])
        grant = session.get(Grant, given.id)
        grant.created_at = timeline.granted_at(granted_on, site.reference_time)
        session.commit()
        report.grants += 1


def _holds_grant(session: Session, spec: dict) -> bool:
    grantee = (
        Department.slug == spec["department"] if "department" in spec else User.name == spec["user"]
    )
    held = (
        select(Grant.id)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .outerjoin(Department, Department.id == Grant.department_id)
        .outerjoin(User, User.id == Grant.user_id)
        .where(Dataset.slug == spec["dataset"], grantee)
    )
    return session.scalar(held.limit(1)) is not None
