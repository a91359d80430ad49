"""The access-policy matrix through HTTP: the REST API answers as the policy table says.

The table (EXPECTED) and the world of callers and datasets are those of
tests/unit/catalog/test_policy_matrix.py. Callers authenticate with bearer tokens; the
anonymous caller sends no header. Each test walks its part of the matrix and collects every
wrong cell (``caller-dataset-action``) into one failure message.
"""

import io
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from catalog.models import ApiToken, AuditEvent, Dataset, Grant, User, utcnow
from catalog.policy import Action
from catalog.services import users
from catalog.services.datasets import DatasetValues, update_dataset
from catalog.services.resources import ResourceValues, add_resource
from catalog.vocab import Role, TokenScope
from portal.indexing import drain
from tests.factories import (
    SYSTEM,
    bearer,
    make_dataset,
    make_department,
    make_user,
    token_for,
)
from tests.unit.catalog.test_policy_matrix import (
    CALLERS,
    DATASET_KEYS,
    EXPECTED,
    World,
    build_world,
    cell_id,
    expected_visible,
)

API = "/api/v1"
NEW_TITLE = "新标题"


def csv_of(key: str) -> bytes:
    return f"数据集,数量\n{key},12\n".encode()


@dataclass
class HttpWorld:
    world: World
    headers: dict[str, dict[str, str]]  # caller -> request headers
    resource_ids: dict[str, str]  # dataset key -> id of its stored CSV file

    def slug(self, key: str) -> str:
        return self.world.datasets[key].slug

    def dataset_url(self, key: str) -> str:
        return f"{API}/datasets/{self.slug(key)}"

    def download_url(self, key: str) -> str:
        return f"{self.dataset_url(key)}/resources/{self.resource_ids[key]}/download"


@pytest.fixture
def http_world(session, backends, app) -> HttpWorld:
    world = build_world(session)
    # Tokens are checked against the real clock, so the short grants are made to have
    # expired by moving their expiry into the past (create_grant refuses a past expiry).
    session.execute(
        update(Grant)
        .where(Grant.id.in_(world.short_grant_ids))
        .values(expires_at=utcnow() - timedelta(hours=1))
    )
    session.commit()
    object_store = app.extensions["opendata"].object_store
    resource_ids = {}
    for key, dataset in world.datasets.items():
        resource = add_resource(
            session,
            SYSTEM,
            object_store,
            dataset.slug,
            ResourceValues(name=f"{key} 数据", format="CSV", media_type="text/csv"),
            content=io.BytesIO(csv_of(key)),
            file_name="data.csv",
        )
        resource_ids[key] = resource.id
    headers = {
        caller: {} if user is None else bearer(token_for(session, user))
        for caller, user in world.users.items()
    }
    drain(backends)  # the listing answers from the search index
    return HttpWorld(world, headers, resource_ids)


@dataclass(frozen=True)
class Snapshot:
    """A dataset as a fresh session reads it, and the newest audit event's id."""

    title: str
    state: str
    revision: int
    last_event_id: int


def _look(backends, dataset_id: str, since: int | None = None):
    """The dataset as a fresh session reads it, and the audit events after event ``since``."""
    with backends.sessions() as fresh:
        dataset = fresh.get(Dataset, dataset_id)
        events = []
        if since is None:
            since = fresh.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
        else:
            newer = select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)
            events = list(fresh.scalars(newer))
        fresh.expunge_all()
        last = max((event.id for event in events), default=since)
        return Snapshot(dataset.title, dataset.state, dataset.revision, last), events


def _snapshot(backends, dataset_id: str) -> Snapshot:
    return _look(backends, dataset_id)[0]


def _report(wrong: list[str], checked: int) -> str:
    return f"{len(wrong)} mismatches in {checked} cells checked:\n  " + "\n  ".join(wrong)


def _is_problem(response, status: int) -> bool:
    body = response.get_json(silent=True) or {}
    return body.get("status") == status and bool(body.get("detail"))


# --- see metadata and fetch data: the full caller x dataset grid -----------------------------


