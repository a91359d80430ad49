"""Grants through the REST API: who may list, give and revoke them, what bad input gets
(nothing written), and a grant opening conditional data to its grantee until revoked.

Runs on SQLite and, when OPENDATA_TEST_DATABASE_URL names one, on PostgreSQL: the
``database_engine`` fixture under ``client`` and ``session`` is parametrised over both.
"""

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from catalog.interfaces import RecordField
from catalog.models import AuditEvent, Dataset, Grant, User, utcnow
from catalog.services.resources import ResourceValues, add_resource
from catalog.vocab import TokenScope
from tests.factories import (
    SYSTEM,
    bearer,
    grant_to_user,
    make_dataset,
    make_department,
    make_user,
    token_for,
)

API = "/api/v1/datasets"
PROBLEM = "application/problem+json"
CSV = "医疗机构,床位数\n祖庙社区卫生服务中心,40\n".encode()
FIELDS = [RecordField("机构", "text", "医疗机构"), RecordField("床位", "integer", "床位数")]
# What each caller gets for listing, giving and revoking the grants of a dataset it sees.
ANSWERS = {
    "anonymous": (401, 401, 401),
    "outsider": (403, 403, 403),  # an admin, but of another department
    "member": (403, 403, 403),
    "editor": (403, 403, 403),
    "admin": (200, 201, 204),
    "sysadmin": (200, 201, 204),
    "admin_read_only": (200, 403, 403),  # the admin with a read-only token
}


@dataclass
class World:
    headers: dict[str, dict[str, str]]  # caller -> request headers
    users: dict[str, User]
    datasets: dict[str, Dataset]  # by slug
    data_urls: dict[str, tuple[str, str]]  # slug -> download and records addresses


def _stored_table(session, backends, slug: str) -> tuple[str, str]:
    resource = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        slug,
        ResourceValues(name="医疗机构名录", format="CSV", fields=[vars(f) for f in FIELDS]),
        io.BytesIO(CSV),
        "clinics.csv",
    )
    backends.record_store.create(resource.id, FIELDS)
    backends.record_store.append(
        resource.id, [{"_id": 1, "机构": "祖庙社区卫生服务中心", "床位": 40}]
    )
    base = f"{API}/{slug}/resources/{resource.id}"
    return f"{base}/download", f"{base}/records"


@pytest.fixture
def world(session, backends) -> World:
    """The health bureau (member, editor, admin) with a 有条件开放 dataset, a 不予开放 +
    有条件共享 one and one hidden from all others; the education bureau's admin; a
    sysadmin; and a researcher of the public to give access to."""
    health = make_department(session, slug="health", name="佛山市禅城区卫生健康局")
    education = make_department(session, slug="edu", name="佛山市禅城区教育局")
    datasets = {
        "clinics": make_dataset(
            session, health, slug="clinics", open_type="conditional", share_type="not_shared"
        ),
        "registry": make_dataset(
            session, health, slug="registry", open_type="not_open", share_type="conditional"
        ),
        "hidden": make_dataset(
            session, health, slug="hidden", open_type="not_open", share_type="not_shared"
        ),
    }
    users = {
        "outsider": make_user(session, name="edu-admin", department=education, role="admin"),
        "member": make_user(session, name="health-member", department=health, role="member"),
        "editor": make_user(session, name="health-editor", department=health, role="editor"),
        "admin": make_user(session, name="health-admin", department=health, role="admin"),
        "sysadmin": make_user(session, name="root", sysadmin=True),
        "researcher": make_user(session, name="researcher"),
    }
    headers = {caller: bearer(token_for(session, user)) for caller, user in users.items()}
    headers["anonymous"] = {}
    read_only = frozenset({TokenScope.READ})
    headers["admin_read_only"] = bearer(token_for(session, users["admin"], scopes=read_only))
    data_urls = {slug: _stored_table(session, backends, slug) for slug in ("clinics", "registry")}
    return World(headers, users, datasets, data_urls)


def counts(backends) -> tuple[int, int]:
    """How many grants and audit events there are, as a fresh session reads them."""
    with backends.sessions() as fresh:
        grants = fresh.scalar(select(func.count()).select_from(Grant))
        return grants, fresh.scalar(select(func.count()).select_from(AuditEvent))


def give(client, world, slug="clinics", who="admin", **body):
    return client.post(f"{API}/{slug}/grants", json=body, headers=world.headers[who])


def revoke(client, world, grant_id, slug="clinics", who="admin"):
    return client.delete(f"{API}/{slug}/grants/{grant_id}", headers=world.headers[who])


def in_days(days: float) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


# --- who may do what -------------------------------------------------------------------------


