"""Elasticsearch and OpenSearch: one query and mapping builder, two thin clients.

Chinese text is analysed with the built-in CJK bigram chain (unigrams kept, so one-
character words are found too); phrase queries then find 教育局 inside 区教育局学校名录.
Where the engine has the smartcn plugin (analysis-smartcn on Elasticsearch,
opensearch-analysis-smartcn on OpenSearch), title and description get a ``words``
subfield cut into dictionary words as well: a match of whole words there (学校 名录 in
any order) adds to the score, so a title made of the query's words outranks one that
merely contains their characters in a row.
Each dataset document carries the policy's labels; every search filters on the caller's
labels inside the query, so hits, totals and aggregations agree with the policy.
The index is reached through an alias: a rebuild fills a new index and swaps the alias.

Documents are versioned by the dataset's revision. A removal (the dataset was deleted
from the catalog; ids are never reused) is a delete at a version above any revision, so
the engine refuses a late write of an older document for as long as it keeps delete
tombstones: ``index.gc_deletes``, raised here from 60 s to an hour. A drainer that held a
deleted dataset's document for longer than that could still write it back; the next
``opendata search reindex`` drops it.
"""

import copy
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from catalog.interfaces import SearchHit, SearchQuery, SearchResult

FACET_SIZE = 50
# Above any dataset revision and below the engines' limit for external versions (2**63 - 1).
REMOVED_VERSION = 10**18
BULK_CHUNK = 500
TEXT_FIELDS = {
    "title": 10,
    "title_en": 5,
    "keywords": 3,
    "resource_code": 3,
    "description": 1,
    "resource_names": 1,
    "field_titles": 1,
}
SORTS = {
    "relevance": [{"_score": "desc"}, {"modified_at": "desc"}],
    "modified": [{"modified_at": "desc"}, {"id": "asc"}],
    # title.exact is lowercased: letters sort case-insensitively, as on SQLite; Chinese by
    # code point (pinyin order would need ICU collation on every backend).
    "title": [{"title.exact": "asc"}, {"id": "asc"}],
    "released": [{"release_date": {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
    "downloads": [{"downloads": "desc"}, {"modified_at": "desc"}],
    "id": [{"id": "asc"}],
}

INDEX_SETTINGS = {
    "number_of_shards": 1,
    # How long a removed dataset's delete tombstone refuses late writes (see above).
    "gc_deletes": "1h",
    "analysis": {
        "analyzer": {
            "chinese": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["cjk_width", "lowercase", "chinese_bigrams"],
            }
        },
        "filter": {"chinese_bigrams": {"type": "cjk_bigram", "output_unigrams": True}},
        "normalizer": {"exact": {"type": "custom", "filter": ["lowercase"]}},
    },
}

_CHINESE_TEXT = {"type": "text", "analyzer": "chinese"}
_KEYWORD = {"type": "keyword"}
_KEYWORD_INTO_TEXT = {"type": "keyword", "copy_to": "keywords"}

MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "id": _KEYWORD,
        "slug": _KEYWORD,
        "title": {
            **_CHINESE_TEXT,
            "fields": {"exact": {"type": "keyword", "normalizer": "exact"}},
        },
        "title_en": {"type": "text", "analyzer": "english"},
        "description": _CHINESE_TEXT,
        "keywords": _CHINESE_TEXT,
        "resource_code": {**_KEYWORD, "copy_to": "keywords"},
        "tags": _KEYWORD_INTO_TEXT,
        "department": _KEYWORD,
        "department_name": _KEYWORD_INTO_TEXT,
        "themes": _KEYWORD,
        "theme_names": _KEYWORD_INTO_TEXT,
        "formats": _KEYWORD,
        "license": _KEYWORD,
        "open_type": _KEYWORD,
        "share_type": _KEYWORD,
        "update_frequency": _KEYWORD,
        "state": _KEYWORD,
        "resource_names": _CHINESE_TEXT,
        "field_titles": _CHINESE_TEXT,
        "modified_at": {"type": "date"},
        "release_date": {"type": "date"},
        "downloads": {"type": "integer"},
        "revision": {"type": "integer"},
        "labels": _KEYWORD,
        "data_labels": _KEYWORD,
    },
}


WORD_FIELDS = {"title": 4, "description": 1}


