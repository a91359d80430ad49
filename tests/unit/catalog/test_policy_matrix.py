"""The access-policy matrix: every kind of caller x every open/share type x every action.

EXPECTED is written out by hand from the access table of ARCHITECTURE.md; nothing in it is
computed by the policy. The world is built through the real services on every database, and
each check walks the whole matrix, collecting every wrong cell into one failure message so a
failure names each cell as ``caller-dataset-action``.

tests/functional/test_policy_http.py walks the same table through HTTP.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import Forbidden, NotFound, Unauthorized
from catalog.models import Dataset, Department, User, utcnow
from catalog.policy import Action, Actor, can, data_clause, require, visible_clause
from catalog.services import search
from catalog.services.datasets import withdraw_dataset
from catalog.services.search import index_pending, suggest_titles
from catalog.services.search import search_datasets as index_search
from catalog.services.users import actor_for_user
from catalog.vocab import Role
from tests.factories import (
    SYSTEM,
    grant_to_department,
    grant_to_user,
    make_dataset,
    make_department,
    make_user,
)

# --- the expected matrix ----------------------------------------------------------------------

CALLERS = (
    "anonymous",  # no user at all
    "public",  # logged in, member of no department
    "other_member",  # member of another department (a government user)
    "grant_holder",  # logged-in public user holding a live grant on each dataset
    "expired_grant",  # logged-in public user whose grants on each dataset have expired
    "department_grant",  # member of a third department that holds grants on a few datasets
    "owning_member",  # role member in the owning department
    "editor",  # role editor in the owning department
    "admin",  # role admin in the owning department
    "sysadmin",
)

OPEN_TYPES = ("unconditional", "conditional", "not_open")
SHARE_TYPES = ("unconditional", "conditional", "not_shared")
PUBLISHED_KEYS = tuple(f"{o}/{s}" for o in OPEN_TYPES for s in SHARE_TYPES)
# The draft and the withdrawn dataset are unconditional/unconditional, the widest types, so
# that only their state can hide them.
DATASET_KEYS = (*PUBLISHED_KEYS, "draft", "withdrawn")

# The department_grant caller's department holds live grants on these datasets, and a grant
# that has expired on "conditional/not_shared".
DEPARTMENT_GRANTED = ("conditional/conditional", "not_open/conditional", "not_open/not_shared")
DEPARTMENT_GRANT_EXPIRED = "conditional/not_shared"

# The four actions of the matrix (the policy may know more, such as unmasking sensitive fields).
ACTIONS = (Action.VIEW, Action.READ_DATA, Action.EDIT, Action.DELETE)
NONE: frozenset[Action] = frozenset()
META = frozenset({Action.VIEW})
SEE = frozenset({Action.VIEW, Action.READ_DATA})
ALL = frozenset(ACTIONS)


# One row per dataset, one column per caller in the order of CALLERS:
# anon = anonymous, publ = public, other = other_member, grant = grant_holder,
# expd = expired_grant, dgrt = department_grant, owner = owning_member.
# fmt: off
_TABLE: dict[str, tuple[frozenset[Action], ...]] = {
    #                               anon  publ  other grant expd  dgrt  owner edit  admin sys
    "unconditional/unconditional": (SEE,  SEE,  SEE,  SEE,  SEE,  SEE,  SEE,  ALL,  ALL,  ALL),
    "unconditional/conditional":   (SEE,  SEE,  SEE,  SEE,  SEE,  SEE,  SEE,  ALL,  ALL,  ALL),
    "unconditional/not_shared":    (SEE,  SEE,  SEE,  SEE,  SEE,  SEE,  SEE,  ALL,  ALL,  ALL),
    # 有条件开放: metadata for all; data with a grant, or for departments by a wider share type.
    "conditional/unconditional":   (META, META, SEE,  SEE,  META, SEE,  SEE,  ALL,  ALL,  ALL),
    "conditional/conditional":     (META, META, META, SEE,  META, SEE,  SEE,  ALL,  ALL,  ALL),
    "conditional/not_shared":      (META, META, META, SEE,  META, META, SEE,  ALL,  ALL,  ALL),
    # 不予开放: nothing for the public, grant or not; departments by share type, and a
    # department's grant opens 有条件共享 data; 不予共享 stays with the owner, grant or not.
    "not_open/unconditional":      (NONE, NONE, SEE,  NONE, NONE, SEE,  SEE,  ALL,  ALL,  ALL),
    "not_open/conditional":        (NONE, NONE, META, NONE, NONE, SEE,  SEE,  ALL,  ALL,  ALL),
    "not_open/not_shared":         (NONE, NONE, NONE, NONE, NONE, NONE, SEE,  ALL,  ALL,  ALL),
    # Drafts and withdrawn datasets: the owning department and sysadmins only, grants or not.
    "draft":                       (NONE, NONE, NONE, NONE, NONE, NONE, SEE,  ALL,  ALL,  ALL),
    "withdrawn":                   (NONE, NONE, NONE, NONE, NONE, NONE, SEE,  ALL,  ALL,  ALL),
}
# fmt: on
EXPECTED: dict[str, dict[str, frozenset[Action]]] = {
    key: dict(zip(CALLERS, cells, strict=True)) for key, cells in _TABLE.items()
}


def cell_id(caller: str, key: str, action: Action | str) -> str:
    return f"{caller}-{key}-{action}"


def expected_visible(caller: str) -> set[str]:
    return {key for key in DATASET_KEYS if Action.VIEW in EXPECTED[key][caller]}


# --- the world: departments, users, grants and the eleven datasets -----------------------------

# Short grants expire after a day; actors are built two days on, when the 30-day ones live on.
SHORT_GRANT_DAYS = 1
LONG_GRANT_DAYS = 30
ACTOR_CLOCK_OFFSET = timedelta(days=2)


@dataclass
class World:
    owner: Department
    other: Department
    granted: Department  # the department_grant caller's department
    users: dict[str, User | None]  # caller -> user; None for anonymous
    datasets: dict[str, Dataset]  # dataset key -> dataset
    short_grant_ids: list[str]  # grants meant to have expired

    def key_of(self, dataset_id: str) -> str:
        return next(k for k, d in self.datasets.items() if d.id == dataset_id)

    def keys_of(self, dataset_ids) -> set[str]:
        return {self.key_of(i) for i in dataset_ids}


def build_world(session: Session) -> World:
    """Three departments, one user per kind of caller, and the eleven datasets with grants."""
    owner = make_department(session, slug="owner", name="禅城区数据拥有局")
    other = make_department(session, slug="other", name="禅城区其他部门局")
    granted = make_department(session, slug="granted", name="禅城区获授权局")
    users: dict[str, User | None] = {
        "anonymous": None,
        "public": make_user(session, name="public"),
        "other_member": make_user(session, name="other-member", department=other),
        "grant_holder": make_user(session, name="grant-holder"),
        "expired_grant": make_user(session, name="expired-grant"),
        "department_grant": make_user(session, name="department-grant", department=granted),
        "owning_member": make_user(session, name="owning-member", department=owner),
        "editor": make_user(session, name="editor", department=owner, role=Role.EDITOR),
        "admin": make_user(session, name="admin", department=owner, role=Role.ADMIN),
        "sysadmin": make_user(session, name="sysadmin", sysadmin=True),
    }
    datasets: dict[str, Dataset] = {}
    for key in PUBLISHED_KEYS:
        open_type, share_type = key.split("/")
        slug = f"{open_type}-{share_type}".replace("_", "-")
        datasets[key] = make_dataset(
            session,
            owner,
            slug=slug,
            title=f"数据集 {key}",
            open_type=open_type,
            share_type=share_type,
        )
    datasets["draft"] = make_dataset(
        session, owner, slug="draft", title="草稿数据集", state="draft"
    )
    # Withdrawn after its grants were given: the grants must not keep it visible.
    datasets["withdrawn"] = make_dataset(session, owner, slug="withdrawn", title="已撤回数据集")

    short_grant_ids = []
    for key, dataset in datasets.items():
        grant_to_user(session, dataset, users["grant_holder"], days=LONG_GRANT_DAYS)
        short = grant_to_user(session, dataset, users["expired_grant"], days=SHORT_GRANT_DAYS)
        short_grant_ids.append(short.id)
        if key in (*DEPARTMENT_GRANTED, "draft", "withdrawn"):
            grant_to_department(session, dataset, granted, days=LONG_GRANT_DAYS)
    short = grant_to_department(
        session, datasets[DEPARTMENT_GRANT_EXPIRED], granted, days=SHORT_GRANT_DAYS
    )
    short_grant_ids.append(short.id)
    withdraw_dataset(session, SYSTEM, "withdrawn")
    return World(owner, other, granted, users, datasets, short_grant_ids)


def actors_at(session: Session, world: World, now: datetime) -> dict[str, Actor]:
    """Each caller's actor as catalog.services.users builds it at ``now``."""
    return {
        caller: Actor.anonymous() if user is None else actor_for_user(session, user, now=now)
        for caller, user in world.users.items()
    }