def test_admins_and_sysadmins_manage_grants_the_others_are_refused(
    client, session, backends, world
):
    wrong = []
    for caller, expected in ANSWERS.items():
        standing = grant_to_user(session, world.datasets["clinics"], world.users["sysadmin"])
        before = counts(backends)

        listed = client.get(f"{API}/clinics/grants", headers=world.headers[caller])
        given = give(client, world, who=caller, user="researcher", reason="申请编号 2024-001")
        revoked = revoke(client, world, standing.id, who=caller)

        answers = (listed.status_code, given.status_code, revoked.status_code)
        if answers != expected:
            wrong.append(f"{caller}: list, give, revoke answered {answers}, not {expected}")
        for response in (listed, given, revoked):
            if response.status_code >= 400 and response.content_type != PROBLEM:
                wrong.append(f"{caller}: {response.status_code} is not problem details")
        if expected[0] == 200 and [g["id"] for g in listed.get_json()] != [standing.id]:
            wrong.append(f"{caller}: listed {listed.get_json()}")
        if expected[1:] != (201, 204) and counts(backends) != before:
            wrong.append(f"{caller}: refused requests wrote {before} -> {counts(backends)}")
        session.execute(delete(Grant))
        session.commit()
    assert not wrong, "\n".join(wrong)


def test_a_dataset_hidden_from_the_caller_answers_404(client, session, world):
    standing = grant_to_user(session, world.datasets["hidden"], world.users["sysadmin"])
    for caller in ("anonymous", "outsider", "researcher"):
        headers = world.headers[caller]
        assert client.get(f"{API}/hidden/grants", headers=headers).status_code == 404, caller
        assert give(client, world, "hidden", caller, user="root").status_code == 404, caller
        assert revoke(client, world, standing.id, "hidden", caller).status_code == 404, caller
    # A grant row on a closed dataset (不予开放, 不予共享) opens nothing, not even its name.
    grant_to_user(session, world.datasets["hidden"], world.users["researcher"])
    assert (
        client.get(f"{API}/hidden/grants", headers=world.headers["researcher"]).status_code == 404
    )
    # Those who see it (the owning department) are told they may not.
    assert client.get(f"{API}/hidden/grants", headers=world.headers["member"]).status_code == 403
    assert (
        client.get(f"{API}/no-such-dataset/grants", headers=world.headers["admin"]).status_code
        == 404
    )


# --- giving, listing, revoking ---------------------------------------------------------------


def test_a_grant_is_given_listed_revoked_and_each_change_audited(client, session, world):
    expires = in_days(90)
    given = give(client, world, department="edu", expires_at=expires, reason="共享申请 17 号")
    assert given.status_code == 201, given.get_json()
    grant = given.get_json()
    assert {k: grant[k] for k in ("dataset", "department", "department_name", "user")} == {
        "dataset": "clinics",
        "department": "edu",
        "department_name": "佛山市禅城区教育局",
        "user": None,
    }
    assert (grant["reason"], grant["created_by"], grant["active"]) == (
        "共享申请 17 号",
        "health-admin",
        True,
    )
    assert datetime.fromisoformat(grant["expires_at"]) == datetime.fromisoformat(expires)

    forever = give(client, world, who="sysadmin", user="researcher").get_json()
    assert forever["expires_at"] is None and forever["created_by"] == "root"
    listed = client.get(f"{API}/clinics/grants", headers=world.headers["admin"]).get_json()
    assert [g["id"] for g in listed] == [forever["id"], grant["id"]]  # newest first

    assert revoke(client, world, grant["id"]).status_code == 204
    listed = client.get(f"{API}/clinics/grants", headers=world.headers["admin"]).get_json()
    assert [g["id"] for g in listed] == [forever["id"]]
    assert revoke(client, world, grant["id"]).status_code == 404  # already gone

    events = session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == grant["id"]).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor_id) for e in events] == [
        ("grant.create", world.users["admin"].id),
        ("grant.revoke", world.users["admin"].id),
    ]
    assert events[0].before is None and events[0].after["reason"] == "共享申请 17 号"
    assert events[1].before["department_id"] and events[1].after is None


def test_expired_grants_are_listed_as_such(client, session, world):
    grant = give(client, world, user="researcher", expires_at=in_days(1)).get_json()
    session.execute(
        update(Grant).where(Grant.id == grant["id"]).values(expires_at=utcnow() - timedelta(1))
    )
    session.commit()
    listed = client.get(f"{API}/clinics/grants", headers=world.headers["admin"]).get_json()
    assert [(g["id"], g["active"]) for g in listed] == [(grant["id"], False)]


def test_a_second_live_grant_to_the_same_grantee_conflicts(client, session, backends, world):
    first = give(client, world, user="researcher", expires_at=in_days(1)).get_json()
    before = counts(backends)
    again = give(client, world, user="researcher")
    assert again.status_code == 409 and again.content_type == PROBLEM
    assert first["id"] in again.get_json()["detail"]
    assert counts(backends) == before
    # Once the first has expired, a new one may be given.
    session.execute(
        update(Grant).where(Grant.id == first["id"]).values(expires_at=utcnow() - timedelta(1))
    )
    session.commit()
    assert give(client, world, user="researcher").status_code == 201


