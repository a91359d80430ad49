"""Search backends, chosen by the scheme of ``OPENDATA_SEARCH_URL``."""

from urllib.parse import urlsplit

from catalog.interfaces import CatalogIndex
from catalog.search.elasticsearch import ElasticsearchCatalogIndex
from catalog.search.opensearch import OpenSearchCatalogIndex
from catalog.search.sqlite import SqliteCatalogIndex

BACKENDS: dict[str, type] = {
    "sqlite": SqliteCatalogIndex,
    "opensearch+http": OpenSearchCatalogIndex,
    "opensearch+https": OpenSearchCatalogIndex,
    "elasticsearch+http": ElasticsearchCatalogIndex,
    "elasticsearch+https": ElasticsearchCatalogIndex,
}


def catalog_index_from_settings(settings) -> CatalogIndex:
    scheme = urlsplit(settings.search_url).scheme
    if scheme not in BACKENDS:
        raise ValueError(
            f"OPENDATA_SEARCH_URL: no search backend for {scheme!r}; use one of {sorted(BACKENDS)}"
        )
    return BACKENDS[scheme].from_settings(settings)
