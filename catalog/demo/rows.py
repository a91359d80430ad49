"""The row being generated and what a field's value generator is, shared by the generator
modules (:mod:`catalog.demo.values`, :mod:`catalog.demo.places`, :mod:`catalog.demo.derived`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """A row being generated: its values so far and, once a field has named a place, the
    street (and road) the row is about, where its other place fields then put themselves."""

    values: dict[str, Any] = field(default_factory=dict)
    street: str | None = None
    road: str | None = None


# (rng, row index) -> value: most generators need no more than that.
ValueGenerator = Callable[[random.Random, int], Any]
# (rng, row index, the row so far) -> value.
RowGenerator = Callable[[random.Random, int, Row], Any]


@dataclass(frozen=True)
class FieldGenerator:
    """How a field's values are drawn; ``sources`` names the fields of the same row it is
    computed from, which are drawn first."""

    draw: RowGenerator
    sources: tuple[str, ...] = ()


def row_free(generate: ValueGenerator) -> RowGenerator:
    """A generator that ignores the rest of its row."""
    return lambda rng, index, _row: generate(rng, index)


def indexed(values: tuple[str, ...], index: int, stride: int = 1) -> str:
    # Directories list each school, river or bus line once: pick by row, not at random.
    return values[index * stride % len(values)]
