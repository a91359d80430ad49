"""Departments, themes and licences: the catalog's reference data."""

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.errors import Forbidden, InvalidInput, NotFound
from catalog.models import Dataset, Department, License, Theme
from catalog.policy import Actor, can_manage_catalog, visible_clause
from catalog.services.audit import department_snapshot, record_event

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")

LICENSES = (
    ("gov-open", "政府数据开放许可协议", "Government open data licence", ""),
    (
        "cc-by-4.0",
        "知识共享署名 4.0 国际",
        "Creative Commons Attribution 4.0",
        "https://creativecommons.org/licenses/by/4.0/",
    ),
    (
        "cc0-1.0",
        "知识共享零 1.0 公共领域贡献",
        "CC0 1.0 Public Domain Dedication",
        "https://creativecommons.org/publicdomain/zero/1.0/",
    ),
    (
        "odc-by-1.0",
        "开放数据共享署名许可 1.0",
        "Open Data Commons Attribution 1.0",
        "https://opendatacommons.org/licenses/by/1-0/",
    ),
)


@dataclass(frozen=True)
class DepartmentValues:
    slug: str
    name: str
    code: str
    name_en: str = ""
    description: str = ""
    contact_email: str = ""
    contact_phone: str = ""


@dataclass(frozen=True)
class DepartmentSummary:
    department: Department
    dataset_count: int  # datasets the caller may see


def ensure_licenses(session: Session) -> None:
    """Insert the standard licences that are missing (idempotent)."""
    known = set(session.scalars(select(License.id)))
    for license_id, title, title_en, url in LICENSES:
        if license_id not in known:
            session.add(License(id=license_id, title=title, title_en=title_en, url=url))
    session.flush()


def list_licenses(session: Session) -> list[License]:
    return list(session.scalars(select(License).order_by(License.id)))


def list_themes(session: Session) -> list[Theme]:
    return list(session.scalars(select(Theme).order_by(Theme.slug)))


def create_theme(session: Session, actor: Actor, slug: str, name: str, name_en: str = "") -> Theme:
    if not can_manage_catalog(actor):
        raise Forbidden("Only sysadmins create themes.")
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput({"slug": ["Use lower-case letters, digits and '-'."]})
    theme = Theme(slug=slug, name=name, name_en=name_en)
    session.add(theme)
    session.flush()
    after = {"slug": slug, "name": name, "name_en": name_en}
    record_event(session, actor, "theme.create", "theme", theme.id, None, after)
    session.commit()
    return theme


def get_department(session: Session, slug_or_id: str) -> Department:
    department = session.scalar(
        select(Department).where((Department.slug == slug_or_id) | (Department.id == slug_or_id))
    )
    if department is None:
        raise NotFound(f"No department {slug_or_id!r}.")
    return department


def get_department_summary(session: Session, actor: Actor, slug_or_id: str) -> DepartmentSummary:
    department = get_department(session, slug_or_id)
    count = session.scalar(
        select(func.count())
        .select_from(Dataset)
        .where(Dataset.department_id == department.id, visible_clause(actor, Dataset))
    )
    return DepartmentSummary(department, count or 0)


def list_departments(session: Session, actor: Actor) -> list[DepartmentSummary]:
    """All departments (their existence is public) with the count of datasets the actor sees."""
    counts = dict(
        session.execute(
            select(Dataset.department_id, func.count())
            .where(visible_clause(actor, Dataset))
            .group_by(Dataset.department_id)
        ).all()
    )
    departments = session.scalars(select(Department).order_by(Department.code)).all()
    return [DepartmentSummary(d, counts.get(d.id, 0)) for d in departments]


def create_department(session: Session, actor: Actor, values: DepartmentValues) -> Department:
    if not can_manage_catalog(actor):
        raise Forbidden("Only sysadmins create departments.")
    errors: dict[str, list[str]] = {}
    if not SLUG_PATTERN.match(values.slug):
        errors["slug"] = ["Use lower-case letters, digits and '-'."]
    elif session.scalar(select(Department.id).where(Department.slug == values.slug)):
        errors["slug"] = [f"The slug {values.slug!r} is taken."]
    if session.scalar(select(Department.id).where(Department.code == values.code)):
        errors["code"] = [f"The code {values.code!r} is taken."]
    if not values.name.strip():
        errors["name"] = ["A department needs a name."]
    if errors:
        raise InvalidInput(errors)
    department = Department(**values.__dict__)
    session.add(department)
    session.flush()
    record_event(
        session,
        actor,
        "department.create",
        "department",
        department.id,
        None,
        department_snapshot(department),
    )
    session.commit()
    return department