def catalog_mappings(smartcn: bool) -> dict:
    """The catalog index mapping; with smartcn, the word subfields too."""
    if not smartcn:
        return MAPPINGS
    mappings = copy.deepcopy(MAPPINGS)
    for name in WORD_FIELDS:
        subfields = mappings["properties"][name].setdefault("fields", {})
        subfields["words"] = {"type": "text", "analyzer": "smartcn"}
    return mappings


def label_filter(labels: frozenset[str] | None) -> list[dict]:
    return [] if labels is None else [{"terms": {"labels": sorted(labels)}}]


def build_search_body(query: SearchQuery) -> dict:
    """The engine query for a catalog search: the same for Elasticsearch and OpenSearch."""
    filters = label_filter(query.labels)
    filters += [{"terms": {field: list(values)}} for field, values in query.filters]
    must = []
    for alternatives in query.terms:
        should = []
        for word in alternatives:
            should.append(
                {
                    "multi_match": {
                        "query": word,
                        "type": "phrase",
                        "fields": [f"{name}^{boost}" for name, boost in TEXT_FIELDS.items()],
                    }
                }
            )
            should.append({"term": {"title.exact": {"value": word.lower(), "boost": 100}}})
            # Absent from the index without smartcn, where it matches nothing and costs nothing.
            should.append(
                {
                    "multi_match": {
                        "query": word,
                        "operator": "and",
                        "fields": [f"{name}.words^{boost}" for name, boost in WORD_FIELDS.items()],
                    }
                }
            )
        must.append({"bool": {"should": should, "minimum_should_match": 1}})
    return {
        "query": {
            "bool": {
                "filter": filters,
                "must": must,
                "must_not": [{"ids": {"values": sorted(query.exclude_ids)}}]
                if query.exclude_ids
                else [],
            }
        },
        "sort": SORTS[query.sort],
        "from": query.offset,
        "size": query.limit,
        "track_total_hits": True,
        "_source": False,
        "aggs": {field: {"terms": {"field": field, "size": FACET_SIZE}} for field in query.facets},
        "highlight": {
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "encoder": "html",
            "fields": {
                "title": {"number_of_fragments": 0},
                "description": {"fragment_size": 120, "number_of_fragments": 1},
            },
        },
    }


def build_suggest_body(prefix: str, labels: frozenset[str] | None, limit: int) -> dict:
    return {
        "query": {
            "bool": {
                "filter": label_filter(labels),
                "should": [
                    {"prefix": {"title.exact": {"value": prefix.lower(), "boost": 5}}},
                    {"match_phrase": {"title": prefix}},
                ],
                "minimum_should_match": 1,
            }
        },
        "size": limit,
        "_source": ["title"],
        "sort": [{"_score": "desc"}, {"downloads": "desc"}, {"title.exact": "asc"}],
    }


def read_search_response(response: dict) -> SearchResult:
    hits = [
        SearchHit(
            hit["_id"],
            float(hit.get("_score") or 0.0),
            {field: " … ".join(parts) for field, parts in hit.get("highlight", {}).items()},
        )
        for hit in response["hits"]["hits"]
    ]
    facets = {
        field: [(bucket["key"], bucket["doc_count"]) for bucket in aggregation["buckets"]]
        for field, aggregation in response.get("aggregations", {}).items()
    }
    return SearchResult(hits, response["hits"]["total"]["value"], facets)


def client_url(search_url: str) -> str:
    """``opensearch+https://host:9200`` -> ``https://host:9200``."""
    parts = urlsplit(search_url)
    return urlunsplit((parts.scheme.split("+", 1)[1], parts.netloc, parts.path, "", ""))


