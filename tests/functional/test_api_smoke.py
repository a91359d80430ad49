from portal.indexing import drain
from tests.factories import bearer, make_dataset, make_department, make_user, token_for


def test_dataset_roundtrip_through_api(client, session, backends):
    department = make_department(session, slug="edu", name="佛山市禅城区教育局")
    steward = make_user(session, department=department, role="editor")
    token = token_for(session, steward)
    make_dataset(session, department, slug="schools", title="禅城区中小学校名录")
    drain(backends)

    listing = client.get("/api/v1/datasets?q=学校").get_json()
    assert listing["total"] == 1
    assert listing["items"][0]["title"] == "禅城区中小学校名录"

    created = client.post(
        "/api/v1/datasets",
        json={
            "slug": "kindergartens",
            "title": "禅城区幼儿园名录",
            "department": "edu",
            "open_type": "有条件开放",
            "share_type": "unconditional",
            "state": "published",
        },
        headers=bearer(token),
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["open_type"] == "conditional"

    shown = client.get("/api/v1/datasets/kindergartens")
    assert shown.status_code == 200
    assert shown.headers["ETag"]
    assert (
        client.get(
            "/api/v1/datasets/kindergartens", headers={"If-None-Match": shown.headers["ETag"]}
        ).status_code
        == 304
    )
    # The write was indexed as its request ended.
    assert client.get("/api/v1/datasets?q=幼儿园").get_json()["total"] == 1
    assert client.get("/api/v1/datasets/suggest?q=禅城").get_json()["suggestions"]


def test_a_body_that_is_not_json_is_a_clear_error(client, session):
    steward = make_user(session, department=make_department(session), role="editor")
    response = client.post(
        "/api/v1/datasets",
        data="not json",
        headers={**bearer(token_for(session, steward)), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"json": ["Invalid JSON body."]}


def test_departments_are_paged_and_filtered(client, session):
    for number in range(3):
        make_department(session, slug=f"dept-page-{number}", name=f"测试局{number}")
    make_department(session, slug="edu-x", name="佛山市禅城区教育局")
    first = client.get("/api/v1/departments?page_size=2")
    assert len(first.get_json()) == 2
    assert '"total": 4' in first.headers["X-Pagination"]
    assert [d["slug"] for d in client.get("/api/v1/departments?q=教育").get_json()] == ["edu-x"]
