"""A catalog of N generated datasets: rows in a fresh catalog database, and the index
documents of the same datasets, for the catalog search benchmark.

Going through the services would take hours for 100,000 datasets, so the rows are inserted
with SQLAlchemy Core in bulk, and the documents are made from the same generated
descriptions; ``check_documents`` then compares a sample with what
``catalog.search.documents.dataset_document`` makes of the rows, so the two stay one.
"""

import json
import secrets
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import insert, select

from bench.backends import demo_departments, demo_themes
from bench.common import TAG_WORDS, catalog_datasets
from catalog.db import create_database_engine, session_factory, upgrade_database
from catalog.models import (
    ApiToken,
    Dataset,
    Department,
    Membership,
    Resource,
    SynonymSet,
    Tag,
    Theme,
    User,
    dataset_tags,
    dataset_themes,
)
from catalog.policy import Actor, data_labels, metadata_labels
from catalog.search.documents import dataset_document
from catalog.services.datasets import dataset_load_options
from catalog.services.departments import ensure_licenses
from catalog.services.users import TOKEN_PREFIX, hash_token
from catalog.vocab import Role

NAMESPACE = uuid.UUID("5f0c8c9e-0d7a-4b8e-9a55-6b1f2c3d4e5f")
CHUNK = 5000
SYNONYMS = Path(__file__).resolve().parent.parent / "catalog/demo/data/synonyms.json"
MEMBER_DEPARTMENT = "edu"


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))


