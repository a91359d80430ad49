"""One contract for every catalog index backend: the embedded SQLite FTS5 index always,
OpenSearch and Elasticsearch when their URLs are set (scripts/services.sh starts
OpenSearch; docker-compose gives Elasticsearch)."""

import os
import uuid
from types import SimpleNamespace

import pytest

from catalog.interfaces import SearchQuery
from catalog.search.sqlite import SqliteCatalogIndex

ENGINE_URLS = {
    "opensearch": os.environ.get("OPENDATA_TEST_OPENSEARCH_URL"),
    "elasticsearch": os.environ.get("OPENDATA_TEST_ELASTICSEARCH_URL"),
}


def _engine_param(name):
    return pytest.param(
        name,
        marks=pytest.mark.skipif(
            not ENGINE_URLS[name],
            reason=f"OPENDATA_TEST_{name.upper()}_URL is not set",
        ),
    )


BACKENDS = ["sqlite", _engine_param("opensearch"), _engine_param("elasticsearch")]


@pytest.fixture(params=BACKENDS)
def unmade_index(request, tmp_path):
    """A backend whose index nobody has created yet."""
    if request.param == "sqlite":
        yield SqliteCatalogIndex(tmp_path / "search.db")
        return
    from catalog.search import catalog_index_from_settings

    settings = SimpleNamespace(
        search_url=ENGINE_URLS[request.param],
        search_index_prefix=f"test-{uuid.uuid4().hex[:12]}",
    )
    backend = catalog_index_from_settings(settings)
    yield backend
    backend.delete_indices()


@pytest.fixture
def index(unmade_index):
    unmade_index.ensure()
    return unmade_index


def document(doc_id, title, labels=("public",), **fields):
    base = {
        "id": doc_id,
        "slug": doc_id,
        "title": title,
        "title_en": "",
        "description": "",
        "resource_code": "",
        "tags": [],
        "department": "edu",
        "department_name": "佛山市禅城区教育局",
        "themes": [],
        "theme_names": [],
        "formats": [],
        "license": "",
        "open_type": "unconditional",
        "share_type": "unconditional",
        "update_frequency": "monthly",
        "state": "published",
        "resource_names": [],
        "field_titles": [],
        "modified_at": "2026-01-01T00:00:00+00:00",
        "release_date": None,
        "downloads": 0,
        "revision": 1,
        "labels": list(labels),
        "data_labels": list(labels),
    }
    base.update(fields)
    return base


CATALOG = [
    document(
        "schools",
        "区教育局学校名录",
        tags=["学校"],
        formats=["CSV"],
        description="禅城区各中小学校的名称、地址与联系电话。",
        downloads=50,
        modified_at="2026-03-01T00:00:00+00:00",
        release_date="2021-01-01",
    ),
    document("teachers", "教师资格认定信息", labels=("dept:edu",), formats=["XLSX"]),
    document(
        "insurance",
        "医疗保险定点机构",
        department="health",
        department_name="佛山市禅城区医疗保障局",
        formats=["CSV", "API"],
        field_titles=["机构名称", "统一社会信用代码"],
        downloads=10,
        modified_at="2026-02-01T00:00:00+00:00",
        release_date="2023-05-01",
    ),
    document(
        "bus",
        "公交站点位置",
        department="transport",
        department_name="交通运输局",
        labels=("public", "gov"),
        formats=["GeoJSON"],
        tags=["公交"],
        modified_at="2026-04-01T00:00:00+00:00",
    ),
]


def search(index, words=(), labels=frozenset({"public"}), **options):
    terms = tuple((w,) if isinstance(w, str) else tuple(w) for w in words)
    return index.search(SearchQuery(terms=terms, labels=labels, **options))


def ids(result):
    return [hit.id for hit in result.hits]


@pytest.fixture
def loaded(index):
    index.upsert(CATALOG)
    return index


def _index_exists(index) -> bool:
    if isinstance(index, SqliteCatalogIndex):
        return index.path.exists()
    return bool(index.client.indices.exists_alias(name=index.alias))


def test_check_creates_nothing(unmade_index):
    with pytest.raises(LookupError, match="run `opendata init`"):
        unmade_index.check()
    assert not _index_exists(unmade_index)