class EngineCatalogIndex:
    """The catalog index on a search engine; subclasses only make the client."""

    engine_name = "engine"

    def __init__(self, client, alias: str):
        self.client = client
        self.alias = alias

    @classmethod
    def from_settings(cls, settings) -> "EngineCatalogIndex":
        return cls(
            cls.make_client(client_url(settings.search_url)),
            f"{settings.search_index_prefix}-datasets",
        )

    @staticmethod
    def make_client(url: str):
        raise NotImplementedError

    # The two clients name a request body differently; these are the only differences.
    def _search(self, body: dict) -> dict:
        raise NotImplementedError

    def _create_index(self, name: str, settings: dict, mappings: dict) -> None:
        raise NotImplementedError

    def _has_smartcn(self) -> bool:
        # Asking the analyzer itself finds it whether it came as a plugin or as a module.
        try:
            self._analyze("smartcn", "禅城区")
        except Exception as error:  # each client raises its own kind; both carry the status
            if getattr(error, "status_code", None) == 400:  # no such analyzer
                return False
            raise
        return True

    def _analyze(self, analyzer: str, text: str) -> dict:
        raise NotImplementedError

    def _new_index(self) -> str:
        name = self._new_index_name()
        self._create_index(name, INDEX_SETTINGS, catalog_mappings(self._has_smartcn()))
        return name

    def _bulk(self, actions: Iterator[dict], refresh: bool | str) -> list[dict]:
        """Send the actions; return the per-item errors."""
        raise NotImplementedError

    def _update_aliases(self, actions: list[dict]) -> None:
        raise NotImplementedError

    def _send(self, actions: Iterator[dict], refresh: bool | str) -> None:
        errors = [
            error
            for error in self._bulk(actions, refresh)
            # Removing a document that is not there (404) or already removed (409) is what was
            # wanted, and a newer revision or a removal already indexed (409) is better than
            # the document that came late.
            if not ("delete" in error and error["delete"].get("status") in (404, 409))
            and not ("index" in error and error["index"].get("status") == 409)
        ]
        if errors:
            raise RuntimeError(f"{len(errors)} documents failed: {errors[:3]}")

    def _new_index_name(self) -> str:
        return f"{self.alias}-{time.time_ns()}"

    def ensure(self) -> None:
        if not self.client.indices.exists_alias(name=self.alias):
            name = self._new_index()
            self.client.indices.put_alias(index=name, name=self.alias)

    def upsert(self, documents: list[dict]) -> None:
        if documents:
            # The dataset's revision is the document's version: a drain that read an older
            # revision and writes late loses to the newer one instead of overwriting it.
            self._send(
                (
                    {
                        "_op_type": "index",
                        "_index": self.alias,
                        "_id": d["id"],
                        "_source": d,
                        "version": d["revision"],
                        "version_type": "external_gte",
                    }
                    for d in documents
                ),
                refresh="wait_for",
            )

    def remove(self, ids: list[str]) -> None:
        if ids:
            self._send(
                (
                    {
                        "_op_type": "delete",
                        "_index": self.alias,
                        "_id": i,
                        "version": REMOVED_VERSION,
                        "version_type": "external",
                    }
                    for i in ids
                ),
                refresh="wait_for",
            )

    def search(self, query: SearchQuery) -> SearchResult:
        return read_search_response(self._search(build_search_body(query)))

    def suggest(self, prefix: str, labels: frozenset[str] | None, limit: int) -> list[str]:
        prefix = prefix.strip()
        if not prefix:
            return []
        response = self._search(build_suggest_body(prefix, labels, limit))
        return [hit["_source"]["title"] for hit in response["hits"]["hits"]]

    def rebuild(self, documents: Iterator[dict]) -> int:
        self.ensure()
        old = list(self.client.indices.get_alias(name=self.alias))
        new = self._new_index()
        count = 0

        def actions():
            nonlocal count
            for document in documents:
                count += 1
                yield {
                    "_op_type": "index",
                    "_index": new,
                    "_id": document["id"],
                    "_source": document,
                }

        try:
            self._send(actions(), refresh=True)
        except BaseException:
            self.client.indices.delete(index=new)
            raise
        self._update_aliases(
            [{"remove": {"index": name, "alias": self.alias}} for name in old]
            + [{"add": {"index": new, "alias": self.alias}}]
        )
        for name in old:
            self.client.indices.delete(index=name)
        return count

    def count(self) -> int:
        return int(self.client.count(index=self.alias)["count"])

    def delete_indices(self) -> None:
        """Delete every index of this catalog, the alias's and any a failed rebuild left.

        By name, one at a time: a wildcard delete is refused where the cluster sets
        ``action.destructive_requires_name`` (Elasticsearch 8's default)."""
        found = self.client.indices.get(
            index=f"{self.alias}-*", allow_no_indices=True, ignore_unavailable=True
        )
        for name in found:
            if name.startswith(f"{self.alias}-"):
                self.client.indices.delete(index=name)

    def check(self) -> str:
        """Which engine, and how many datasets the index holds; it only looks: a missing
        index is an error here, created by ``ensure`` (`opendata init`)."""
        engine = f"{self.engine_name} {self.client.info()['version']['number']}"
        if not self.client.indices.exists_alias(name=self.alias):
            raise LookupError(f"{engine} has no index {self.alias}: run `opendata init`")
        return f"{engine}, alias {self.alias}, {self.count()} datasets"
