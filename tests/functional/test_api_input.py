"""Input the database cannot take is a clear 4xx, never a 500: NUL characters, numbers
past INTEGER, strings past a column's length, an empty licence. And the document declares
the problem-details answers each operation may give."""

from sqlalchemy import func, select

from catalog.models import Dataset, SynonymSet
from tests.factories import bearer, make_dataset, make_department, make_user, token_for

HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}
WRITE_METHODS = {"put", "post", "patch", "delete"}
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def admin_headers(session):
    return bearer(token_for(session, make_user(session, sysadmin=True)))


def is_problem(response, status: int) -> bool:
    body = response.get_json(silent=True) or {}
    return (
        response.status_code == status
        and response.content_type == "application/problem+json"
        and body.get("status") == status
        and bool(body.get("detail"))
    )


def test_a_nul_in_the_path_is_not_found(client):
    assert is_problem(client.get("/api/v1/datasets/a%00b"), 404)
    assert is_problem(client.get("/api/v1/departments/%00"), 404)


def test_a_nul_in_the_query_is_named(client):
    response = client.get("/api/v1/datasets?q=%E5%AD%A6%00")
    assert is_problem(response, 422)
    assert "query" in response.get_json()["errors"]


def test_a_nul_in_a_json_body_is_named_and_changes_nothing(client, session):
    response = client.post(
        "/api/v1/synonyms",
        json={"terms": ["医保", "医疗\u0000保险"]},
        headers=admin_headers(session),
    )
    assert is_problem(response, 422)
    assert "json" in response.get_json()["errors"]
    assert session.scalar(select(func.count()).select_from(SynonymSet)) == 0


def test_an_escaped_backslash_before_u0000_is_plain_text(client, session):
    response = client.post(
        "/api/v1/synonyms",
        data='{"terms": ["a\\\\u0000b", "c"]}',
        content_type="application/json",
        headers=admin_headers(session),
    )
    assert response.status_code == 201
    assert response.get_json()["terms"] == ["a\\u0000b", "c"]


def test_an_id_past_integer_is_not_found(client, session):
    response = client.delete("/api/v1/synonyms/2147483648", headers=admin_headers(session))
    assert is_problem(response, 404)


def test_dataset_fields_keep_to_their_columns(client, session):
    department = make_department(session, slug="edu")
    make_dataset(session, department, slug="schools", contact_email="office@example.org")
    headers = admin_headers(session)
    url = "/api/v1/datasets/schools"
    for body, field in (
        ({"provider": "局" * 201}, "provider"),
        ({"contact_phone": "1" * 51}, "contact_phone"),
        ({"license": ""}, "license"),
    ):
        response = client.patch(url, json=body, headers=headers)
        assert is_problem(response, 422), body
        assert field in response.get_json()["errors"]
    # null clears the contact email.
    cleared = client.patch(url, json={"contact_email": None}, headers=headers)
    assert cleared.status_code == 200
    assert cleared.get_json()["contact_email"] == ""
    stored = session.scalar(select(Dataset.contact_email).where(Dataset.slug == "schools"))
    assert stored == ""


def test_every_operation_declares_its_problem_answers(client):
    document = client.get("/api/v1/openapi.json").get_json()
    components = document["components"]["responses"]
    assert document["components"]["schemas"]["Problem"]["required"] == ["detail", "status", "title"]
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation["responses"]
            expected = {"400", "401", "403", "404", "422", "429"}
            if method in WRITE_METHODS:
                expected |= {"409", "413"}
            if "default" in responses or not expected <= set(responses):
                missing.append(f"{method.upper()} {path}")
            for code, response in responses.items():
                if int(code) < 400:
                    continue
                if "$ref" in response:
                    response = components[response["$ref"].rpartition("/")[2]]
                content = response.get("content", {})
                if content.get("application/problem+json", {}).get("schema") != PROBLEM:
                    missing.append(f"{method.upper()} {path} {code}")
    assert not missing
    assert "Retry-After" in components["Problem429"]["headers"]


def test_nul_characters_outside_the_rest_api_are_plain_http_errors(client):
    assert client.get("/datasets/a%00b").status_code == 404
    assert client.get("/datasets?q=%00").status_code == 400
    assert client.get("/api/3/action/package_show?id=a%00b").status_code == 400
    assert client.get("/dataset/a%00b.ttl").status_code == 404
