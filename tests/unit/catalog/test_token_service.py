"""API tokens in the users service: who may create, list and revoke them."""

from datetime import timedelta

import pytest

from catalog.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from catalog.models import ApiToken
from catalog.policy import Actor
from catalog.services import users
from catalog.services.users import (
    create_token,
    list_tokens,
    revoke_token,
    token_id_for,
    token_owner,
)
from catalog.vocab import TokenScope
from tests.factories import SYSTEM, make_user

READ = frozenset({TokenScope.READ})


def actor_of(session, user, scopes=frozenset({"read", "write"})) -> Actor:
    return users.actor_for_user(session, user, scopes=scopes)


def test_a_user_with_write_scope_makes_their_own_tokens(session):
    user = make_user(session)
    row, token = create_token(session, actor_of(session, user), user, name="etl", scopes=READ)
    assert row.scopes == ["read"] and row.name == "etl"
    assert token_id_for(session, token) == row.id
    assert token_id_for(session, token + "x") is None
    assert users.actor_for_token(session, token).scopes == frozenset({"read"})


def test_read_only_and_anonymous_callers_make_no_tokens(session):
    user = make_user(session)
    with pytest.raises(Forbidden):
        create_token(session, actor_of(session, user, frozenset({"read"})), user)
    with pytest.raises(Unauthorized):
        create_token(session, Actor.anonymous(), user)
    assert session.query(ApiToken).count() == 0


def test_nobody_but_sysadmins_makes_tokens_for_others(session):
    user, other = make_user(session), make_user(session)
    with pytest.raises(Forbidden):
        create_token(session, actor_of(session, user), other)
    admin = make_user(session, sysadmin=True)
    row, _token = create_token(session, actor_of(session, admin), other)
    assert row.user_id == other.id


def test_tokens_need_a_scope_and_a_future_expiry(session):
    user = make_user(session)
    actor = actor_of(session, user)
    with pytest.raises(InvalidInput):
        create_token(session, actor, user, scopes=frozenset())
    with pytest.raises(InvalidInput):
        create_token(session, actor, user, expires_in=timedelta(0))


def test_the_list_leaves_out_revoked_tokens_and_other_users(session):
    user, other = make_user(session), make_user(session)
    kept, _ = create_token(session, SYSTEM, user, name="kept")
    spent, _ = create_token(session, SYSTEM, user, name="spent")
    create_token(session, SYSTEM, other)
    revoke_token(session, actor_of(session, user), spent.id)
    assert [t.id for t in list_tokens(session, actor_of(session, user), user)] == [kept.id]
    with pytest.raises(Forbidden):
        list_tokens(session, actor_of(session, user), other)


def test_revoking_checks_owner_and_scope(session):
    user, other = make_user(session), make_user(session)
    row, _ = create_token(session, SYSTEM, other)
    with pytest.raises(NotFound):
        revoke_token(session, actor_of(session, user), row.id)
    with pytest.raises(Forbidden):
        revoke_token(session, actor_of(session, other, frozenset({"read"})), row.id)
    with pytest.raises(Unauthorized):
        revoke_token(session, Actor.anonymous(), row.id)
    session.refresh(row)
    assert row.revoked_at is None
    revoke_token(session, actor_of(session, other), row.id)
    revoked_at = session.get(ApiToken, row.id).revoked_at
    assert revoked_at is not None
    # Revoking again keeps the first moment.
    revoke_token(session, actor_of(session, other), row.id)
    assert session.get(ApiToken, row.id).revoked_at == revoked_at


def test_the_token_owner_is_the_caller_unless_a_sysadmin_names_another(session):
    user = make_user(session, name="alice")
    make_user(session, name="bob")
    assert token_owner(session, actor_of(session, user)).id == user.id
    assert token_owner(session, actor_of(session, user), "alice").id == user.id
    with pytest.raises(Forbidden):
        token_owner(session, actor_of(session, user), "bob")
    with pytest.raises(Forbidden):
        token_owner(session, actor_of(session, user), "nobody")
    admin = actor_of(session, make_user(session, sysadmin=True))
    assert token_owner(session, admin, "bob").name == "bob"
    with pytest.raises(NotFound):
        token_owner(session, admin, "nobody")
    # The command line acts for nobody in particular: it must name the user.
    with pytest.raises(InvalidInput):
        token_owner(session, SYSTEM)
