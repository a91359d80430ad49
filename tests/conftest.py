"""Shared fixtures: the catalog database on every reachable backend, the app and its client.

The catalog tests run on SQLite always and on PostgreSQL when OPENDATA_TEST_DATABASE_URL
names one (``scripts/services.sh start`` provides it; CI always does). The tests of the S3
object store run when OPENDATA_TEST_S3_ENDPOINT_URL names a server (MinIO there too).
"""

import dataclasses
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import make_url, text

from catalog.backends import Backends
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.models import Base
from catalog.records.sql import SqlRecordStore
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.services.departments import ensure_licenses
from catalog.storage import object_store_from_settings
from catalog.storage.local import LocalObjectStore
from portal.settings import Settings

POSTGRES_URL = os.environ.get("OPENDATA_TEST_DATABASE_URL")
S3_ENDPOINT_URL = os.environ.get("OPENDATA_TEST_S3_ENDPOINT_URL")
FIXTURES = Path(__file__).parent / "fixtures"


def _private_postgres_schema(url: str):
    """An engine on a schema of its own, so test runs in parallel never meet."""
    schema = f"test_{os.getpid()}"
    with create_database_engine(url).begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    private_url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return create_database_engine(private_url.render_as_string(hide_password=False)), schema


@pytest.fixture(
    scope="session",
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not POSTGRES_URL,
                reason="OPENDATA_TEST_DATABASE_URL is not set (run scripts/services.sh start)",
            ),
        ),
    ],
)
def database_engine(request, tmp_path_factory):
    """A migrated catalog database per backend, shared by the session's tests."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "catalog.db"
        engine = create_database_engine(f"sqlite:///{path}")
    else:
        engine, schema = _private_postgres_schema(POSTGRES_URL)
        request.addfinalizer(lambda: _drop_schema(POSTGRES_URL, schema))
    upgrade_database(engine)
    yield engine
    engine.dispose()


def _drop_schema(url: str, schema: str) -> None:
    with create_database_engine(url).begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


@pytest.fixture
def backends(database_engine, tmp_path):
    """Backends on an emptied database and a fresh object store folder, for one test."""
    with database_engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    sessions = session_factory(database_engine)
    with sessions() as session:
        ensure_licenses(session)
        session.commit()
    catalog_index = SqliteCatalogIndex(tmp_path / "search.db")
    catalog_index.ensure()
    return Backends(
        engine=database_engine,
        sessions=sessions,
        object_store=LocalObjectStore(tmp_path / "objects"),
        catalog_index=catalog_index,
        record_store=SqlRecordStore(database_engine),
    )


@pytest.fixture
def session(backends):
    with backends.sessions() as db_session:
        yield db_session


@pytest.fixture
def settings(tmp_path, database_engine):
    return Settings.load(
        environ={},
        overrides={
            "instance_path": str(tmp_path / "instance"),
            "database_url": database_engine.url.render_as_string(hide_password=False),
            "storage_url": (tmp_path / "objects").as_uri(),
            "search_url": f"sqlite:///{tmp_path / 'search.db'}",
            "secret_key": "test-secret-key",
        },
        testing=True,
    )


@pytest.fixture
def app(settings, backends):
    from portal.app import create_app

    return create_app(settings, backends)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def s3_store():
    """An S3 object store (MinIO) under a prefix of this test's own, emptied afterwards."""
    if not S3_ENDPOINT_URL:
        pytest.skip("OPENDATA_TEST_S3_ENDPOINT_URL is not set (run scripts/services.sh start)")
    bucket = os.environ.get("OPENDATA_TEST_S3_BUCKET", "opendata-test")
    store = object_store_from_settings(
        SimpleNamespace(
            storage_url=f"s3://{bucket}/test-{uuid.uuid4().hex[:12]}",
            s3_endpoint_url=S3_ENDPOINT_URL,
            s3_region="us-east-1",
            s3_access_key_id=os.environ.get("OPENDATA_TEST_S3_ACCESS_KEY_ID", ""),
            s3_secret_access_key=os.environ.get("OPENDATA_TEST_S3_SECRET_ACCESS_KEY", ""),
        )
    )
    yield store
    client = store.client
    listing = client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    for item in listing.get("Contents", []):
        client.delete_object(Bucket=store.bucket, Key=item["Key"])
    for upload in client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []):
        if upload["Key"].startswith(store.prefix):
            client.abort_multipart_upload(
                Bucket=store.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )


@pytest.fixture
def s3_backends(backends, s3_store):
    """The test's backends with the S3 object store in place of the local folder."""
    return dataclasses.replace(backends, object_store=s3_store)


@pytest.fixture
def s3_client(settings, s3_backends):
    """A client of the app on the S3 object store."""
    from portal.app import create_app

    return create_app(settings, s3_backends).test_client()
