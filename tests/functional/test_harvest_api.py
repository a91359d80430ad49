"""Harvest sources and jobs through the REST API: who may see and manage them, what bad
input gets, and a run from request to report."""

import pytest
from sqlalchemy import func, select

from catalog.models import HarvestJob, HarvestSource
from catalog.vocab import TokenScope
from tests.factories import bearer, make_department, make_user, token_for
from tests.unit.harvesters.sample_source import register_sample_type

SOURCE = {
    "name": "教育局目录",
    "kind": "sample",
    "url": "sample:",
    "config": {"titles": ["禅城区学校名录", "", "禅城区幼儿园名录", ""]},
    "schedule": "0 2 * * *",
}


@pytest.fixture(autouse=True)
def sample_type(monkeypatch):
    register_sample_type(monkeypatch)


@pytest.fixture
def people(session):
    """A department with a steward, a member and a read-only token of the steward, and
    another department's steward."""
    department = make_department(session, slug="edu")
    other = make_department(session, slug="parks")
    steward = make_user(session, department=department, role="editor")
    member = make_user(session, department=department, role="member")
    outsider = make_user(session, department=other, role="admin")
    return {
        "steward": bearer(token_for(session, steward)),
        "reader": bearer(token_for(session, steward, scopes=frozenset({TokenScope.READ}))),
        "member": bearer(token_for(session, member)),
        "outsider": bearer(token_for(session, outsider)),
        "anonymous": {},
    }


def count(backends, model) -> int:
    with backends.sessions() as check:
        return check.scalar(select(func.count()).select_from(model))


def add_source(client, people, **changes) -> dict:
    response = client.post(
        "/api/v1/departments/edu/harvest-sources",
        json={**SOURCE, **changes},
        headers=people["steward"],
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_stewards_manage_members_read_others_see_nothing(client, people, backends):
    source = add_source(client, people)
    assert (source["kind"], source["schedule"], source["on_missing"]) == (
        "sample",
        "0 2 * * *",
        "withdraw",
    )
    assert source["department"] == {"slug": "edu", "name": source["department"]["name"]}
    path = f"/api/v1/harvest-sources/{source['id']}"

    for who in ("steward", "reader", "member"):
        listed = client.get("/api/v1/departments/edu/harvest-sources", headers=people[who])
        assert [s["id"] for s in listed.get_json()] == [source["id"]], who
        assert client.get(path, headers=people[who]).status_code == 200
    for who in ("outsider", "anonymous"):
        assert (
            client.get("/api/v1/departments/edu/harvest-sources", headers=people[who]).status_code
            == 404
        )
        assert client.get(path, headers=people[who]).status_code == 404
        assert client.patch(path, json={"name": "x"}, headers=people[who]).status_code in (401, 404)
        assert client.post(f"{path}/jobs", headers=people[who]).status_code in (401, 404)

    # Members and read-only tokens read but do not manage.
    for who in ("member", "reader"):
        refused = client.post(
            "/api/v1/departments/edu/harvest-sources",
            json={**SOURCE, "name": "另一个"},
            headers=people[who],
        )
        assert refused.status_code == 403, who
        assert client.patch(path, json={"name": "改名"}, headers=people[who]).status_code == 403
        assert client.post(f"{path}/jobs", headers=people[who]).status_code == 403
        assert client.delete(path, headers=people[who]).status_code == 403
    # Another department's steward may not add sources here.
    assert (
        client.post(
            "/api/v1/departments/edu/harvest-sources",
            json={**SOURCE, "name": "外部"},
            headers=people["outsider"],
        ).status_code
        == 403
    )
    assert count(backends, HarvestSource) == 1
    assert count(backends, HarvestJob) == 0

    changed = client.patch(
        path, json={"schedule": "30 3 * * 1", "on_missing": "keep"}, headers=people["steward"]
    )
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["schedule"], changed.get_json()["on_missing"]) == (
        "30 3 * * 1",
        "keep",
    )
    assert changed.get_json()["name"] == SOURCE["name"]  # untouched fields stay


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        ({}, 422, {"name", "kind", "url"}),
        ({**SOURCE, "kind": "nope"}, 422, {"kind"}),
        ({**SOURCE, "url": "ftp://files.example"}, 422, {"url"}),
        ({**SOURCE, "schedule": "every night"}, 422, {"schedule"}),
        ({**SOURCE, "on_missing": "delete"}, 422, {"on_missing"}),
        ({**SOURCE, "config": ["not", "an", "object"]}, 422, {"config"}),
        (
            {**SOURCE, "dataset_defaults": {"open_type": "sometimes"}},
            422,
            {"dataset_defaults.open_type"},
        ),
        ({**SOURCE, "unknown": 1}, 422, {"unknown"}),
        # PostgreSQL stores no NUL character: the API refuses any JSON body holding one.
        ({**SOURCE, "name": "教育\x00局"}, 422, {"json"}),
        ({**SOURCE, "config": {"titles": ["学校\x00"]}}, 422, {"json"}),
    ],
)
def test_bad_sources_are_refused_with_field_errors(client, people, backends, body, status, fields):
    response = client.post(
        "/api/v1/departments/edu/harvest-sources", json=body, headers=people["steward"]
    )
    assert response.status_code == status
    problem = response.get_json()
    assert response.content_type == "application/problem+json"
    assert set(problem["errors"]) == fields, problem
    assert count(backends, HarvestSource) == 0


