"""Test data made through the real services, so it is always valid catalog data."""

import io
import itertools
from datetime import timedelta

from sqlalchemy.orm import Session

from catalog.models import Dataset, Department, Grant, User
from catalog.policy import Actor
from catalog.services import users
from catalog.services.datasets import DatasetValues, create_dataset
from catalog.services.departments import DepartmentValues, create_department
from catalog.services.resources import ResourceValues, add_resource
from catalog.vocab import Role, TokenScope

SYSTEM = Actor(name="tests", sysadmin=True)
_numbers = itertools.count(1)


def make_department(session: Session, slug: str | None = None, name: str = "") -> Department:
    number = next(_numbers)
    slug = slug or f"dept-{number}"
    return create_department(
        session,
        SYSTEM,
        DepartmentValues(
            slug=slug,
            name=name or f"测试部门{number}",
            code=f"11440604TEST{number:06d}",
        ),
    )


def make_user(
    session: Session,
    name: str | None = None,
    department: Department | None = None,
    role: Role = Role.MEMBER,
    sysadmin: bool = False,
    password: str | None = None,
) -> User:
    user = users.create_user(
        session, SYSTEM, name or f"user-{next(_numbers)}", sysadmin=sysadmin, password=password
    )
    if department is not None:
        users.set_membership(session, SYSTEM, user, department, role)
    return user


def make_dataset(
    session: Session,
    department: Department,
    slug: str | None = None,
    title: str | None = None,
    open_type: str = "unconditional",
    share_type: str = "unconditional",
    state: str = "published",
    **values,
) -> Dataset:
    number = next(_numbers)
    return create_dataset(
        session,
        SYSTEM,
        DatasetValues(
            slug=slug or f"dataset-{number}",
            title=title or f"测试数据集{number}",
            department=department.slug,
            open_type=open_type,
            share_type=share_type,
            state=state,
            **values,
        ),
    )


# Grant rows written as they are, not through catalog.services.grants: the policy tests
# also hold grants the service refuses (on closed or draft datasets), which must open nothing.
def grant_to_user(session: Session, dataset: Dataset, user: User, days: float = 30) -> Grant:
    return _grant(session, Grant(dataset_id=dataset.id, user_id=user.id, expires_at=_in(days)))


def grant_to_department(
    session: Session, dataset: Dataset, department: Department, days: float = 30
) -> Grant:
    return _grant(
        session, Grant(dataset_id=dataset.id, department_id=department.id, expires_at=_in(days))
    )


def _grant(session: Session, grant: Grant) -> Grant:
    session.add(grant)
    session.commit()
    return grant


def _in(days: float):
    from catalog.models import utcnow

    return utcnow() + timedelta(days=days)


def token_for(
    session: Session,
    user: User,
    scopes: frozenset[TokenScope] = frozenset({TokenScope.READ, TokenScope.WRITE}),
) -> str:
    _row, text = users.create_token(session, SYSTEM, user, scopes=scopes)
    return text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_table(
    session: Session, backends, dataset: Dataset, fields, records=(), name="禅城区学生名册"
):
    """A CSV resource of ``dataset`` whose records (only ``fields``' values of each) are in
    the record store, as an import leaves it."""
    resource = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        dataset.slug,
        ResourceValues(name=name, format="CSV", fields=[vars(f) for f in fields]),
        io.BytesIO(b"name\n"),
        "data.csv",
    )
    backends.record_store.create(resource.id, fields)
    names = {"_id"} | {f.name for f in fields}
    backends.record_store.append(
        resource.id, ({k: v for k, v in row.items() if k in names} for row in records)
    )
    return resource
