"""The datasets API tells a caller everything wrong at once and keeps to its document:
every field error in one answer, the required fields and vocabularies as the service
enforces them, 415 for a body that is not JSON, filter values it does not know named
rather than answered with nothing, Chinese labels taken for codes, and a file's address
and checksum withheld alike wherever a resource is shown to one who may not fetch it."""

import io

import pytest
from sqlalchemy import func, select

from catalog.models import AuditEvent, Dataset
from catalog.services.departments import create_theme
from catalog.services.resources import ResourceValues, add_resource
from portal.indexing import drain
from tests.factories import (
    SYSTEM,
    bearer,
    grant_to_user,
    make_dataset,
    make_department,
    make_user,
    token_for,
)

VALID = {
    "slug": "kindergartens",
    "title": "禅城区幼儿园名录",
    "department": "edu",
    "open_type": "unconditional",
    "share_type": "unconditional",
}


@pytest.fixture
def edu(session):
    department = make_department(session, slug="edu", name="佛山市禅城区教育局")
    create_theme(session, SYSTEM, "education", "教育文化")
    session.commit()
    return department


@pytest.fixture
def steward(session, edu):
    return bearer(token_for(session, make_user(session, department=edu, role="editor")))


def counts(session) -> tuple[int, int]:
    session.expire_all()
    datasets = session.scalar(select(func.count()).select_from(Dataset))
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    return datasets, events


# -- one request, every field error --------------------------------------------------------------


def test_a_create_reports_every_field_error_at_once_and_writes_nothing(client, session, steward):
    before = counts(session)
    body = {
        **VALID,
        "contact_email": "not an address",
        "open_type": "bogus",
        "share_type": "半开放",
        "license": "no-such-licence",
        "themes": ["education", "nowhere"],
    }
    response = client.post("/api/v1/datasets", json=body, headers=steward)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"contact_email", "open_type", "share_type", "license", "themes"}
    assert "conditional (有条件开放)" in errors["open_type"][0]
    assert errors["themes"] == ["Unknown themes: nowhere."]
    assert counts(session) == before


def test_a_patch_reports_every_field_error_at_once_and_changes_nothing(
    client, session, edu, steward
):
    dataset = make_dataset(session, edu)
    before = counts(session)
    body = {
        "contact_email": "nobody",
        "update_frequency": "每两年",
        "department": "nowhere",
        "license": "nope",
        "themes": ["nowhere"],
        "title": "   ",
    }
    response = client.patch(f"/api/v1/datasets/{dataset.slug}", json=body, headers=steward)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(body)
    assert counts(session) == before


def test_an_empty_title_is_named_once(client, session, steward):
    body = {**VALID, "title": ""}
    response = client.post("/api/v1/datasets", json=body, headers=steward)
    assert response.status_code == 422
    assert response.get_json()["errors"]["title"] == ["A dataset needs a title."]


def test_the_missing_required_fields_are_named_together(client, steward):
    response = client.post("/api/v1/datasets", json={"slug": "x", "title": "t"}, headers=steward)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"department", "open_type", "share_type"}


def test_a_create_without_credentials_asks_for_them_and_writes_nothing(client, session, edu):
    before = counts(session)
    answer = client.post("/api/v1/datasets", json=VALID)
    assert answer.status_code == 401, answer.get_json()
    assert "bearer token" in answer.get_json()["detail"]
    assert counts(session) == before


def test_labels_are_accepted_for_codes_in_writes(client, steward):
    body = {**VALID, "open_type": "有条件开放", "update_frequency": "每季度"}
    created = client.post("/api/v1/datasets", json=body, headers=steward)
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["open_type"], created.get_json()["update_frequency"]) == (
        "conditional",
        "quarterly",
    )


# -- the document says what the service enforces ---------------------------------------------------


