"""Elasticsearch 8/9 through the official client (8.x speaks to both)."""

from collections.abc import Iterator

from elasticsearch import Elasticsearch, helpers

from catalog.search.engines import BULK_CHUNK, EngineCatalogIndex


class ElasticsearchCatalogIndex(EngineCatalogIndex):
    engine_name = "Elasticsearch"

    @staticmethod
    def make_client(url: str) -> Elasticsearch:
        return Elasticsearch(url, request_timeout=30, max_retries=2, retry_on_timeout=True)

    def _search(self, body: dict) -> dict:
        return self.client.search(index=self.alias, body=body).body

    def _create_index(self, name: str, settings: dict, mappings: dict) -> None:
        self.client.indices.create(index=name, settings=settings, mappings=mappings)

    def _analyze(self, analyzer: str, text: str) -> dict:
        return self.client.indices.analyze(analyzer=analyzer, text=text).body

    def _bulk(self, actions: Iterator[dict], refresh: bool | str) -> list[dict]:
        _done, errors = helpers.bulk(
            self.client, actions, chunk_size=BULK_CHUNK, refresh=refresh, raise_on_error=False
        )
        return errors

    def _update_aliases(self, actions: list[dict]) -> None:
        self.client.indices.update_aliases(actions=actions)
