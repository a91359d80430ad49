"""How remote metadata maps onto the catalog: the metadata hash, slugs, licences, themes."""

from datetime import date
from types import SimpleNamespace

import pytest

from harvesters.interfaces import RemoteDataset, RemoteResource
from harvesters.mapping import find_license, find_themes, metadata_hash, new_dataset_slug

LICENSES = [
    SimpleNamespace(id="gov-open", url=""),
    SimpleNamespace(id="cc-by-4.0", url="https://creativecommons.org/licenses/by/4.0/"),
    SimpleNamespace(id="cc0-1.0", url="https://creativecommons.org/publicdomain/zero/1.0/"),
]


@pytest.mark.parametrize(
    ("given", "found"),
    [
        ("cc-by-4.0", "cc-by-4.0"),
        ("CC-BY-4.0", "cc-by-4.0"),
        ("CC BY 4.0", "cc-by-4.0"),
        ("cc-by", "cc-by-4.0"),
        ("cc-zero", "cc0-1.0"),
        ("http://creativecommons.org/licenses/by/4.0/legalcode", "cc-by-4.0"),
        ("https://www.creativecommons.org/licenses/by/4.0/deed.zh-hans", "cc-by-4.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0", "cc0-1.0"),
        ("gov-open", "gov-open"),
        ("https://opensource.org/licenses/MIT", None),
        ("other-closed", None),
        ("", None),
    ],
)
def test_licences_are_found_by_id_alias_or_url(given, found):
    assert find_license(LICENSES, given) == found


def test_themes_are_found_by_slug_or_either_name_and_the_rest_kept():
    themes = [SimpleNamespace(slug="economy", name="经济建设", name_en="Economy")]
    assert find_themes(themes, ("经济建设", "ECONOMY ", "交通", " ")) == (
        ["economy", "economy"],
        ["交通"],
    )


def test_the_metadata_hash_ignores_the_raw_payload_and_content_but_not_metadata():
    def remote(**values):
        resource = RemoteResource(
            remote_id="r", name="文件", url="https://x.cn/a.csv", **values.pop("resource", {})
        )
        given = {"remote_id": "1", "title": "人口", "resources": (resource,)} | values
        return RemoteDataset(**given)

    base = metadata_hash(remote(), {})
    assert metadata_hash(remote(raw="{}"), {}) == base
    assert metadata_hash(remote(resource={"etag": "x", "size": 9}), {}) == base
    assert metadata_hash(remote(issued=date(2024, 1, 1)), {}) != base
    assert metadata_hash(remote(title="户籍人口"), {}) != base
    assert metadata_hash(remote(resource={"format": "CSV"}), {}) != base
    assert metadata_hash(remote(), {"state": "draft"}) != base


class NoSlugTaken:
    def scalar(self, query):
        return None


def test_slugs_are_ascii_stable_and_fit():
    chinese = RemoteDataset(remote_id="https://x.cn/dataset/renkou-2023", title="人口统计")
    slug = new_dataset_slug(NoSlugTaken(), "source-1", chinese)
    assert slug.startswith("renkou-2023-") and slug == new_dataset_slug(
        NoSlugTaken(), "source-1", chinese
    )
    assert slug != new_dataset_slug(NoSlugTaken(), "source-2", chinese)
    long = RemoteDataset(remote_id="1", title="x" * 300, title_en="Population " * 30)
    assert len(new_dataset_slug(NoSlugTaken(), "s", long)) <= 100
    nothing = RemoteDataset(remote_id="统计", title="统计")
    assert new_dataset_slug(NoSlugTaken(), "s", nothing).startswith("dataset-")
