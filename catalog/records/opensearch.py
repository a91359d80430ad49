"""The record store on OpenSearch 2/3 through opensearch-py: only the client calls."""

from opensearchpy import NotFoundError, OpenSearch, RequestError, helpers

from catalog.records.engines import EngineRecordStore


class OpenSearchRecordStore(EngineRecordStore):
    engine_name = "OpenSearch"
    helpers = helpers
    not_found = NotFoundError
    bad_request = RequestError

    @staticmethod
    def make_client(url: str) -> OpenSearch:
        return OpenSearch(hosts=[url], timeout=60, max_retries=2, retry_on_timeout=True)

    def _body(self, response) -> dict:
        return response

    def _create_index(self, name: str, settings: dict, mappings: dict) -> None:
        self.client.indices.create(index=name, body={"settings": settings, "mappings": mappings})

    def _search(self, body: dict, index: str | None = None) -> dict:
        return self.client.search(index=index, body=body)

    def _update_aliases(self, actions: list[dict]) -> None:
        self.client.indices.update_aliases(body={"actions": actions})

    def _put_settings(self, index: str, settings: dict) -> None:
        self.client.indices.put_settings(index=index, body={"index": settings})

    def _open_pit(self, index: str, keep_alive: str) -> str:
        return self.client.create_pit(index=index, keep_alive=keep_alive)["pit_id"]

    def _close_pit(self, pit_id: str) -> None:
        self.client.delete_pit(body={"pit_id": [pit_id]})
