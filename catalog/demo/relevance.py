"""The judged searches of the demo catalog: does the expected dataset come first?"""

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.interfaces import CatalogIndex
from catalog.models import Dataset, Department
from catalog.policy import Actor
from catalog.services.search import DatasetQuery, search_datasets

JUDGEMENTS = Path(__file__).parent / "data" / "search_judgements.json"


@dataclass(frozen=True)
class Judged:
    q: str
    kind: str
    expected: frozenset[str]  # slugs any of which may come first
    first: str | None  # the slug that did

    @property
    def ok(self) -> bool:
        return self.first in self.expected


def judgements() -> list[dict]:
    return json.loads(JUDGEMENTS.read_text(encoding="utf-8"))["judgements"]


def judge_searches(session: Session, index: CatalogIndex) -> list[Judged]:
    """Run every judged query as an anonymous caller."""
    results = []
    for judgement in judgements():
        if "first_of_department" in judgement:
            expected = frozenset(
                session.scalars(
                    select(Dataset.slug)
                    .join(Department)
                    .where(Department.slug == judgement["first_of_department"])
                )
            )
        else:
            expected = frozenset(judgement["first"])
        page = search_datasets(
            session, index, Actor.anonymous(), DatasetQuery(q=judgement["q"], per_page=1)
        )
        first = page.items[0].slug if page.items else None
        results.append(Judged(judgement["q"], judgement["kind"], expected, first))
    return results
