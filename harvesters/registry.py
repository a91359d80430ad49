"""The registered harvest source types, read from the ``opendata.harvest_sources`` entry points."""

from functools import cache
from importlib.metadata import entry_points

from harvesters.interfaces import SourceType

ENTRY_POINT_GROUP = "opendata.harvest_sources"


@cache
def source_types() -> dict[str, type[SourceType]]:
    """Every installed source type by its kind (ckan, dcat, ...)."""
    return {point.name: point.load() for point in entry_points(group=ENTRY_POINT_GROUP)}


def source_type(kind: str) -> type[SourceType]:
    """The source type registered as ``kind``; KeyError names the known ones."""
    types = source_types()
    if kind not in types:
        raise KeyError(f"unknown harvest source type {kind!r}; known: {', '.join(sorted(types))}")
    return types[kind]
