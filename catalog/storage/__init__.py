"""Object store backends, chosen by the scheme of ``OPENDATA_STORAGE_URL``."""

from urllib.parse import urlsplit

from catalog.interfaces import ObjectStore
from catalog.storage.local import LocalObjectStore
from catalog.storage.s3 import S3ObjectStore

BACKENDS = {"file": LocalObjectStore, "s3": S3ObjectStore}


def object_store_from_settings(settings) -> ObjectStore:
    scheme = urlsplit(settings.storage_url).scheme
    if scheme not in BACKENDS:
        raise ValueError(
            f"OPENDATA_STORAGE_URL: no object store for {scheme!r}; use one of {sorted(BACKENDS)}"
        )
    return BACKENDS[scheme].from_settings(settings)