class Catalog:
    """The generated catalog: its departments and themes, and the member who searches."""

    def __init__(self, count: int):
        self.count = count
        self.departments = [{**d, "id": _id("department", d["slug"])} for d in demo_departments()]
        self.themes = [{**t, "id": _id("theme", t["slug"])} for t in demo_themes()]
        self.theme_names = {t["slug"]: t["name"] for t in self.themes}
        self.token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.member = next(d for d in self.departments if d["slug"] == MEMBER_DEPARTMENT)
        self.member_actor = Actor(
            user_id=_id("user", "bench-member"),
            name="bench-member",
            roles={self.member["id"]: Role.MEMBER},
            scopes=frozenset({"read"}),
        )

    def datasets(self) -> Iterator[dict]:
        return catalog_datasets(self.count, self.departments, self.themes)

    # -- the catalog database ------------------------------------------------------------------

    def fill(self, database_url: str) -> None:
        """Make the catalog database and insert everything (Core, in bulk)."""
        engine = create_database_engine(database_url)
        upgrade_database(engine)
        with session_factory(engine)() as session:
            ensure_licenses(session)
            session.commit()
        tag_ids = {name: _id("tag", name) for name in TAG_WORDS}
        with engine.begin() as connection:
            connection.execute(
                insert(Department),
                [
                    {key: d[key] for key in ("id", "slug", "name", "name_en", "code")}
                    for d in self.departments
                ],
            )
            connection.execute(
                insert(Theme),
                [{key: t[key] for key in ("id", "slug", "name", "name_en")} for t in self.themes],
            )
            connection.execute(
                insert(Tag), [{"id": i, "name": name} for name, i in tag_ids.items()]
            )
            terms = json.loads(SYNONYMS.read_text(encoding="utf-8"))
            connection.execute(insert(SynonymSet), [{"terms": t} for t in terms])
            user_id = self.member_actor.user_id
            connection.execute(insert(User), [{"id": user_id, "name": "bench-member"}])
            connection.execute(
                insert(Membership),
                [{"user_id": user_id, "department_id": self.member["id"], "role": "member"}],
            )
            connection.execute(
                insert(ApiToken),
                [
                    {
                        "user_id": user_id,
                        "name": "bench",
                        "token_hash": hash_token(self.token),
                        "prefix": self.token[:10],
                        "scopes": ["read"],
                    }
                ],
            )
        source = self.datasets()
        while chunk := list(islice(source, CHUNK)):
            rows, themes, tags, resources = [], [], [], []
            for d in chunk:
                dataset_id = _id("dataset", d["slug"])
                rows.append(
                    {
                        "id": dataset_id,
                        "slug": d["slug"],
                        "title": d["title"],
                        "title_en": d["title_en"],
                        "description": d["description"],
                        "department_id": d["department"]["id"],
                        "license_id": d["license"],
                        "resource_code": d["resource_code"],
                        "open_type": d["open_type"],
                        "share_type": d["share_type"],
                        "update_frequency": d["update_frequency"],
                        "release_date": d["release_date"],
                        "state": d["state"],
                        "created_at": d["modified_at"],
                        "modified_at": d["modified_at"],
                    }
                )
                themes += [
                    {"dataset_id": dataset_id, "theme_id": _id("theme", t)} for t in d["themes"]
                ]
                tags += [{"dataset_id": dataset_id, "tag_id": tag_ids[t]} for t in d["tags"]]
                resources += [
                    {
                        "id": _id("resource", d["slug"], r["position"]),
                        "dataset_id": dataset_id,
                        "position": r["position"],
                        "name": r["name"],
                        "format": r["format"],
                        "url": f"https://example.invalid/{d['slug']}/{r['position']}",
                        "fields": r["fields"],
                        "created_at": d["modified_at"],
                        "modified_at": d["modified_at"],
                    }
                    for r in d["resources"]
                ]
            with engine.begin() as connection:
                connection.execute(insert(Dataset), rows)
                connection.execute(insert(dataset_themes), themes)
                connection.execute(insert(dataset_tags), tags)
                connection.execute(insert(Resource), resources)
        engine.dispose()

    # -- the index documents -------------------------------------------------------------------

    def documents(self) -> Iterator[dict]:
        """The search documents of the datasets, as dataset_document makes them."""
        for d in self.datasets():
            yield self.document(d)

    def document(self, d: dict) -> dict:
        dataset_id = _id("dataset", d["slug"])
        policy_view = SimpleNamespace(
            id=dataset_id,
            department_id=d["department"]["id"],
            state=d["state"],
            open_type=d["open_type"],
            share_type=d["share_type"],
        )
        return {
            "id": dataset_id,
            "slug": d["slug"],
            "title": d["title"],
            "title_en": d["title_en"],
            "description": d["description"],
            "resource_code": d["resource_code"],
            "tags": d["tags"],
            "department": d["department"]["slug"],
            "department_name": d["department"]["name"],
            "themes": d["themes"],
            "theme_names": [self.theme_names[t] for t in d["themes"]],
            "formats": sorted({r["format"] for r in d["resources"]}),
            "license": d["license"] or "",
            "open_type": d["open_type"],
            "share_type": d["share_type"],
            "update_frequency": d["update_frequency"],
            "state": d["state"],
            "resource_names": [r["name"] for r in d["resources"]],
            "field_titles": sorted({f["title"] for r in d["resources"] for f in r["fields"]}),
            "modified_at": d["modified_at"].isoformat(),
            "release_date": d["release_date"].isoformat(),
            "downloads": 0,  # as the indexing services write it (catalog.services.search)
            "revision": 1,  # a new dataset's, as the catalog rows hold it
            "labels": sorted(metadata_labels(policy_view)),
            "data_labels": sorted(data_labels(policy_view)),
        }

    def check_documents(self, database_url: str, sample: int = 25) -> None:
        """Raise unless the first datasets' documents are what dataset_document makes of
        their rows in the database."""
        engine = create_database_engine(database_url)
        expected = {doc["id"]: doc for doc in islice(self.documents(), sample)}
        with session_factory(engine)() as session:
            found = session.scalars(
                select(Dataset)
                .where(Dataset.id.in_(list(expected)))
                .options(*dataset_load_options())
            ).all()
            made = {d.id: dataset_document(d) for d in found}
        engine.dispose()
        for dataset_id, document in expected.items():
            if made.get(dataset_id) != document:
                differ = {
                    key
                    for key in set(document) | set(made.get(dataset_id, {}))
                    if document.get(key) != made.get(dataset_id, {}).get(key)
                }
                raise RuntimeError(
                    f"The generated document of {document['slug']} differs from "
                    f"dataset_document's in {sorted(differ)}"
                )
