"""Rate limits through HTTP: one budget per token or per address, headers on every API
answer, 429 problem details with Retry-After past the limit, Redis shared by processes."""

import dataclasses
import os
import secrets

import pytest
from sqlalchemy import func, select

from catalog.models import Dataset
from portal.app import create_app
from tests.factories import bearer, make_department, make_user, token_for

REDIS_URL = os.environ.get("OPENDATA_TEST_REDIS_URL")
LIMIT = 3
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def limited_app(settings, backends, **changes):
    changes.setdefault("rate_limit", f"{LIMIT}/minute;1000/day")
    return create_app(dataclasses.replace(settings, **changes), backends)


@pytest.fixture
def client(settings, backends):
    return limited_app(settings, backends).test_client()


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_the_request_past_the_limit_is_refused_with_problem_details(client):
    remaining = []
    for _ in range(LIMIT):
        response = client.get("/api/v1/themes")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == str(LIMIT)
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        # Retry-After means "wait": it comes with the refusal only.
        assert "Retry-After" not in response.headers
    assert remaining == [2, 1, 0]

    refused = client.get("/api/v1/themes")
    assert refused.status_code == 429
    assert refused.content_type == "application/problem+json"
    body = refused.get_json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests"
    assert f"{LIMIT} per 1 minute" in body["detail"]
    assert 0 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) > 0


def test_a_refused_write_changes_nothing(client, session):
    steward = make_user(session, department=make_department(session, slug="edu"), role="editor")
    headers = bearer(token_for(session, steward))
    for _ in range(LIMIT):
        client.get("/api/v1/themes", headers=headers)
    response = client.post(
        "/api/v1/datasets",
        json={
            "slug": "too-many",
            "title": "超出限额",
            "department": "edu",
            "open_type": "unconditional",
            "share_type": "unconditional",
        },
        headers=headers,
    )
    assert response.status_code == 429
    assert session.scalar(select(func.count()).select_from(Dataset)) == 0


def test_every_api_answer_carries_the_headers_and_pages_are_not_limited(client):
    for path, status in (
        ("/api/v1/datasets", 200),
        ("/api/v1/datasets/no-such-dataset", 404),
        ("/api/v1/openapi.json", 200),
    ):
        response = client.get(path)
        assert response.status_code == status, path
        assert all(name in response.headers for name in RATE_HEADERS), path
    for path in ("/", "/static/css/portal.css", "/static/img/favicon.svg"):
        for _ in range(LIMIT + 1):
            response = client.get(path)
            assert response.status_code == 200, path
        assert not any(name in response.headers for name in RATE_HEADERS), path


def test_tokens_are_counted_apart_and_apart_from_their_address(client, session):
    department = make_department(session)
    first = bearer(token_for(session, make_user(session, department=department)))
    second = bearer(token_for(session, make_user(session, department=department)))
    for _ in range(LIMIT):
        assert client.get("/api/v1/themes", headers=first).status_code == 200
    assert client.get("/api/v1/themes", headers=first).status_code == 429
    # Same address, another token, and no token at all: each has its own budget.
    assert client.get("/api/v1/themes", headers=second).status_code == 200
    assert client.get("/api/v1/themes").status_code == 200


def test_ckan_clients_tokens_are_counted_per_token(client, session):
    token = token_for(session, make_user(session, department=make_department(session)))
    for headers in ({"Authorization": token}, {"X-CKAN-API-Key": token}):
        status = client.get("/api/3/action/status_show", headers=headers)
        assert status.status_code == 200
    # Both spent the token's budget, not the address's.
    assert client.get("/api/3/action/status_show").headers["X-RateLimit-Remaining"] == str(
        LIMIT - 1
    )
    spent = client.get("/api/3/action/status_show", headers={"Authorization": token})
    assert spent.headers["X-RateLimit-Remaining"] == str(LIMIT - 3)


def test_anonymous_callers_are_counted_per_address(client):
    for _ in range(LIMIT):
        assert client.get("/api/v1/themes", **from_address("10.1.0.1")).status_code == 200
    assert client.get("/api/v1/themes", **from_address("10.1.0.1")).status_code == 429
    response = client.get("/api/v1/themes", **from_address("10.1.0.2"))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == str(LIMIT - 1)


def test_unknown_tokens_spend_their_address_budget(client):
    guesses = [bearer("odp_" + secrets.token_urlsafe(32)) for _ in range(LIMIT)]
    for guess in guesses:
        assert client.get("/api/v1/datasets", headers=guess).status_code == 401
    assert client.get("/api/v1/datasets").status_code == 429


def test_preflights_are_not_counted(client):
    preflight = {
        "Origin": "https://example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization",
    }
    for _ in range(LIMIT + 2):
        assert client.options("/api/v1/datasets", headers=preflight).status_code == 200
    assert client.get("/api/v1/themes").headers["X-RateLimit-Remaining"] == str(LIMIT - 1)


def test_a_rate_limit_that_does_not_parse_stops_the_start(settings, backends):
    with pytest.raises(ValueError, match="OPENDATA_RATE_LIMIT"):
        limited_app(settings, backends, rate_limit="many per minute")


def test_an_unreachable_redis_falls_back_to_counting_in_memory(settings, backends):
    # Port 1 on loopback: connections are refused at once.
    app = limited_app(settings, backends, rate_limit_storage_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    statuses = [client.get("/api/v1/themes").status_code for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]


@pytest.mark.skipif(
    not REDIS_URL, reason="OPENDATA_TEST_REDIS_URL is not set (run scripts/services.sh start)"
)
def test_processes_sharing_a_redis_share_the_counters(settings, backends):
    first = limited_app(settings, backends, rate_limit_storage_url=REDIS_URL).test_client()
    second = limited_app(settings, backends, rate_limit_storage_url=REDIS_URL).test_client()
    # An address of its own, so runs in parallel or a minute apart never share a counter.
    address = "10.{}.{}.{}".format(*secrets.token_bytes(3))
    statuses = []
    for number in range(LIMIT + 1):
        client = first if number % 2 == 0 else second
        statuses.append(client.get("/api/v1/themes", **from_address(address)).status_code)
    assert statuses == [200] * LIMIT + [429]


@pytest.mark.skipif(
    not REDIS_URL, reason="OPENDATA_TEST_REDIS_URL is not set (run scripts/services.sh start)"
)
def test_the_queue_redis_holds_the_counters_when_no_limiter_storage_is_set(settings, backends):
    first = limited_app(settings, backends, queue_url=REDIS_URL).test_client()
    second = limited_app(settings, backends, queue_url=REDIS_URL).test_client()
    address = "10.{}.{}.{}".format(*secrets.token_bytes(3))
    for _ in range(LIMIT):
        assert first.get("/api/v1/themes", **from_address(address)).status_code == 200
    assert second.get("/api/v1/themes", **from_address(address)).status_code == 429
