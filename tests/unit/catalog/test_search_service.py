"""Catalog search through the embedded index: text, synonyms, filters, policy, outbox."""

import pytest

from catalog.errors import InvalidInput
from catalog.models import SearchOutbox
from catalog.policy import Actor
from catalog.services.datasets import DatasetValues, update_dataset
from catalog.services.search import (
    DatasetQuery,
    add_synonyms,
    expand_terms,
    index_pending,
    reindex_catalog,
    search_datasets,
    search_status,
    suggest_titles,
)
from catalog.services.users import actor_for_user
from tests.factories import SYSTEM, make_dataset, make_department, make_user


@pytest.fixture
def world(session, backends):
    education = make_department(session, slug="edu", name="佛山市禅城区教育局")
    health = make_department(session, slug="health", name="佛山市禅城区医疗保障局")
    make_dataset(session, education, slug="schools", title="区教育局学校名录", tags=["学校"])
    make_dataset(
        session,
        education,
        slug="teachers",
        title="教师资格认定信息",
        open_type="not_open",
        share_type="not_shared",
    )
    make_dataset(
        session,
        health,
        slug="insurance",
        title="医疗保险定点机构",
        description="禅城区医疗保险定点医药机构名单",
    )
    make_dataset(session, health, slug="draft", title="医保基金月报", state="draft")
    index_pending(session, backends.catalog_index)
    return {"education": education, "health": health}


def titles(page):
    return [d.title for d in page.items]


ANONYMOUS = Actor.anonymous()


def search(session, backends, actor=ANONYMOUS, **query):
    return search_datasets(session, backends.catalog_index, actor, DatasetQuery(**query))


def test_finds_a_word_inside_a_chinese_title(session, backends, world):
    assert titles(search(session, backends, q="教育局")) == ["区教育局学校名录"]
    # Two-character words go through the LIKE fallback.
    assert titles(search(session, backends, q="学校")) == ["区教育局学校名录"]
    assert search(session, backends, q="教育局").highlights


def test_hidden_datasets_never_show_in_hits_totals_or_facets(session, backends, world):
    anonymous = search(session, backends)
    assert sorted(titles(anonymous)) == sorted(["医疗保险定点机构", "区教育局学校名录"])
    assert anonymous.total == 2
    assert sum(f.count for f in anonymous.facets["department"]) == 2

    owner = actor_for_user(session, make_user(session, department=world["education"]))
    assert search(session, backends, owner).total == 3
    assert search(session, backends, SYSTEM).total == 4


def test_synonyms_apply_at_query_time(session, backends, world):
    assert search(session, backends, q="医保").total == 0
    add_synonyms(session, SYSTEM, ["医保", "医疗保险"])
    assert titles(search(session, backends, q="医保")) == ["医疗保险定点机构"]
    assert expand_terms("禅城医保", [["医保", "医疗保险"]]) == (("禅城医保", "禅城医疗保险"),)


def test_filters_and_facet_labels(session, backends, world):
    page = search(session, backends, filters={"department": ["health"]})
    assert titles(page) == ["医疗保险定点机构"]
    labels = {f.value: f.label for f in page.facets["department"]}
    assert labels == {"health": "佛山市禅城区医疗保障局"}
    with pytest.raises(InvalidInput):
        search(session, backends, filters={"colour": ["blue"]})


def test_changes_reach_the_index_through_the_outbox(session, backends, world):
    update_dataset(session, SYSTEM, "schools", DatasetValues(title="中小学校名录"))
    assert session.query(SearchOutbox).count() == 1
    assert titles(search(session, backends, q="中小学")) == []  # not drained yet
    assert index_pending(session, backends.catalog_index) == 1
    assert titles(search(session, backends, q="中小学")) == ["中小学校名录"]
    assert session.query(SearchOutbox).count() == 0


def test_a_dataset_hidden_by_a_change_not_yet_indexed_is_not_counted(session, backends, world):
    update_dataset(
        session, SYSTEM, "schools", DatasetValues(open_type="not_open", share_type="not_shared")
    )
    # Its document still says "public" until the outbox drains: totals and facets must not.
    anonymous = search(session, backends, q="学校")
    assert (anonymous.total, titles(anonymous), anonymous.facets["department"]) == (0, [], [])
    owner = actor_for_user(session, make_user(session, department=world["education"]))
    assert titles(search(session, backends, owner, q="学校")) == ["区教育局学校名录"]
    index_pending(session, backends.catalog_index)
    assert search(session, backends, q="学校").total == 0


class BrokenIndex:
    def upsert(self, documents):
        raise ConnectionError("engine down")

    def remove(self, ids):
        raise ConnectionError("engine down")


def test_an_engine_failure_keeps_the_changes_for_later(session, backends, world):
    update_dataset(session, SYSTEM, "schools", DatasetValues(title="中小学校名录"))
    with pytest.raises(ConnectionError):
        index_pending(session, BrokenIndex())
    status = search_status(session, backends.catalog_index)
    assert (status.pending, status.failing) == (1, 1)
    assert "engine down" in status.last_error
    assert index_pending(session, backends.catalog_index) == 1


def test_reindex_swaps_in_a_complete_index(session, backends, world):
    assert reindex_catalog(session, backends.catalog_index) == 4
    assert backends.catalog_index.count() == 4
    assert search(session, backends, q="教育局").total == 1


def test_suggestions_respect_the_policy(session, backends, world):
    assert suggest_titles(session, backends.catalog_index, Actor.anonymous(), "教师") == []
    assert suggest_titles(session, backends.catalog_index, SYSTEM, "教师") == ["教师资格认定信息"]
    assert suggest_titles(session, backends.catalog_index, Actor.anonymous(), "医疗") == [
        "医疗保险定点机构"
    ]