@pytest.fixture
def world(session) -> World:
    return build_world(session)


@pytest.fixture
def actors(session, world) -> dict[str, Actor]:
    return actors_at(session, world, utcnow() + ACTOR_CLOCK_OFFSET)


def _report(wrong: list[str], checked: int) -> str:
    return f"{len(wrong)} mismatches in {checked} cells checked:\n  " + "\n  ".join(wrong)


# --- the table itself -----------------------------------------------------------------------


def test_expected_table_covers_every_cell():
    assert set(EXPECTED) == set(DATASET_KEYS)
    assert len(PUBLISHED_KEYS) == 9
    for key, row in EXPECTED.items():
        assert tuple(row) == CALLERS, key
        for caller, allowed in row.items():
            # Editing never comes without seeing, nor data without metadata.
            assert allowed in (NONE, META, SEE, ALL), cell_id(caller, key, "*")


def test_the_world_is_as_the_table_assumes(session, world, actors):
    assert world.datasets["draft"].state == "draft"
    assert world.datasets["withdrawn"].state == "withdrawn"
    datasets = world.datasets
    # Every dataset has grant rows, but an actor holds only those the rules leave to grants:
    # 有条件开放 ones for a public user, 有条件共享 ones too for a department.
    open_on_conditions = {
        datasets[key].id
        for key in (
            "conditional/unconditional",
            "conditional/conditional",
            "conditional/not_shared",
        )
    }
    assert actors["grant_holder"].granted_dataset_ids == open_on_conditions
    assert actors["expired_grant"].granted_dataset_ids == frozenset()
    assert actors["department_grant"].granted_dataset_ids == {
        datasets[key].id for key in ("conditional/conditional", "not_open/conditional")
    }
    assert actors["anonymous"].user_id is None
    assert not actors["public"].is_government
    assert actors["other_member"].roles == {world.other.id: Role.MEMBER}
    assert actors["owning_member"].roles == {world.owner.id: Role.MEMBER}
    assert actors["sysadmin"].sysadmin and not actors["sysadmin"].roles
    # The expired_grant caller is only a meaningful case if its grants once gave access.
    before_expiry = actors_at(session, world, utcnow())
    assert before_expiry["expired_grant"].granted_dataset_ids == open_on_conditions
    assert can(before_expiry["expired_grant"], Action.READ_DATA, datasets["conditional/not_shared"])
    assert can(
        before_expiry["department_grant"], Action.READ_DATA, datasets[DEPARTMENT_GRANT_EXPIRED]
    )


