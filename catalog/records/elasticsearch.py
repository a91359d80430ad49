"""The record store on Elasticsearch 8/9 through the official client (8.x speaks to both):
only the client calls, with keyword arguments for bodies and ``.body`` on responses."""

from elasticsearch import BadRequestError, Elasticsearch, NotFoundError, helpers

from catalog.records.engines import EngineRecordStore


class ElasticsearchRecordStore(EngineRecordStore):
    engine_name = "Elasticsearch"
    helpers = helpers
    not_found = NotFoundError
    bad_request = BadRequestError

    @staticmethod
    def make_client(url: str) -> Elasticsearch:
        return Elasticsearch(url, request_timeout=60, max_retries=2, retry_on_timeout=True)

    def _body(self, response) -> dict:
        return response.body

    def _create_index(self, name: str, settings: dict, mappings: dict) -> None:
        self.client.indices.create(index=name, settings=settings, mappings=mappings)

    def _search(self, body: dict, index: str | None = None) -> dict:
        return self.client.search(index=index, body=body).body

    def _update_aliases(self, actions: list[dict]) -> None:
        self.client.indices.update_aliases(actions=actions)

    def _put_settings(self, index: str, settings: dict) -> None:
        self.client.indices.put_settings(index=index, settings={"index": settings})

    def _open_pit(self, index: str, keep_alive: str) -> str:
        return self.client.open_point_in_time(index=index, keep_alive=keep_alive).body["id"]

    def _close_pit(self, pit_id: str) -> None:
        self.client.close_point_in_time(id=pit_id)
