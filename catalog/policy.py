"""The access policy: the one place that decides who may see and change what.

Every path asks it: pages, REST, search, downloads. Visibility is expressed as *labels*:
a dataset carries the labels of those who may see it, an actor holds labels, and access
is granted when the two meet. The same rules are also rendered as a SQL clause so lists
and counts are filtered inside the query, never after it.

| dataset                     | the public             | other departments                   |
|-----------------------------|------------------------|-------------------------------------|
| 无条件开放                   | metadata + data        | metadata + data                     |
| 有条件开放                   | metadata; data w/grant | metadata; data w/grant or by share  |
| 不予开放 + 无条件共享         | nothing (404)          | metadata + data                     |
| 不予开放 + 有条件共享         | nothing (404)          | metadata; data with a grant         |
| 不予开放 + 不予共享           | nothing (404)          | nothing (404)                       |

The owning department always sees its datasets (drafts and withdrawn ones only it sees)
and their sensitive fields unmasked; its editors and admins change them; sysadmins may
do anything.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, and_, or_, true

from catalog.errors import Forbidden, NotFound, Unauthorized
from catalog.vocab import DatasetState, OpenType, Role, ShareType


class Action(StrEnum):
    VIEW = "view"  # see the dataset's metadata
    READ_DATA = "read_data"  # fetch its files and records
    EDIT = "edit"
    DELETE = "delete"
    # See sensitive fields (ID numbers, phone numbers, names) unmasked.
    READ_SENSITIVE = "read_sensitive"


# Which open and share types let the public / other departments see metadata and data.
METADATA_OPEN = frozenset({OpenType.UNCONDITIONAL, OpenType.CONDITIONAL})
DATA_OPEN = frozenset({OpenType.UNCONDITIONAL})
METADATA_SHARED = frozenset({ShareType.UNCONDITIONAL, ShareType.CONDITIONAL})
DATA_SHARED = frozenset({ShareType.UNCONDITIONAL})
EDITING_ROLES = frozenset({Role.EDITOR, Role.ADMIN})

PUBLIC_LABEL = "public"
GOVERNMENT_LABEL = "gov"


def department_label(department_id: str) -> str:
    return f"dept:{department_id}"


def grant_label(dataset_id: str) -> str:
    return f"grant:{dataset_id}"


class DatasetLike(Protocol):
    """What the policy reads of a dataset (an ORM row or a search document)."""

    id: str
    department_id: str
    state: str
    open_type: str
    share_type: str


@dataclass(frozen=True)
class Actor:
    """Who is asking: built once per request from the user, memberships and live grants."""

    user_id: str | None = None
    name: str = ""
    sysadmin: bool = False
    roles: dict[str, Role] = field(default_factory=dict)  # department id -> role
    granted_dataset_ids: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset({"read", "write"})

    @classmethod
    def anonymous(cls) -> "Actor":
        return cls(scopes=frozenset({"read"}))

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_government(self) -> bool:
        return bool(self.roles)

    @property
    def department_ids(self) -> frozenset[str]:
        return frozenset(self.roles)

    def role_in(self, department_id: str) -> Role | None:
        return self.roles.get(department_id)


def actor_labels(actor: Actor) -> frozenset[str]:
    labels = {PUBLIC_LABEL}
    if actor.is_government:
        labels.add(GOVERNMENT_LABEL)
    labels.update(department_label(d) for d in actor.roles)
    labels.update(grant_label(d) for d in actor.granted_dataset_ids)
    return frozenset(labels)


def _labels(dataset: DatasetLike, open_types: Collection, share_types: Collection):
    labels = {department_label(dataset.department_id)}
    if dataset.state == DatasetState.PUBLISHED:
        labels.add(grant_label(dataset.id))
        if dataset.open_type in open_types:
            labels.add(PUBLIC_LABEL)
        if dataset.share_type in share_types:
            labels.add(GOVERNMENT_LABEL)
    return frozenset(labels)


def metadata_labels(dataset: DatasetLike) -> frozenset[str]:
    """Labels of those who may see the dataset's metadata (indexed on search documents)."""
    return _labels(dataset, METADATA_OPEN, METADATA_SHARED)


def data_labels(dataset: DatasetLike) -> frozenset[str]:
    """Labels of those who may fetch the dataset's data."""
    return _labels(dataset, DATA_OPEN, DATA_SHARED)


WRITE_ACTIONS = frozenset({Action.EDIT, Action.DELETE})


def can(actor: Actor, action: Action, dataset: DatasetLike) -> bool:
    # A read-only token reads, whoever holds it (a sysadmin included).
    if action in WRITE_ACTIONS and "write" not in actor.scopes:
        return False
    if actor.sysadmin:
        return True
    match action:
        case Action.VIEW:
            return bool(metadata_labels(dataset) & actor_labels(actor))
        case Action.READ_DATA:
            return bool(data_labels(dataset) & actor_labels(actor))
        case Action.READ_SENSITIVE:
            return actor.role_in(dataset.department_id) is not None
        case Action.EDIT | Action.DELETE:
            return actor.role_in(dataset.department_id) in EDITING_ROLES
    raise ValueError(f"unknown action {action!r}")


def require(actor: Actor, action: Action, dataset: DatasetLike) -> None:
    """Raise NotFound to those who may not know the dataset exists, Forbidden to the rest."""
    if not can(actor, Action.VIEW, dataset):
        raise NotFound("Dataset not found.")
    if not can(actor, action, dataset):
        if action in WRITE_ACTIONS and not actor.is_authenticated:
            raise Unauthorized("Log in (or send a bearer token) to change datasets.")
        raise Forbidden(_refusal(actor, action, dataset))