def test_metadata_and_data_through_http(client, http_world):
    wrong = []
    checked = 0
    for caller in CALLERS:
        headers = http_world.headers[caller]
        absent = client.get(f"{API}/datasets/no-such-dataset", headers=headers)
        for key in DATASET_KEYS:
            allowed = EXPECTED[key][caller]
            may_view, may_read = Action.VIEW in allowed, Action.READ_DATA in allowed

            checked += 1
            shown = client.get(http_world.dataset_url(key), headers=headers)
            cell = cell_id(caller, key, Action.VIEW)
            if shown.status_code != (200 if may_view else 404):
                wrong.append(f"{cell}: GET answered {shown.status_code}")
            elif may_view:
                body = shown.get_json()
                names = ("read_data", "edit", "delete")
                access = {name: body["access"].get(name) for name in names}
                if access != {name: Action(name) in allowed for name in names}:
                    wrong.append(f"{cell}: access {access} disagrees with the table")
                urls = [resource["url"] for resource in body["resources"]]
                if may_read and not (
                    len(urls) == 1 and urls[0] and urls[0].endswith(http_world.download_url(key))
                ):
                    wrong.append(f"{cell}: resource urls {urls}, expected the download address")
                if not may_read and urls != [None]:
                    wrong.append(f"{cell}: resource urls {urls}, expected [None]")
            elif shown.get_json() != absent.get_json():
                # A hidden dataset must look exactly like one that does not exist.
                wrong.append(f"{cell}: 404 body {shown.get_json()} differs from a missing one")

            checked += 1
            download = client.get(http_world.download_url(key), headers=headers)
            cell = cell_id(caller, key, Action.READ_DATA)
            expected = 200 if may_read else 403 if may_view else 404
            if download.status_code != expected:
                wrong.append(f"{cell}: download answered {download.status_code}, not {expected}")
            elif expected == 200 and download.data != csv_of(key):
                wrong.append(f"{cell}: downloaded {download.data!r}")
            elif expected != 200 and not _is_problem(download, expected):
                wrong.append(f"{cell}: {expected} without a problem body: {download.data!r}")
    assert checked == len(CALLERS) * len(DATASET_KEYS) * 2
    assert not wrong, _report(wrong, checked)


# --- the list, its facets and the departments' counts ----------------------------------------


def test_listing_and_counts_show_only_visible_datasets(client, http_world):
    world = http_world.world
    wrong = []
    for caller in CALLERS:
        headers = http_world.headers[caller]
        visible = expected_visible(caller)
        listing = client.get(f"{API}/datasets?page_size=100", headers=headers).get_json()
        slugs = {item["slug"] for item in listing["items"]}
        expected_slugs = {http_world.slug(k) for k in visible}
        if slugs != expected_slugs:
            wrong.append(f"{caller}: listed {sorted(slugs ^ expected_slugs)} wrongly")
        if listing["total"] != len(visible):
            wrong.append(f"{caller}: total {listing['total']}, expected {len(visible)}")
        seen = [world.datasets[k] for k in visible]
        expected_facets = {
            "open_type": Counter(d.open_type for d in seen),
            "share_type": Counter(d.share_type for d in seen),
            "department": Counter("owner" for _ in seen),
            "format": Counter("CSV" for _ in seen),
        }
        for param, expected in expected_facets.items():
            counted = {f["value"]: f["count"] for f in listing["facets"][param]}
            if counted != dict(expected):
                wrong.append(f"{caller}: facet {param} {counted}, expected {dict(expected)}")
        for param, counts in listing["facets"].items():
            if any(f["count"] > listing["total"] for f in counts):
                wrong.append(f"{caller}: facet {param} counts more than the total")

        visible_titles = {world.datasets[k].title for k in visible}
        suggested = client.get(
            f"{API}/datasets/suggest?q=数据集&limit=20", headers=headers
        ).get_json()["suggestions"]
        if not set(suggested) <= visible_titles:
            wrong.append(f"{caller}: suggests hidden titles {set(suggested) - visible_titles}")

        departments = client.get(f"{API}/departments", headers=headers).get_json()
        counts = {d["slug"]: d["dataset_count"] for d in departments}
        expected_counts = {"owner": len(visible), "other": 0, "granted": 0}
        if counts != expected_counts:
            wrong.append(f"{caller}: department counts {counts}, expected {expected_counts}")
        one = client.get(f"{API}/departments/owner", headers=headers).get_json()
        if one["dataset_count"] != len(visible):
            wrong.append(f"{caller}: owner's dataset_count {one['dataset_count']}")
    assert not wrong, "\n".join(wrong)


# --- edit and delete ---------------------------------------------------------------------

# Every caller edits and deletes a dataset open to all (so refusals are 403s) and each dataset
# hidden from some callers (so refusals are 404s); the other open types differ from
# "conditional/conditional" only in what they show, which the tests above cover.
CHANGED_KEYS = (
    "conditional/conditional",
    "not_open/unconditional",
    "not_open/conditional",
    "not_open/not_shared",
    "draft",
    "withdrawn",
)