def test_check_counts_the_datasets(loaded):
    assert "4 datasets" in loaded.check()


def test_ensure_is_idempotent(index):
    index.ensure()
    index.ensure()
    assert index.count() == 0


def test_finds_chinese_words_inside_titles(loaded):
    assert ids(search(loaded, ["教育局"])) == ["schools"]
    assert ids(search(loaded, ["学校"])) == ["schools"]
    assert ids(search(loaded, ["站"])) == ["bus"]


def test_title_matches_rank_first(loaded):
    loaded.upsert([document("other", "办学许可证", description="区教育局发放的许可证")])
    assert ids(search(loaded, ["教育局"]))[0] == "schools"


def test_every_word_must_match_one_of_its_alternatives(loaded):
    assert ids(search(loaded, ["禅城", "学校"])) == ["schools"]
    assert ids(search(loaded, [("医保", "医疗保险")])) == ["insurance"]
    assert search(loaded, ["教育局", "公交"]).total == 0


def test_field_titles_department_and_tags_are_searched(loaded):
    assert ids(search(loaded, ["统一社会信用代码"])) == ["insurance"]
    assert ids(search(loaded, ["医疗保障局"])) == ["insurance"]
    assert ids(search(loaded, ["公交"])) == ["bus"]


def test_labels_filter_hits_totals_and_facets(loaded):
    public = search(loaded, facets=("department",))
    assert sorted(ids(public)) == ["bus", "insurance", "schools"]
    assert public.total == 3
    assert dict(public.facets["department"]) == {"edu": 1, "health": 1, "transport": 1}

    owner = search(loaded, labels=frozenset({"public", "gov", "dept:edu"}), facets=("department",))
    assert owner.total == 4
    assert dict(owner.facets["department"])["edu"] == 2

    # A member of another department: what every department sees, not edu's own.
    other = search(
        loaded, labels=frozenset({"public", "gov", "dept:health"}), facets=("department",)
    )
    assert sorted(ids(other)) == ["bus", "insurance", "schools"]
    assert other.total == 3
    assert dict(other.facets["department"]) == {"edu": 1, "health": 1, "transport": 1}
    assert search(loaded, ["教师"], labels=frozenset({"public", "gov", "dept:health"})).total == 0
    assert search(loaded, ["教师"], labels=frozenset({"public", "dept:edu"})).total == 1
    assert search(loaded, labels=None).total == 4
    assert search(loaded, labels=frozenset()).total == 0


def test_filters_and_facets(loaded):
    result = search(loaded, filters=(("formats", ("CSV",)),), facets=("formats", "department"))
    assert sorted(ids(result)) == ["insurance", "schools"]
    assert dict(result.facets["formats"]) == {"CSV": 2, "API": 1}
    either = search(loaded, filters=(("department", ("edu", "transport")),))
    assert sorted(ids(either)) == ["bus", "schools"]


def test_sorts_and_pages(loaded):
    assert ids(search(loaded, sort="modified")) == ["bus", "schools", "insurance"]
    assert ids(search(loaded, sort="downloads"))[:2] == ["schools", "insurance"]
    assert ids(search(loaded, sort="released"))[:2] == ["insurance", "schools"]
    titles_sorted = ids(search(loaded, sort="title"))
    assert len(titles_sorted) == 3
    first, second = (
        search(loaded, sort="modified", limit=2),
        search(loaded, sort="modified", offset=2, limit=2),
    )
    assert ids(first) + ids(second) == ["bus", "schools", "insurance"]
    assert first.total == second.total == 3


def test_highlights_are_escaped_html(loaded):
    loaded.upsert([document("x", "<b>学校</b>名录")])
    hit = next(h for h in search(loaded, ["学校"]).hits if h.id == "x")
    assert "<mark>" in hit.highlights["title"]
    assert "<b>" not in hit.highlights["title"]


def test_suggestions(loaded):
    assert loaded.suggest("区教育", frozenset({"public"}), 5) == ["区教育局学校名录"]
    assert loaded.suggest("教师", frozenset({"public"}), 5) == []
    assert loaded.suggest("教师", None, 5) == ["教师资格认定信息"]