# --- the policy, cell by cell ---------------------------------------------------------------


def test_can_agrees_with_the_table(world, actors):
    wrong = []
    checked = 0
    for caller, actor in actors.items():
        for key, dataset in world.datasets.items():
            for action in ACTIONS:
                checked += 1
                expected = action in EXPECTED[key][caller]
                if can(actor, action, dataset) != expected:
                    wrong.append(f"{cell_id(caller, key, action)}: expected {expected}")
    assert checked == len(CALLERS) * len(DATASET_KEYS) * len(ACTIONS) == 440
    assert not wrong, _report(wrong, checked)


def test_require_hides_the_invisible_and_forbids_the_rest(world, actors):
    """NotFound for those who may not see the dataset, Forbidden for those who see it
    (Unauthorized for anonymous writes)."""
    wrong = []
    checked = 0
    for caller, actor in actors.items():
        for key, dataset in world.datasets.items():
            allowed = EXPECTED[key][caller]
            for action in ACTIONS:
                checked += 1
                if Action.VIEW not in allowed:
                    expected = NotFound
                elif action not in allowed:
                    # Those with no credentials are asked to log in before changing anything.
                    writes = action in (Action.EDIT, Action.DELETE)
                    expected = Unauthorized if writes and caller == "anonymous" else Forbidden
                else:
                    expected = None
                try:
                    require(actor, action, dataset)
                    raised = None
                except (NotFound, Forbidden, Unauthorized) as error:
                    raised = type(error)
                    if not error.message:
                        wrong.append(f"{cell_id(caller, key, action)}: empty message")
                if raised is not expected:
                    name = expected.__name__ if expected else "nothing"
                    got = raised.__name__ if raised else "nothing"
                    wrong.append(f"{cell_id(caller, key, action)}: expected {name}, got {got}")
    assert not wrong, _report(wrong, checked)
    # Refused conditional data tells the caller to apply for it.
    with pytest.raises(Forbidden, match="申请"):
        require(actors["public"], Action.READ_DATA, world.datasets["conditional/conditional"])


# --- the SQL clauses and the search agree with can() -------------------------------------------