def test_a_grant_is_revoked_only_through_its_own_dataset(client, session, world):
    other = grant_to_user(session, world.datasets["registry"], world.users["researcher"])
    assert revoke(client, world, other.id, slug="clinics").status_code == 404
    assert revoke(client, world, "6f1c2b1e-0000-4000-8000-000000000000").status_code == 404
    assert revoke(client, world, "not-a-uuid").status_code == 404
    assert session.get(Grant, other.id) is not None


BAD_INPUT = [
    ({"department": "no-such-department"}, "department"),
    ({"user": "nobody"}, "user"),
    ({"department": "edu", "user": "researcher"}, "user"),
    ({}, "department"),
    ({"department": ""}, "department"),
    ({"department": "health"}, "department"),  # the owning department
    ({"user": "researcher", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ({"user": "researcher", "expires_at": "next week"}, "expires_at"),
    ({"user": "researcher", "reason": "理由" * 1001}, "reason"),
    ({"user": "researcher", "role": "admin"}, "role"),
]


def test_bad_input_answers_422_with_field_messages_and_writes_nothing(client, backends, world):
    before = counts(backends)
    wrong = []
    for body, field in BAD_INPUT:
        response = give(client, world, **body)
        errors = (response.get_json() or {}).get("errors", {})
        if response.status_code != 422 or response.content_type != PROBLEM:
            wrong.append(f"{body}: answered {response.status_code} {response.content_type}")
        elif not errors.get(field):
            wrong.append(f"{body}: no message for {field} in {errors}")
    assert not wrong, "\n".join(wrong)
    assert counts(backends) == before


# --- what a grant opens ----------------------------------------------------------------------


def _data_answers(client, world, slug: str, caller: str) -> tuple[int, int]:
    download, records = world.data_urls[slug]
    headers = world.headers[caller]
    return client.get(download, headers=headers).status_code, client.get(
        records, headers=headers
    ).status_code


def test_a_user_grant_opens_conditional_data_and_revoking_closes_it(client, world):
    download, records = world.data_urls["clinics"]
    researcher = world.headers["researcher"]
    assert _data_answers(client, world, "clinics", "researcher") == (403, 403)

    grant = give(client, world, user="researcher", expires_at=in_days(30)).get_json()
    assert client.get(download, headers=researcher).data == CSV
    rows = client.get(records, headers=researcher).get_json()["records"]
    assert [row["机构"] for row in rows] == ["祖庙社区卫生服务中心"]
    assert _data_answers(client, world, "clinics", "anonymous") == (403, 403)  # still closed

    assert revoke(client, world, grant["id"]).status_code == 204
    assert _data_answers(client, world, "clinics", "researcher") == (403, 403)


def test_a_department_grant_opens_conditionally_shared_data_to_its_members(client, world):
    # 不予开放 + 有条件共享: other departments see the metadata, the data needs a grant.
    assert _data_answers(client, world, "registry", "outsider") == (403, 403)
    grant = give(client, world, "registry", "sysadmin", department="edu").get_json()
    assert _data_answers(client, world, "registry", "outsider") == (200, 200)
    assert _data_answers(client, world, "registry", "researcher") == (404, 404)

    assert revoke(client, world, grant["id"], "registry", "sysadmin").status_code == 204
    assert _data_answers(client, world, "registry", "outsider") == (403, 403)


def test_a_grant_that_would_open_what_the_rules_close_is_refused(client, backends, world):
    before = counts(backends)
    # 不予开放 + 不予共享: only the owning department, grant or not.
    closed = give(client, world, "hidden", "sysadmin", department="edu")
    assert closed.status_code == 422
    assert "有条件开放 or 有条件共享" in closed.get_json()["errors"]["department"][0]
    # 有条件共享 data is for departments: a user of the public may not be given it.
    public = give(client, world, "registry", "sysadmin", user="researcher")
    assert public.status_code == 422
    assert "department" in public.get_json()["errors"]["user"][0]
    assert counts(backends) == before
    # A department's member may be given it by name.
    assert give(client, world, "registry", "sysadmin", user="edu-admin").status_code == 201


def test_the_openapi_document_describes_the_grant_operations(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    listing = paths["/api/v1/datasets/{slug}/grants"]
    assert {"200", "401", "403", "404"} <= set(listing["get"]["responses"])
    assert {"201", "409", "422"} <= set(listing["post"]["responses"])
    assert "204" in paths["/api/v1/datasets/{slug}/grants/{grant_id}"]["delete"]["responses"]
