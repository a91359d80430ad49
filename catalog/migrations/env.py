"""Alembic environment: runs against the engine the caller hands over in the config."""

from alembic import context

from catalog.db import include_object
from catalog.models import Base, UTCDateTime


def render_item(type_, obj, autogen_context):
    # Migrations stay free of the model module: a UTC datetime is a plain DateTime column.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        include_object=include_object,
    )
    context.run_migrations()
