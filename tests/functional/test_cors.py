"""CORS: any origin reads the API and the open metadata, never with credentials; writes
cross origins only with a bearer token."""

from sqlalchemy import func, select

from catalog.models import Dataset
from tests.factories import make_department, make_user

ORIGIN = "https://developer.example.org"


def preflight(client, path: str, method: str, headers: str = ""):
    request_headers = {"Origin": ORIGIN, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=request_headers)


def listed(response, header: str) -> set[str]:
    return {part.strip().lower() for part in response.headers.get(header, "").split(",")}


def test_a_cross_origin_read_is_answered_for_any_origin(client):
    response = client.get("/api/v1/datasets", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    exposed = listed(response, "Access-Control-Expose-Headers")
    assert {
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "etag",
        "link",
        "content-disposition",
    } <= exposed


def test_a_preflight_allows_bearer_writes_without_credentials(client):
    response = preflight(client, "/api/v1/datasets", "POST", "Authorization, Content-Type")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert {"post", "patch", "delete", "get"} <= listed(response, "Access-Control-Allow-Methods")
    assert {"authorization", "content-type"} <= listed(response, "Access-Control-Allow-Headers")
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_a_preflight_does_not_allow_headers_beyond_the_list(client):
    response = preflight(client, "/api/v1/datasets", "GET", "Authorization, X-Evil")
    assert listed(response, "Access-Control-Allow-Headers") == {"authorization"}


def test_the_open_metadata_is_readable_but_not_writable_across_origins(client):
    for path in ("/catalog.ttl", "/data.json", "/dataset/schools.jsonld"):
        read = preflight(client, path, "GET")
        assert read.headers.get("Access-Control-Allow-Origin") == "*", path
        assert "GET" in read.headers.get("Access-Control-Allow-Methods", ""), path
        write = preflight(client, path, "POST")
        assert "Access-Control-Allow-Methods" not in write.headers, path


def test_pages_are_not_shared_across_origins(client):
    for path in ("/", "/datasets", "/login"):
        response = client.get(path, headers={"Origin": ORIGIN})
        assert response.status_code == 200, path
        assert "Access-Control-Allow-Origin" not in response.headers, path


def test_a_session_cookie_authorises_no_cross_site_write(client, session):
    steward = make_user(session, department=make_department(session, slug="edu"), role="editor")
    with client.session_transaction() as cookie_session:
        cookie_session["user_id"] = steward.id
    response = client.post(
        "/api/v1/datasets",
        json={
            "slug": "by-cookie",
            "title": "经由 Cookie",
            "department": "edu",
            "open_type": "unconditional",
            "share_type": "unconditional",
        },
        headers={"Origin": ORIGIN},
    )
    # Refused as from anyone (the service answers an anonymous create with 403).
    assert response.status_code in (401, 403)
    assert session.scalar(select(func.count()).select_from(Dataset)) == 0
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