def test_sql_clauses_agree_with_can(session, world, actors):
    wrong = []
    checked = 0
    for caller, actor in actors.items():
        for action, clause in ((Action.VIEW, visible_clause), (Action.READ_DATA, data_clause)):
            found = world.keys_of(session.scalars(select(Dataset.id).where(clause(actor, Dataset))))
            by_can = {k for k, d in world.datasets.items() if can(actor, action, d)}
            by_table = {k for k in DATASET_KEYS if action in EXPECTED[k][caller]}
            for key in DATASET_KEYS:
                checked += 1
                if (key in found) != (key in by_can):
                    wrong.append(
                        f"{cell_id(caller, key, action)}: SQL {key in found}, can() {key in by_can}"
                    )
                if (key in found) != (key in by_table):
                    wrong.append(
                        f"{cell_id(caller, key, action)}: SQL {key in found}, "
                        f"table {key in by_table}"
                    )
    assert checked == len(CALLERS) * len(DATASET_KEYS) * 2
    assert not wrong, _report(wrong, checked)


def _search_mismatches(world: World, caller: str, page, filtered) -> list[str]:
    """What a search page (and one filtered on open_type=not_open) got wrong for the caller."""
    wrong = []
    visible = expected_visible(caller)
    found = world.keys_of(d.id for d in page.items)
    if found != visible:
        wrong.append(f"{caller}: items {sorted(found ^ visible)} differ from the table")
    if page.total != len(visible):
        wrong.append(f"{caller}: total {page.total}, expected {len(visible)}")
    seen = [world.datasets[k] for k in visible]
    expected_facets = {
        "open_type": Counter(d.open_type for d in seen),
        "share_type": Counter(d.share_type for d in seen),
        "department": Counter("owner" for _ in seen),
    }
    for param, expected in expected_facets.items():
        counted = {f.value: f.count for f in page.facets[param]}
        if counted != dict(expected):
            wrong.append(f"{caller}: facet {param} {counted}, expected {dict(expected)}")
    for param, counts in page.facets.items():
        if any(f.count > page.total for f in counts):
            wrong.append(f"{caller}: facet {param} counts more than the total")
    # A filter counts inside the visible set too, never the hidden datasets of that value.
    not_open = {k for k in visible if k.startswith("not_open/")}
    if world.keys_of(d.id for d in filtered.items) != not_open or filtered.total != len(not_open):
        wrong.append(f"{caller}: open_type=not_open finds {filtered.total} datasets")
    return wrong


NOT_OPEN_ONLY = {"open_type": ["not_open"]}


def test_index_search_shows_and_counts_only_visible_datasets(session, backends, world, actors):
    """catalog.services.search: the search index, filtered on the policy's labels."""
    index = backends.catalog_index
    while index_pending(session, index):
        pass
    wrong = []
    for caller, actor in actors.items():
        page = index_search(session, index, actor, search.DatasetQuery(per_page=100))
        filtered = index_search(
            session, index, actor, search.DatasetQuery(filters=NOT_OPEN_ONLY, per_page=100)
        )
        wrong += _search_mismatches(world, caller, page, filtered)
        visible_titles = {world.datasets[k].title for k in expected_visible(caller)}
        suggested = set(suggest_titles(session, index, actor, "数据集", limit=20))
        if not suggested <= visible_titles:
            wrong.append(f"{caller}: suggests hidden titles {sorted(suggested - visible_titles)}")
        if not {t for t in visible_titles if t.startswith("数据集")} <= suggested:
            wrong.append(f"{caller}: suggestions {sorted(suggested)} miss visible titles")
    assert not wrong, "\n".join(wrong)


# --- drafts, withdrawn datasets and token scopes --------------------------------------------


def test_unpublished_datasets_are_seen_by_the_owning_department_only(world, actors):
    for key in ("draft", "withdrawn"):
        dataset = world.datasets[key]
        seers = {c for c, actor in actors.items() if can(actor, Action.VIEW, dataset)}
        assert seers == {"owning_member", "editor", "admin", "sysadmin"}, key
        readers = {c for c, actor in actors.items() if can(actor, Action.READ_DATA, dataset)}
        assert readers == seers, key


def test_read_only_token_cannot_change(session, world):
    wrong = []
    for caller in ("editor", "admin"):
        read_only = actor_for_user(session, world.users[caller], scopes=frozenset({"read"}))
        for key, dataset in world.datasets.items():
            for action in ACTIONS:
                expected = action in (Action.VIEW, Action.READ_DATA)
                if can(read_only, action, dataset) != expected:
                    wrong.append(f"{cell_id(caller + '[read]', key, action)}: expected {expected}")
            for action in (Action.EDIT, Action.DELETE):
                with pytest.raises(Forbidden, match="write scope"):
                    require(read_only, action, dataset)
    assert not wrong, "\n".join(wrong)


def test_sysadmin_read_only_token_cannot_change(session, world):
    read_only = actor_for_user(session, world.users["sysadmin"], scopes=frozenset({"read"}))
    dataset = world.datasets["unconditional/unconditional"]
    assert can(read_only, Action.VIEW, dataset)
    assert not can(read_only, Action.EDIT, dataset)
    assert not can(read_only, Action.DELETE, dataset)
