from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from catalog.db import include_object, schema_status
from catalog.models import Base
from catalog.records.sql import SqlRecordStore


def test_migrations_build_exactly_the_models(database_engine):
    # The record store's own tables live in the same database and must not count.
    SqlRecordStore(database_engine).check()
    with database_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []
    current, head = schema_status(database_engine)
    assert current == head
