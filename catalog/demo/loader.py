"""Loads the demo catalog through the catalog's own services, so it is always valid.

Running it twice changes nothing: every department, theme, user, dataset and resource is
looked up by its slug or name first and only created when missing.
"""

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.demo.files import media_type_for, write_resource_file
from catalog.demo.values import iter_rows, resource_seed
from catalog.interfaces import ObjectStore, RecordField, RecordStore
from catalog.models import Dataset, Department, Resource, Theme, User
from catalog.policy import Actor
from catalog.services import users
from catalog.services.datasets import DatasetValues, create_dataset
from catalog.services.departments import (
    DepartmentValues,
    create_department,
    create_theme,
    ensure_licenses,
)
from catalog.services.resources import ResourceValues, add_resource, find_resource
from catalog.services.search import add_synonyms, list_synonyms
from catalog.vocab import Role

DATA = Path(__file__).parent / "data"
ADMIN_NAME = "admin"
FILE_EXTENSIONS = {"CSV": "csv", "XLSX": "xlsx", "GEOJSON": "geojson"}
# Generated files are spooled in memory up to this size, then on disk.
SPOOL_BYTES = 8 * 1024 * 1024


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

    def summary(self) -> str:
        if not any(vars(self).values()):
            return "Demo catalog already loaded; nothing changed."
        return (
            f"Demo catalog loaded: {self.departments} departments, {self.themes} themes, "
            f"{self.users} users, {self.synonyms} synonym sets, {self.datasets} datasets, "
            f"{self.resources} resources "
            f"({self.files} generated files), {self.records} records."
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
    ensure_licenses(session)
    session.commit()
    _load_themes(session, actor, report)
    _load_departments(session, actor, report)
    _load_users(session, actor, report)
    _load_synonyms(session, actor, report)
    specs = _read("datasets.json")
    for position, spec in enumerate(specs, start=1):
        _load_dataset(session, actor, object_store, record_store, spec, report)
        if position % 50 == 0:
            progress(f"  {position}/{len(specs)} datasets")
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
            create_department(session, actor, DepartmentValues(**spec))
            report.departments += 1


def _load_users(session: Session, actor: Actor, report: DemoReport) -> None:
    """The sysadmin ``admin`` and, for each department, an editor ``<slug>-steward``."""
    known = set(session.scalars(select(User.name)))
    if ADMIN_NAME not in known:
        users.create_user(session, actor, ADMIN_NAME, display_name="平台管理员", sysadmin=True)
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
    object_store: ObjectStore,
    record_store: RecordStore,
    spec: dict,
    report: DemoReport,
) -> None:
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
            resource = _add_resource(session, actor, object_store, dataset, resource_spec, report)
        if "fields" in resource_spec and not record_store.exists(resource.id):
            _load_records(record_store, dataset, resource, resource_spec, report)


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
    dataset: Dataset,
    spec: dict,
    report: DemoReport,
) -> Resource:
    file_format = spec["format"]
    if "url" in spec:
        values = ResourceValues(name=spec["name"], format=file_format, url=spec["url"])
        report.resources += 1
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
        resource = add_resource(
            session, actor, object_store, dataset.slug, values, content, f"data.{extension}"
        )
    report.resources += 1
    report.files += 1
    return resource