def test_upsert_replaces_and_remove_deletes(loaded):
    loaded.upsert([document("schools", "中小学名录", department_name="统计局")])
    assert search(loaded, ["教育局"]).total == 0
    assert ids(search(loaded, ["中小学"])) == ["schools"]
    loaded.remove(["schools", "never-indexed"])
    assert search(loaded, ["中小学"]).total == 0
    assert loaded.count() == 3


def test_rebuild_swaps_in_a_new_index(loaded):
    assert loaded.rebuild(iter(CATALOG[:2])) == 2
    assert loaded.count() == 2
    assert ids(search(loaded, ["教育局"])) == ["schools"]
    assert search(loaded, ["公交"]).total == 0


def test_a_late_older_revision_does_not_undo_a_newer_one(loaded):
    loaded.upsert([document("schools", "中小学名录", department_name="统计局", revision=3)])
    loaded.upsert([document("schools", "区教育局学校名录", revision=2)])
    assert ids(search(loaded, ["中小学"])) == ["schools"]
    assert search(loaded, ["教育局"]).total == 0


def test_the_exact_title_wins_and_suggestions_are_bare_titles(loaded):
    loaded.upsert(
        [
            document("exact", "学校名录", title_en="School directory"),
            document("longer", "学校名录（历年汇总）", downloads=500),
        ]
    )
    assert ids(search(loaded, ["学校名录"]))[0] == "exact"
    assert "学校名录" in loaded.suggest("学校名", frozenset({"public"}), 5)


def test_engines_cut_titles_into_words_where_they_have_smartcn(index):
    if isinstance(index, SqliteCatalogIndex):
        pytest.skip("SQLite FTS5 has trigrams only; smartcn is an engine analyzer")
    mapping = next(iter(index.client.indices.get_mapping(index=index.alias).values()))
    title = mapping["mappings"]["properties"]["title"]
    assert ("words" in title.get("fields", {})) == index._has_smartcn()
    index.upsert([document("a", "禅城区教育局学校名录"), document("b", "区教育学校局名录")])
    # Both hold the characters; only the first holds the word 教育局 as a word.
    assert ids(search(index, ["教育局"]))[0] == "a"


def test_a_removed_dataset_does_not_come_back_from_a_late_write(loaded):
    # One drainer read the dataset (revision 3); meanwhile it was deleted from the catalog
    # and another drainer removed it; then the first one writes what it read.
    loaded.upsert([document("schools", "区教育局学校名录", revision=3)])
    loaded.remove(["schools"])
    loaded.upsert([document("schools", "区教育局学校名录", revision=3)])
    assert search(loaded, ["教育局"]).total == 0
    # A removal is for good (the catalog never reuses a dataset id): no later revision of
    # the deleted dataset comes back either, and removing it again is harmless.
    loaded.upsert([document("schools", "区教育局学校名录", revision=4)])
    assert search(loaded, ["教育局"]).total == 0
    loaded.remove(["schools"])
    assert loaded.count() == 3
    # Only the removed dataset is refused.
    loaded.upsert([document("insurance", "医疗保险定点机构名单", revision=5)])
    assert ids(search(loaded, ["定点机构名单"])) == ["insurance"]


def test_delete_indices_removes_every_index_by_name(index):
    if isinstance(index, SqliteCatalogIndex):
        pytest.skip("SQLite keeps its index in one file")
    index.rebuild(iter(CATALOG))
    index.delete_indices()
    left = index.client.indices.get(index=f"{index.alias}-*", allow_no_indices=True)
    assert not dict(left)


def test_title_sort_is_the_same_on_every_backend(index):
    titles = {
        "a": "abc数据",
        "b": "B数据",
        "c": "Abd数据",
        "d": "教育数据",
        "e": "公交数据",
        "f": "ABC数据",
    }
    index.upsert([document(doc_id, title) for doc_id, title in titles.items()])
    # Letters without regard to case (ties by id), then Chinese by code point: 公 < 教.
    assert ids(search(index, sort="title")) == ["a", "f", "c", "b", "e", "d"]


def test_excluded_ids_leave_hits_totals_and_facets(loaded):
    result = search(loaded, exclude_ids=frozenset({"schools"}), facets=("department",))
    assert sorted(ids(result)) == ["bus", "insurance"]
    assert result.total == 2
    assert dict(result.facets["department"]) == {"health": 1, "transport": 1}
