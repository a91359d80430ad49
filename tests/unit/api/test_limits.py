"""Which routes the rate limits cover, and where their counters live."""

import pytest

from api.limits import LIMITED_PATHS, storage_url_for


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets",
        "/api/v1/datasets/schools/resources/1/download",
        "/api/3/action/package_search",
        "/catalog.ttl",
        "/catalog.jsonld",
        "/data.json",
        "/dataset/schools.rdf",
        "/datasets/schools/resources/1/download",
        "/datasets/schools/resources/1/records/export",
        "/exports/42/download/",
    ],
)
def test_machine_facing_routes_are_limited(path):
    assert LIMITED_PATHS.search(path)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/datasets",
        "/datasets/schools",
        "/departments/edu",
        "/login",
        "/static/css/portal.css",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/apidocs",
        "/dataset/schools",
        "/downloads-help",
    ],
)
def test_pages_and_static_files_are_not(path):
    assert not LIMITED_PATHS.search(path)


@pytest.mark.parametrize(
    ("setting", "queue", "expected"),
    [
        ("redis://limits:6379/2", "redis://queue:6379/0", "redis://limits:6379/2"),
        ("memory://", "redis://queue:6379/0", "memory://"),
        ("", "redis://queue:6379/0", "redis://queue:6379/0"),
        ("", "rediss://queue:6380/0", "rediss://queue:6380/0"),
        ("", "sqlite:////var/lib/opendata/queue.db", "memory://"),
    ],
)
def test_counters_live_in_the_setting_else_the_queue_redis_else_memory(setting, queue, expected):
    assert storage_url_for(setting, queue) == expected
