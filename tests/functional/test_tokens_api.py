"""Tokens through the API: created with a write token and shown once, listed without
their secret, revoked at once; each caller manages their own, sysadmins anyone's."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from catalog.models import ApiToken, AuditEvent, utcnow
from catalog.vocab import TokenScope
from tests.factories import bearer, make_department, make_user, token_for

TOKENS = "/api/v1/tokens"
READ_ONLY = frozenset({TokenScope.READ})


@pytest.fixture
def steward(session):
    return make_user(session, name="steward", department=make_department(session), role="editor")


def token_count(session) -> int:
    return session.scalar(select(func.count()).select_from(ApiToken))


def test_a_created_token_is_shown_once_and_works(client, session, steward):
    headers = bearer(token_for(session, steward))
    response = client.post(
        TOKENS,
        json={"name": "数据同步脚本", "scopes": ["read"], "expires_in_days": 30},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    assert response.cache_control.no_store
    created = response.get_json()
    token = created["token"]
    assert token.startswith("odp_") and token.startswith(created["prefix"])
    assert created["name"] == "数据同步脚本" and created["scopes"] == ["read"]
    assert created["last_used_at"] is None
    lifetime = datetime.fromisoformat(created["expires_at"]) - utcnow()
    assert timedelta(days=29) < lifetime <= timedelta(days=30)
    # Only the hash is kept.
    row = session.get(ApiToken, created["id"])
    assert row.token_hash != token and token not in row.token_hash

    listing = client.get(TOKENS, headers=bearer(token))
    assert listing.status_code == 200
    assert token not in listing.get_data(as_text=True)
    shown = {item["id"]: item for item in listing.get_json()}
    assert created["id"] in shown and len(shown) == 2
    for item in shown.values():
        assert set(item) == {
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
        }
    assert shown[created["id"]]["last_used_at"] is not None
    events = session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == steward.id))
    assert "token.create" in set(events)


def test_a_revoked_token_answers_401_at_once(client, session, steward):
    headers = bearer(token_for(session, steward))
    created = client.post(TOKENS, json={"name": "temp"}, headers=headers).get_json()
    spent = bearer(created["token"])
    assert client.get("/api/v1/datasets", headers=spent).status_code == 200

    assert client.delete(f"{TOKENS}/{created['id']}", headers=headers).status_code == 204
    refused = client.get("/api/v1/datasets", headers=spent)
    assert refused.status_code == 401
    assert refused.content_type == "application/problem+json"
    assert created["id"] not in {t["id"] for t in client.get(TOKENS, headers=headers).get_json()}
    # Revoking again changes nothing.
    assert client.delete(f"{TOKENS}/{created['id']}", headers=headers).status_code == 204


def test_an_expired_token_answers_401(client, session, steward):
    headers = bearer(token_for(session, steward))
    created = client.post(TOKENS, json={"expires_in_days": 1}, headers=headers).get_json()
    row = session.get(ApiToken, created["id"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert client.get(TOKENS, headers=bearer(created["token"])).status_code == 401


def test_only_a_write_token_makes_or_revokes_tokens(client, session, steward):
    write_token = token_for(session, steward)
    reader = bearer(token_for(session, steward, scopes=READ_ONLY))
    before = token_count(session)

    both = {"scopes": ["read", "write"]}
    assert client.post(TOKENS, json=both, headers=reader).status_code == 403
    assert client.post(TOKENS, json={}).status_code == 401
    victim = session.scalar(select(ApiToken.id).where(ApiToken.user_id == steward.id))
    assert client.delete(f"{TOKENS}/{victim}", headers=reader).status_code == 403
    assert client.delete(f"{TOKENS}/{victim}").status_code == 401
    assert token_count(session) == before
    assert session.get(ApiToken, victim).revoked_at is None
    # Reading one's own tokens needs no write scope.
    assert client.get(TOKENS, headers=reader).status_code == 200
    assert client.get(TOKENS).status_code == 401
    assert client.get(TOKENS, headers=bearer(write_token)).status_code == 200


def test_a_session_cookie_makes_no_token(client, session, steward):
    with client.session_transaction() as cookie_session:
        cookie_session["user_id"] = steward.id
    before = token_count(session)
    assert client.post(TOKENS, json={"name": "cookie"}).status_code == 401
    assert token_count(session) == before
    # It may read the user's own list, like any other GET.
    assert client.get(TOKENS).status_code == 200


def test_users_manage_only_their_own_tokens(client, session, steward):
    other = make_user(session, name="other")
    other_token = token_for(session, other)
    other_id = session.scalar(select(ApiToken.id).where(ApiToken.user_id == other.id))
    headers = bearer(token_for(session, steward))

    assert client.delete(f"{TOKENS}/{other_id}", headers=headers).status_code == 404
    assert client.get(f"{TOKENS}?user=other", headers=headers).status_code == 403
    # Refused before the name is looked up: no telling which user names exist.
    assert client.get(f"{TOKENS}?user=nobody", headers=headers).status_code == 403
    assert client.post(TOKENS, json={"user": "other"}, headers=headers).status_code == 403
    assert client.get(TOKENS, headers=bearer(other_token)).status_code == 200


def test_sysadmins_manage_anyones_tokens(client, session, steward):
    admin = bearer(token_for(session, make_user(session, name="root", sysadmin=True)))
    created = client.post(TOKENS, json={"user": "steward", "name": "代办"}, headers=admin)
    assert created.status_code == 201
    listed = client.get(f"{TOKENS}?user=steward", headers=admin).get_json()
    assert created.get_json()["id"] in {t["id"] for t in listed}
    assert client.get(TOKENS, headers=bearer(created.get_json()["token"])).status_code == 200
    deleted = client.delete(f"{TOKENS}/{created.get_json()['id']}", headers=admin)
    assert deleted.status_code == 204
    assert client.get(f"{TOKENS}?user=nobody", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["admin"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 100000}, "expires_in_days"),
        ({"name": "x" * 201}, "name"),
        ({"token": "odp_chosen"}, "token"),
    ],
)
def test_bad_token_requests_are_clear_errors_and_change_nothing(
    client, session, steward, body, field
):
    headers = bearer(token_for(session, steward))
    before = token_count(session)
    response = client.post(TOKENS, json=body, headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert token_count(session) == before
