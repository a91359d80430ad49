"""OpenSearch 2/3 through opensearch-py."""

from collections.abc import Iterator

from opensearchpy import OpenSearch, helpers

from catalog.search.engines import BULK_CHUNK, EngineCatalogIndex


class OpenSearchCatalogIndex(EngineCatalogIndex):
    engine_name = "OpenSearch"

    @staticmethod
    def make_client(url: str) -> OpenSearch:
        return OpenSearch(hosts=[url], timeout=30, max_retries=2, retry_on_timeout=True)

    def _search(self, body: dict) -> dict:
        return self.client.search(index=self.alias, body=body)

    def _create_index(self, name: str, settings: dict, mappings: dict) -> None:
        self.client.indices.create(index=name, body={"settings": settings, "mappings": mappings})

    def _analyze(self, analyzer: str, text: str) -> dict:
        return self.client.indices.analyze(body={"analyzer": analyzer, "text": text})

    def _bulk(self, actions: Iterator[dict], refresh: bool | str) -> list[dict]:
        _done, errors = helpers.bulk(
            self.client, actions, chunk_size=BULK_CHUNK, refresh=refresh, raise_on_error=False
        )
        return errors

    def _update_aliases(self, actions: list[dict]) -> None:
        self.client.indices.update_aliases(body={"actions": actions})