def test_a_body_that_is_not_json_is_a_400(client, people, backends):
    response = client.post(
        "/api/v1/departments/edu/harvest-sources",
        data="{not json",
        headers={**people["steward"], "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert count(backends, HarvestSource) == 0


def test_bad_changes_change_nothing(client, people):
    source = add_source(client, people)
    path = f"/api/v1/harvest-sources/{source['id']}"
    for body, field in (
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"name": ""}, "name"),
        ({"id": "x"}, "id"),
    ):
        response = client.patch(path, json=body, headers=people["steward"])
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"]
    assert client.get(path, headers=people["member"]).get_json() == source


def test_run_report_errors_and_cancel(app, client, people, backends):
    source = add_source(client, people)
    jobs_path = f"/api/v1/harvest-sources/{source['id']}/jobs"

    queued = client.post(jobs_path, headers=people["steward"])
    assert queued.status_code == 202, queued.get_json()
    job = queued.get_json()
    assert (job["status"], job["trigger"], job["stuck"]) == ("queued", "manual", False)
    # One job per source at a time.
    assert client.post(jobs_path, headers=people["steward"]).status_code == 409
    cancelled = client.post(f"/api/v1/harvest-jobs/{job['id']}/cancel", headers=people["steward"])
    assert cancelled.get_json()["status"] == "cancelled"
    assert (
        client.post(
            f"/api/v1/harvest-jobs/{job['id']}/cancel", headers=people["steward"]
        ).status_code
        == 409
    )

    # Run the next one at once, as a worker would.
    app.extensions["opendata.jobs"].huey.immediate = True
    ran = client.post(jobs_path, headers=people["steward"]).get_json()
    report = client.get(f"/api/v1/harvest-jobs/{ran['id']}", headers=people["member"])
    assert report.status_code == 200
    body = report.get_json()
    assert body["status"] == "succeeded", body["error"]
    assert body["status_label"] == "已完成"
    assert body["counts"] == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
        "failed": 2,
    }
    assert body["source"]["id"] == source["id"]

    first = client.get(
        body["links"]["errors"] + "?page_size=1", headers=people["member"]
    ).get_json()
    assert [e["remote_id"] for e in first["items"]] == ["item-1"]
    assert first["items"][0]["stage"] == "gather"
    assert '"title": ""' in first["items"][0]["payload"]
    second = client.get(first["links"]["next"], headers=people["member"]).get_json()
    assert [e["remote_id"] for e in second["items"]] == ["item-3"]
    assert "next" not in second["links"] and "prev" in second["links"]

    listed = client.get(jobs_path, headers=people["member"]).get_json()
    assert [j["status"] for j in listed] == ["succeeded", "cancelled"]
    only = client.get(f"{jobs_path}?status=cancelled", headers=people["member"]).get_json()
    assert [j["id"] for j in only] == [job["id"]]
    assert client.get(f"{jobs_path}?status=bogus", headers=people["member"]).status_code == 422
    for who in ("outsider", "anonymous"):
        assert (
            client.get(f"/api/v1/harvest-jobs/{ran['id']}", headers=people[who]).status_code == 404
        )
        assert client.get(body["links"]["errors"], headers=people[who]).status_code == 404
    assert (
        client.post(
            f"/api/v1/harvest-jobs/{ran['id']}/cancel", headers=people["member"]
        ).status_code
        == 403
    )


def test_a_switched_off_source_does_not_run(client, people):
    source = add_source(client, people)
    path = f"/api/v1/harvest-sources/{source['id']}"
    assert client.delete(path, headers=people["steward"]).status_code == 204
    assert client.get(path, headers=people["member"]).get_json()["active"] is False
    refused = client.post(f"{path}/jobs", headers=people["steward"])
    assert refused.status_code == 409
    assert "switched off" in refused.get_json()["detail"]


def test_when_the_queue_does_not_answer_nothing_is_left_queued(app, client, people, backends):
    source = add_source(client, people)

    def refuse(*_args):
        raise OSError("queue file is read-only")

    app.extensions["opendata.jobs"].huey.storage.enqueue = refuse
    response = client.post(
        f"/api/v1/harvest-sources/{source['id']}/jobs", headers=people["steward"]
    )
    assert response.status_code == 503
    assert "read-only" in response.get_json()["detail"]
    with backends.sessions() as check:
        assert check.scalars(select(HarvestJob.status)).all() == ["cancelled"]


def test_ids_that_are_not_uuids_are_404(client, people):
    for path in ("/api/v1/harvest-sources/not-an-id", "/api/v1/harvest-jobs/x%00y/errors"):
        assert client.get(path, headers=people["steward"]).status_code == 404


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    run_now = paths["/api/v1/harvest-sources/{source_id}/jobs"]["post"]
    assert run_now["summary"].startswith("Harvest the source now")
    assert {"202", "409", "503"} <= set(run_now["responses"])
    assert "/api/v1/departments/{slug}/harvest-sources" in paths
    assert "/api/v1/harvest-jobs/{job_id}/errors" in paths
