"""schemathesis against the REST API's own OpenAPI document: every operation of /api/v1,
called with data generated from the document, answers no 5xx, and every answer has a
status and a body the document declares.

Two bounded, reproducible runs (derandomized), on each database: one anonymous with
the ids as generated; one as a sysadmin on the datasets and resources of a small real
catalog, so that reads, record queries, exports and writes reach the code behind the
lookups. The CKAN-compatible /api/3 is not in this document and not tested here.
"""

import dataclasses
import io
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.internal.conjecture.utils import many
from schemathesis import GenerationConfig
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from catalog.services.resources import ResourceValues, add_resource
from catalog.services.search import add_synonyms
from portal.app import create_app
from portal.indexing import drain
from tests.factories import SYSTEM, make_dataset, make_department, make_user, token_for
from tests.fixtures.records import SCHOOL_FIELDS, school_rows

CHECKS = (not_a_server_error, status_code_conformance, response_schema_conformance)
BOUNDED = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture
def api_world(session, backends):
    """A department with an open and a conditional dataset, a tabular resource with
    records, a synonym set, and a sysadmin's token."""
    department = make_department(session, slug="edu", name="佛山市禅城区教育局")
    make_user(session, department=department, role="editor")
    schools = make_dataset(session, department, slug="schools", title="禅城区学校名录")
    make_dataset(session, department, slug="fees", open_type="conditional")
    resource = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        schools.slug,
        ResourceValues(
            name="学校名录",
            format="CSV",
            media_type="text/csv",
            fields=[vars(field) for field in SCHOOL_FIELDS],
        ),
        io.BytesIO("名称,街道\n祖庙第1小学,祖庙街道\n".encode()),
        "schools.csv",
    )
    backends.record_store.create(resource.id, SCHOOL_FIELDS)
    backends.record_store.append(resource.id, school_rows(60))
    add_synonyms(session, SYSTEM, ["医保", "医疗保险"])
    drain(backends)
    admin = make_user(session, name="root", sysadmin=True)
    return SimpleNamespace(
        department=department.slug,
        path_parameters={"slug": schools.slug, "resource_id": resource.id, "version": 1},
        record_field=SCHOOL_FIELDS[1].name,
        headers={"Authorization": f"Bearer {token_for(session, admin)}"},
    )


@pytest.fixture
def api_schema(settings, backends, api_world):
    if not hasattr(many, "more"):
        pytest.fail(
            "hypothesis 6.170.10 and later changed an internal that hypothesis-jsonschema 0.23 "
            "(the last for schemathesis 3) uses: install hypothesis<6.170.10."
        )
    # A budget no run can spend: rate limits have tests of their own.
    app = create_app(dataclasses.replace(settings, rate_limit="1000000/minute"), backends)
    # Made-up bearer tokens would only ever meet the 401 check: the first run is anonymous.
    return schemathesis.from_wsgi(
        "/api/v1/openapi.json",
        app,
        generation_config=GenerationConfig(with_security_parameters=False),
    )


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@BOUNDED
def test_the_api_keeps_to_its_document(case):
    response = case.call()
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_the_api_keeps_to_its_document_on_a_real_catalog(case, api_world):
    found = case.path_parameters or {}
    for name, value in api_world.path_parameters.items():
        if name in found:
            found[name] = value
    if case.path.startswith("/api/v1/departments/"):
        found["slug"] = api_world.department
    if case.path.endswith("/records/counts"):
        case.query["field"] = api_world.record_field
    response = case.call(headers=api_world.headers)
    case.validate_response(response, checks=CHECKS)