@dataclass(frozen=True)
class Change:
    """One kind of change through HTTP, and how to tell it happened and undo it."""

    action: Action
    method: str
    json: dict | None
    success: int
    audit_action: str
    field: str  # the audit snapshots' field it changes
    value: str  # that field's value after the change


EDIT = Change(Action.EDIT, "PATCH", {"title": NEW_TITLE}, 200, "dataset.update", "title", NEW_TITLE)
DELETE = Change(Action.DELETE, "DELETE", None, 204, "dataset.withdraw", "state", "withdrawn")


def _change_mismatches(client, backends, http_world, key, caller, change, before):
    """Send the change as the caller; return what went wrong in the answer, the dataset and
    the audit trail, and the dataset as the next cell finds it (the change undone)."""
    world = http_world.world
    dataset_id = world.datasets[key].id
    allowed = EXPECTED[key][caller]
    expected = change.success if change.action in allowed else 403
    if expected == 403 and caller == "anonymous":
        expected = 401  # no credentials: log in first
    if Action.VIEW not in allowed:
        expected = 404
    response = client.open(
        http_world.dataset_url(key),
        method=change.method,
        json=change.json,
        headers=http_world.headers[caller],
    )
    after, events = _look(backends, dataset_id, since=before.last_event_id)
    wrong = _judge_change(
        cell_id(caller, key, change.action),
        change,
        expected,
        response,
        (before, after, events),
        (dataset_id, world.users[caller]),
    )
    if getattr(after, change.field) == getattr(before, change.field):
        return wrong, after
    # Undo it, so that the next caller meets the dataset as the table describes it.
    with backends.sessions() as fresh:
        undo = DatasetValues(**{change.field: getattr(before, change.field)})
        update_dataset(fresh, SYSTEM, dataset_id, undo)
    return wrong, _snapshot(backends, dataset_id)


def _judge_change(cell, change, expected, response, seen, who) -> list[str]:
    before, after, events = seen
    dataset_id, user = who
    wrong = []
    if response.status_code != expected:
        wrong.append(f"{cell}: {change.method} answered {response.status_code}, not {expected}")
    if expected != change.success:
        if not _is_problem(response, expected):
            wrong.append(f"{cell}: {expected} without a problem body")
        if (after.title, after.state, after.revision) != (
            before.title,
            before.state,
            before.revision,
        ):
            wrong.append(f"{cell}: a refused change changed the dataset")
        if events:
            wrong.append(f"{cell}: a refused change left {len(events)} audit events")
        return wrong
    if getattr(after, change.field) != change.value:
        wrong.append(f"{cell}: {change.field} is {getattr(after, change.field)!r} afterwards")
    # Withdrawing a withdrawn dataset changes nothing, so it leaves no event.
    changed = getattr(before, change.field) != change.value
    if len(events) != int(changed):
        wrong.append(f"{cell}: {len(events)} audit events, expected {int(changed)}")
    elif changed:
        event = events[0]
        if (event.action, event.object_id, event.actor_id, event.actor_name) != (
            change.audit_action,
            dataset_id,
            user.id,
            user.name,
        ):
            wrong.append(f"{cell}: audit event {event.action} by {event.actor_name!r}")
        elif (event.before[change.field], event.after[change.field]) != (
            getattr(before, change.field),
            change.value,
        ):
            wrong.append(f"{cell}: audit event lacks the change's before and after")
        if after.revision != before.revision + 1:
            wrong.append(f"{cell}: revision {after.revision} after {before.revision}")
    return wrong


def test_edit_and_delete_through_http(client, backends, http_world):
    """PATCH answers 200/403/404 and DELETE 204/403/404 as the table says; each change
    leaves one audit event with its actor, before and after; a refused one leaves nothing."""
    wrong = []
    checked = 0
    for key in CHANGED_KEYS:
        state = _snapshot(backends, http_world.world.datasets[key].id)
        for caller in CALLERS:
            for change in (EDIT, DELETE):
                checked += 1
                found, state = _change_mismatches(
                    client, backends, http_world, key, caller, change, state
                )
                wrong += found
    assert checked == len(CALLERS) * len(CHANGED_KEYS) * 2
    assert not wrong, _report(wrong, checked)


# --- tokens -------------------------------------------------------------------------------


@dataclass
class SmallWorld:
    editor: User
    sysadmin: User
    dataset_id: str
    dataset_url: str
    download_url: str