def test_the_document_declares_required_fields_and_vocabularies(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    created = schemas["DatasetInput"]
    assert set(created["required"]) == {"slug", "title", "department", "open_type", "share_type"}
    assert created["properties"]["open_type"]["enum"] == [
        "unconditional",
        "conditional",
        "not_open",
        "无条件开放",
        "有条件开放",
        "不予开放",
    ]
    for name in ("share_type", "share_method", "update_frequency", "state"):
        assert len(created["properties"][name]["enum"]) >= 6, name
    assert "required" not in schemas["DatasetPatch"]
    assert (
        schemas["DatasetPatch"]["properties"]["open_type"]["enum"]
        == (created["properties"]["open_type"]["enum"])
    )


def test_the_document_declares_the_filter_vocabularies(client):
    document = client.get("/api/v1/openapi.json").get_json()
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/datasets"]["get"]["parameters"]}
    assert "有条件共享" in parameters["share_type"]["schema"]["items"]["enum"]
    assert "每月" in parameters["update_frequency"]["schema"]["items"]["enum"]
    assert "enum" not in parameters["format"]["schema"]["items"]  # any format may be stored


# -- a body that is not JSON -----------------------------------------------------------------------


def test_a_form_body_is_refused_as_unsupported(client, session, steward):
    before = counts(session)
    for method, url in (
        ("post", "/api/v1/datasets"),
        ("patch", "/api/v1/datasets/any"),
        ("post", "/api/v1/synonyms"),
    ):
        response = getattr(client, method)(url, data=VALID, headers=steward)
        assert response.status_code == 415, (method, url)
        assert response.content_type == "application/problem+json"
        assert "application/json" in response.get_json()["detail"]
    text = client.post("/api/v1/datasets", data="{}", content_type="text/plain", headers=steward)
    assert text.status_code == 415
    assert counts(session) == before


def test_the_document_declares_415_where_a_json_body_is_read(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "415" in paths["/api/v1/datasets"]["post"]["responses"]
    assert "415" in paths["/api/v1/datasets/{slug}"]["patch"]["responses"]
    assert "415" not in paths["/api/v1/datasets"]["get"]["responses"]


# -- filters ---------------------------------------------------------------------------------------


@pytest.fixture
def catalog(session, backends, edu):
    make_dataset(session, edu, slug="schools", update_frequency="annual")
    make_dataset(session, edu, slug="fees", open_type="conditional", share_type="conditional")
    drain(backends)


@pytest.mark.parametrize(
    ("param", "accepted"),
    [
        ("open_type", "conditional (有条件开放)"),
        ("share_type", "not_shared (不予共享)"),
        ("update_frequency", "monthly (每月)"),
    ],
)
def test_an_unknown_filter_value_is_named_with_the_values_accepted(
    client, catalog, param, accepted
):
    response = client.get(f"/api/v1/datasets?{param}=bogus")
    assert response.status_code == 422
    (message,) = response.get_json()["errors"][param]
    assert "'bogus'" in message and accepted in message


def test_an_unknown_sort_is_named_with_the_sorts_accepted(client, catalog):
    response = client.get("/api/v1/datasets?sort=bogus")
    assert response.status_code == 422
    assert "modified" in response.get_json()["errors"]["sort"][0]


def test_filters_take_the_chinese_label_for_the_code(client, catalog):
    def slugs(query: str) -> list[str]:
        response = client.get(f"/api/v1/datasets?{query}")
        assert response.status_code == 200, response.get_json()
        return sorted(item["slug"] for item in response.get_json()["items"])

    assert slugs("open_type=有条件开放") == slugs("open_type=conditional") == ["fees"]
    assert slugs("update_frequency=每年") == ["schools"]
    assert slugs("open_type=有条件开放&open_type=unconditional") == ["fees", "schools"]


def test_the_search_page_takes_labels_and_says_what_it_ignored(client, catalog):
    labelled = client.get("/datasets?open_type=有条件开放").get_data(as_text=True)
    assert "共 <strong>1</strong> 个数据集" in labelled
    assert "无法识别" not in labelled
    unknown = client.get("/datasets?open_type=bogus&share_type=有条件共享")
    assert unknown.status_code == 200
    text = unknown.get_data(as_text=True)
    notice = "无法识别的开放类型「bogus」，已忽略此条件。可选：无条件开放、有条件开放、不予开放。"
    assert notice in text
    assert "共 <strong>1</strong> 个数据集" in text  # the share type still filters


# -- a file's address and checksum, withheld alike -------------------------------------------------


def test_every_view_of_a_conditional_file_withholds_its_address_and_checksum(
    client, session, backends, edu
):
    dataset = make_dataset(session, edu, slug="fees", open_type="conditional")
    resource = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        dataset.slug,
        ResourceValues(name="收费标准", format="CSV", media_type="text/csv"),
        content=io.BytesIO("学校,学费\n一中,0\n".encode()),
        file_name="fees.csv",
    )
    holder = make_user(session)
    grant_to_user(session, dataset, holder)
    callers = {
        "anonymous": ({}, False),
        "public": (bearer(token_for(session, make_user(session))), False),
        "grant holder": (bearer(token_for(session, holder)), True),
        "owner": (bearer(token_for(session, make_user(session, department=edu))), True),
    }
    versions_url = f"/api/v1/datasets/fees/resources/{resource.id}/versions"
    for name, (headers, may_fetch) in callers.items():
        shown = client.get("/api/v1/datasets/fees", headers=headers).get_json()
        (embedded,) = shown["resources"]
        (version,) = client.get(versions_url, headers=headers).get_json()
        assert shown["access"]["read_data"] is may_fetch, name
        facts = (embedded["url"], embedded["sha256"], version["download_url"], version["sha256"])
        if may_fetch:
            assert None not in facts, name
            assert embedded["sha256"] == version["sha256"] == resource.sha256
        else:
            assert facts == (None, None, None, None), name
            assert client.get(embedded_download(resource), headers=headers).status_code == 403
        assert version["size"] == embedded["size"] == resource.size  # metadata for all


def embedded_download(resource) -> str:
    return f"/api/v1/datasets/fees/resources/{resource.id}/download"
