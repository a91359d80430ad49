"""Portal statistics through the API: every figure counts only what the caller may see."""

from datetime import date

import pytest

from catalog.models import DownloadCount
from catalog.services.resources import ResourceValues, add_resource
from tests.factories import SYSTEM, bearer, make_dataset, make_department, make_user, token_for

STATISTICS = "/api/v1/statistics"


def link(session, backends, dataset, name: str, format_: str, rows: int):
    return add_resource(
        session,
        SYSTEM,
        backends.object_store,
        dataset.slug,
        ResourceValues(
            name=name, format=format_, url=f"https://data.example.org/{name}", row_count=rows
        ),
    )


@pytest.fixture
def catalog(session, backends):
    """Two departments: education with an open, a conditional, a shared-only and a draft
    dataset; health with one open dataset. Downloads on open and hidden resources."""
    education = make_department(session, slug="edu", name="佛山市禅城区教育局")
    health = make_department(session, slug="health", name="佛山市禅城区卫生健康局")
    schools = make_dataset(session, education, slug="schools")
    fees = make_dataset(session, education, slug="fees", open_type="conditional")
    staff = make_dataset(session, education, slug="staff", open_type="not_open")
    make_dataset(session, education, slug="plans", state="draft")
    clinics = make_dataset(session, health, slug="clinics")
    open_csv = link(session, backends, schools, "schools.csv", "csv", 100)
    link(session, backends, schools, "schools.xlsx", "XLSX", 100)
    link(session, backends, fees, "fees.csv", "CSV", 20)
    hidden_csv = link(session, backends, staff, "staff.csv", "CSV", 7)
    link(session, backends, clinics, "clinics.json", "JSON", 5)
    session.add_all(
        [
            DownloadCount(resource_id=open_csv.id, day=date(2024, 5, 1), count=3),
            DownloadCount(resource_id=open_csv.id, day=date(2024, 5, 2), count=4),
            DownloadCount(resource_id=hidden_csv.id, day=date(2024, 5, 1), count=50),
        ]
    )
    session.commit()
    return education


def counts(items) -> dict[str, int]:
    return {item["value"]: item["count"] for item in items}


def test_the_public_sees_figures_of_the_open_catalog_only(client, catalog):
    response = client.get(STATISTICS)
    assert response.status_code == 200
    figures = response.get_json()
    assert (figures["departments"], figures["datasets"], figures["resources"]) == (2, 3, 4)
    assert figures["records"] == 100 + 100 + 20 + 5
    assert figures["downloads"] == 7
    assert figures["by_open_type"] == [
        {"value": "unconditional", "label": "无条件开放", "count": 2},
        {"value": "conditional", "label": "有条件开放", "count": 1},
        {"value": "not_open", "label": "不予开放", "count": 0},
    ]
    assert figures["by_department"] == [
        {"value": "edu", "label": "佛山市禅城区教育局", "count": 2},
        {"value": "health", "label": "佛山市禅城区卫生健康局", "count": 1},
    ]
    assert counts(figures["by_format"]) == {"CSV": 2, "XLSX": 1, "JSON": 1}


def test_the_owning_department_counts_its_hidden_and_draft_datasets(client, session, catalog):
    member = make_user(session, department=catalog)
    figures = client.get(STATISTICS, headers=bearer(token_for(session, member))).get_json()
    assert figures["datasets"] == 5
    assert figures["downloads"] == 57
    assert counts(figures["by_open_type"]) == {
        "unconditional": 3,
        "conditional": 1,
        "not_open": 1,
    }
    assert counts(figures["by_department"]) == {"edu": 4, "health": 1}
    assert counts(figures["by_format"]) == {"CSV": 3, "XLSX": 1, "JSON": 1}


def test_a_bad_token_gets_no_figures(client, catalog):
    response = client.get(STATISTICS, headers=bearer("odp_unknown"))
    assert response.status_code == 401