@pytest.fixture
def small_world(session, app) -> SmallWorld:
    """One open dataset with a stored file, its department's editor and a sysadmin."""
    department = make_department(session, slug="owner")
    editor = make_user(session, name="editor", department=department, role=Role.EDITOR)
    sysadmin = make_user(session, name="sysadmin", sysadmin=True)
    dataset = make_dataset(session, department, slug="open-data")
    resource = add_resource(
        session,
        SYSTEM,
        app.extensions["opendata"].object_store,
        dataset.slug,
        ResourceValues(name="数据", format="CSV", media_type="text/csv"),
        content=io.BytesIO(csv_of("open")),
        file_name="data.csv",
    )
    url = f"{API}/datasets/{dataset.slug}"
    return SmallWorld(editor, sysadmin, dataset.id, url, f"{url}/resources/{resource.id}/download")


def test_spent_or_unknown_tokens_answer_401(client, session, backends, small_world):
    editor = small_world.editor
    expired_row, expired = users.create_token(
        session, SYSTEM, editor, expires_in=timedelta(hours=1)
    )
    # create_token takes only a future expiry; move it into the past to spend the token.
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == expired_row.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    revoked_row, revoked = users.create_token(session, SYSTEM, editor)
    users.revoke_token(session, SYSTEM, revoked_row.id)
    credentials = {
        "unknown": bearer("odp_" + "x" * 43),
        "expired": bearer(expired),
        "revoked": bearer(revoked),
        "not bearer": {"Authorization": "Basic ZWRpdG9yOnNlY3JldA=="},
        "empty bearer": {"Authorization": "Bearer "},
    }
    # The dataset is open to all: a bad token must not pass as anonymous either.
    requests = {
        "show": lambda h: client.get(small_world.dataset_url, headers=h),
        "list": lambda h: client.get(f"{API}/datasets", headers=h),
        "download": lambda h: client.get(small_world.download_url, headers=h),
        "edit": lambda h: client.patch(
            small_world.dataset_url, json={"title": NEW_TITLE}, headers=h
        ),
        "delete": lambda h: client.delete(small_world.dataset_url, headers=h),
    }
    before = _snapshot(backends, small_world.dataset_id)
    wrong = []
    for kind, headers in credentials.items():
        for name, send in requests.items():
            response = send(headers)
            if response.status_code != 401 or not _is_problem(response, 401):
                wrong.append(f"{kind} token, {name}: {response.status_code} {response.data!r}")
            elif "Bearer" not in response.headers.get("WWW-Authenticate", ""):
                wrong.append(f"{kind} token, {name}: no WWW-Authenticate header")
    assert not wrong, "\n".join(wrong)
    after, events = _look(backends, small_world.dataset_id, since=before.last_event_id)
    assert (after.title, after.state, after.revision) == (
        before.title,
        "published",
        before.revision,
    )
    assert events == []
    # A live token of the same user does change the dataset.
    alive = bearer(token_for(session, editor))
    assert (
        client.patch(small_world.dataset_url, json={"title": NEW_TITLE}, headers=alive).status_code
        == 200
    )


def test_read_only_token_cannot_change(client, session, backends, small_world):
    headers = bearer(token_for(session, small_world.editor, scopes=frozenset({TokenScope.READ})))
    before = _snapshot(backends, small_world.dataset_id)
    shown = client.get(small_world.dataset_url, headers=headers)
    assert shown.status_code == 200
    access = shown.get_json()["access"]
    assert (access["read_data"], access["edit"], access["delete"]) == (True, False, False)
    assert client.get(small_world.download_url, headers=headers).status_code == 200
    patched = client.patch(small_world.dataset_url, json={"title": NEW_TITLE}, headers=headers)
    assert patched.status_code == 403
    assert "write scope" in patched.get_json()["detail"]
    assert client.delete(small_world.dataset_url, headers=headers).status_code == 403
    after, events = _look(backends, small_world.dataset_id, since=before.last_event_id)
    assert (after.title, after.state, after.revision) == (
        before.title,
        before.state,
        before.revision,
    )
    assert [e.action for e in events] == ["resource.download"]


def test_sysadmin_read_only_token_cannot_change(client, session, backends, small_world):
    headers = bearer(token_for(session, small_world.sysadmin, scopes=frozenset({TokenScope.READ})))
    before = _snapshot(backends, small_world.dataset_id)
    patched = client.patch(small_world.dataset_url, json={"title": NEW_TITLE}, headers=headers)
    deleted = client.delete(small_world.dataset_url, headers=headers)
    assert (patched.status_code, deleted.status_code) == (403, 403)
    assert _look(backends, small_world.dataset_id, since=before.last_event_id)[1] == []
