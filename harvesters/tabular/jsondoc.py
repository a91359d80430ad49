"""JSON arrays of objects and GeoJSON FeatureCollections, streamed with ijson (each record
is built whole, the array never is).

- The columns are the keys of the sampled records, in the order they first appear; a key
  first seen after the sample is reported as a failure of its row (the value is not
  loaded; the rest of the row is).
- Nested values (objects, arrays) are kept as JSON text.
- GeoJSON: a feature's properties are its columns, and its geometry one more, last,
  titled ``geometry``. Points become a geo_point field; any other geometry (or a mix)
  keeps the whole geometry as GeoJSON text, so nothing is lost and a map can still
  draw it. Coordinates are [lon, lat] per RFC 7946; a projected CRS fails the
  latitude/longitude check and the column stays text.
- A record's line is its position in the array, from 1.
"""

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import ijson

from harvesters.tabular.model import (
    Column,
    Diagnostics,
    Limits,
    Row,
    Table,
    TabularError,
    TabularFormat,
    clip,
)
from harvesters.tabular.sniff import json_bytes


class _Geometry:
    """The key of a feature's geometry in a row: no property name can equal it."""

    def __repr__(self) -> str:
        return "GEOMETRY"


GEOMETRY = _Geometry()


@contextmanager
def open_json(stream: BinaryIO, geo: bool, limits: Limits) -> Iterator[Table]:
    reader, encoding = json_bytes(stream)
    items = ijson.items(reader, "features.item" if geo else "item", use_float=True)
    diagnostics = Diagnostics(limits.max_examples)
    rows = _rows(items, geo, diagnostics)
    sample = list(itertools.islice(rows, limits.sample_rows))
    keys: dict = {}
    for row in sample:
        keys.update(dict.fromkeys(key for key in row.values if key is not GEOMETRY))
    if not sample:
        what = "features" if geo else "records"
        raise TabularError(f"The file has no {what}.")
    if len(keys) + geo > limits.max_columns:
        raise TabularError(
            f"The records have {len(keys)} keys, more than the {limits.max_columns} allowed."
        )
    columns = [Column(key, key) for key in keys]
    if geo:
        columns.append(Column(GEOMETRY, "geometry"))
    yield Table(
        format=TabularFormat.GEOJSON if geo else TabularFormat.JSON,
        columns=columns,
        rows=itertools.chain(sample, rows),
        diagnostics=diagnostics,
        encoding=encoding,
    )


def _rows(items, geo: bool, diagnostics: Diagnostics) -> Iterator[Row]:
    number = 0
    try:
        for item in items:
            number += 1
            if geo:
                values = _feature(item)
                if values is None:
                    diagnostics.ragged(number, clip(repr(item)), "not a GeoJSON Feature")
                    continue
            elif isinstance(item, dict):
                values = item
            elif number == 1:
                kind = type(item).__name__
                raise TabularError(f"The JSON array holds {kind} values, not objects (records).")
            else:
                diagnostics.ragged(number, clip(repr(item)), "not an object (a record)")
                continue
            yield Row(number, number, values)
    except (ijson.JSONError, UnicodeDecodeError) as error:
        raise TabularError(
            f"The JSON is invalid or cut short after record {number}: {error}."
        ) from None


def _feature(item: object) -> dict | None:
    if not isinstance(item, dict) or item.get("type") != "Feature":
        return None
    properties = item.get("properties") or {}
    if not isinstance(properties, dict):
        return None
    values = dict(properties)
    values[GEOMETRY] = item.get("geometry")
    return values