def _refusal(actor: Actor, action: Action, dataset: DatasetLike) -> str:
    if action == Action.READ_DATA:
        if dataset.open_type == OpenType.CONDITIONAL:
            return (
                "This dataset's data is open on conditions: apply to its department for "
                "access. 本数据为有条件开放，请向数据提供部门申请。"
            )
        return (
            "This dataset's data is shared on conditions: apply to its department for "
            "access. 本数据为有条件共享，请向数据提供部门申请。"
        )
    if action == Action.READ_SENSITIVE:
        return "Only the owning department sees this dataset's sensitive fields unmasked."
    if "write" not in actor.scopes:
        return "This token may only read; use a token with the write scope."
    return "Only editors and admins of the owning department may change this dataset."


def can_create_dataset(actor: Actor, department_id: str) -> bool:
    if "write" not in actor.scopes:
        return False
    return actor.sysadmin or actor.role_in(department_id) in EDITING_ROLES


def require_create_dataset(actor: Actor, department_id: str, refusal: str) -> None:
    """Raise Unauthorized to anonymous callers and Forbidden, with ``refusal``, to the rest
    who may not create datasets in (or move datasets into) the department."""
    if can_create_dataset(actor, department_id):
        return
    if not actor.is_authenticated:
        raise Unauthorized("Log in (or send a bearer token) to change datasets.")
    if "write" not in actor.scopes:
        raise Forbidden("This token may only read; use a token with the write scope.")
    raise Forbidden(refusal)


def may_be_granted(dataset: DatasetLike, to_government: bool) -> bool:
    """Whether a grant opens the dataset's data: 有条件开放 data to anyone it names,
    有条件共享 data to departments and their members. A grant never opens what the rules
    keep closed (不予开放 to the public, 不予共享 to other departments)."""
    if dataset.open_type == OpenType.CONDITIONAL:
        return True
    return to_government and dataset.share_type == ShareType.CONDITIONAL


def can_manage_department(actor: Actor, department_id: str) -> bool:
    """Change the department itself, its members and its grants."""
    return "write" in actor.scopes and can_view_grants(actor, department_id)


def can_view_grants(actor: Actor, department_id: str) -> bool:
    """See who holds grants on a department's datasets: its admins and sysadmins."""
    return actor.sysadmin or actor.role_in(department_id) == Role.ADMIN


def require_grants(actor: Actor, dataset: DatasetLike, *, manage: bool = False) -> None:
    """Raise NotFound to those who may not see the dataset, Unauthorized to anonymous
    callers and Forbidden to the rest who may not list (or, with ``manage``, give and
    revoke) its grants: that is the owning department's admins' and sysadmins' work."""
    if not can(actor, Action.VIEW, dataset):
        raise NotFound("Dataset not found.")
    if not can_view_grants(actor, dataset.department_id):
        if not actor.is_authenticated:
            raise Unauthorized("Log in (or send a bearer token) to manage access to data.")
        raise Forbidden("Only admins of the owning department manage access to its data.")
    if manage and not can_manage_department(actor, dataset.department_id):
        raise Forbidden("This token may only read; use a token with the write scope.")


def can_manage_catalog(actor: Actor) -> bool:
    """Create departments, themes and users: the sysadmin's work."""
    return actor.sysadmin and "write" in actor.scopes


def can_view_harvests(actor: Actor, department_id: str) -> bool:
    """See a department's harvest sources and job reports: its members and sysadmins."""
    return actor.sysadmin or actor.role_in(department_id) is not None


def can_manage_harvests(actor: Actor, department_id: str) -> bool:
    """Add, change and switch off a department's harvest sources, run and cancel their jobs:
    its stewards (editors and admins) and sysadmins, with a write token."""
    if "write" not in actor.scopes:
        return False
    return actor.sysadmin or actor.role_in(department_id) in EDITING_ROLES


def require_harvests(
    actor: Actor, department_id: str, *, manage: bool = False, thing: str = "Harvest source"
) -> None:
    """Raise NotFound to those who may not see the department's harvest sources or jobs
    (they stay hidden, as hidden datasets do), and Forbidden to members who may read but
    not manage them."""
    if not can_view_harvests(actor, department_id):
        raise NotFound(f"{thing} not found.")
    if manage and not can_manage_harvests(actor, department_id):
        if "write" not in actor.scopes:
            raise Forbidden("This token may only read; use a token with the write scope.")
        raise Forbidden("Only editors and admins of the department manage its harvest sources.")


def harvest_clause(actor: Actor, department_column) -> ColumnElement[bool]:
    """SQL form of ``can_view_harvests`` for filtering sources and jobs inside a query."""
    if actor.sysadmin:
        return true()
    return department_column.in_(sorted(actor.roles))


def visible_clause(actor: Actor, dataset_table) -> ColumnElement[bool]:
    """SQL form of ``can(actor, Action.VIEW, dataset)`` for filtering inside a query."""
    return _clause(actor, dataset_table, METADATA_OPEN, METADATA_SHARED)


def data_clause(actor: Actor, dataset_table) -> ColumnElement[bool]:
    """SQL form of ``can(actor, Action.READ_DATA, dataset)``."""
    return _clause(actor, dataset_table, DATA_OPEN, DATA_SHARED)


def _clause(actor: Actor, t, open_types, share_types) -> ColumnElement[bool]:
    if actor.sysadmin:
        return true()
    published_ways = [t.open_type.in_(sorted(open_types))]
    if actor.is_government:
        published_ways.append(t.share_type.in_(sorted(share_types)))
    if actor.granted_dataset_ids:
        published_ways.append(t.id.in_(sorted(actor.granted_dataset_ids)))
    ways = [and_(t.state == DatasetState.PUBLISHED.value, or_(*published_ways))]
    if actor.roles:
        ways.append(t.department_id.in_(sorted(actor.roles)))
    return or_(*ways)
