"""The demo's dataset times and link URLs: fixed by its data, fitting each dataset."""

import datetime as dt
import json
from pathlib import Path

import pytest

from catalog.demo import files, links, timeline

DATA_DIR = Path(files.__file__).with_name("data")
DATASETS = json.loads((DATA_DIR / "datasets.json").read_text(encoding="utf-8"))
SITE = json.loads((DATA_DIR / "site.json").read_text(encoding="utf-8"))
REFERENCE = dt.datetime.fromisoformat(SITE["reference_time"])
CHINA = dt.timezone(dt.timedelta(hours=8))
PERIOD_DAYS = {
    "realtime": 1 / 24,
    "daily": 1,
    "weekly": 7,
    "monthly": 31,
    "quarterly": 92,
    "semiannual": 183,
    "annual": 365,
    "other": 730,
}


def times(spec):
    created = timeline.created_at(
        spec["slug"], dt.date.fromisoformat(spec["release_date"]), REFERENCE
    )
    modified = timeline.modified_at(spec["slug"], spec["update_frequency"], created, REFERENCE)
    return created, modified


@pytest.mark.parametrize("spec", DATASETS, ids=lambda spec: spec["slug"])
def test_a_dataset_was_created_on_its_release_date_and_changed_within_its_period(spec):
    created, modified = times(spec)
    assert created.tzinfo is dt.UTC and modified.tzinfo is dt.UTC
    local = created.astimezone(CHINA)
    assert local.date() == dt.date.fromisoformat(spec["release_date"])
    assert dt.time(9) <= local.time() < dt.time(17)
    assert created <= modified <= REFERENCE
    period = dt.timedelta(days=PERIOD_DAYS[spec["update_frequency"]])
    assert REFERENCE - modified <= period or modified == created


def test_times_are_spread_and_the_same_on_every_call():
    first = [times(spec) for spec in DATASETS]
    assert first == [times(spec) for spec in DATASETS]
    modified = [m for _, m in first]
    assert len(set(modified)) == len(modified)  # the latest datasets have a clear order
    monthly = [
        m
        for spec, (_, m) in zip(DATASETS, first, strict=True)
        if spec["update_frequency"] == "monthly"
    ]
    assert max(monthly) - min(monthly) > dt.timedelta(days=20)


def test_times_depend_on_the_reference_time_only():
    spec = DATASETS[0]
    later = REFERENCE + dt.timedelta(days=400)
    created = timeline.created_at(spec["slug"], dt.date(2023, 3, 14), later)
    assert created == timeline.created_at(spec["slug"], dt.date(2023, 3, 14), REFERENCE)
    moved = timeline.modified_at(spec["slug"], "monthly", created, later)
    assert moved - timeline.modified_at(
        spec["slug"], "monthly", created, REFERENCE
    ) == dt.timedelta(days=400)


def test_a_grant_is_given_at_the_office_opening_of_its_day():
    given = timeline.granted_at(dt.date(2025, 3, 3), REFERENCE)
    assert given == dt.datetime(2025, 3, 3, 1, tzinfo=dt.UTC)


def test_link_urls():
    site = "https://www.chancheng.gov.cn/ccjyj"
    portal = SITE["portal_url"]
    api = {"name": "数据集接口", "format": "API"}
    page = {"name": "在线查询", "format": "HTML", "path": "gkmlpt/content/4/4626/post_4626901.html"}
    assert links.link_url(api, "edu-school-directory", site, portal) == (
        "https://data.chancheng.gov.cn/api/v1/datasets/edu-school-directory"
    )
    assert links.link_url(page, "edu-enrollment-zones", site + "/", portal) == (
        "https://www.chancheng.gov.cn/ccjyj/gkmlpt/content/4/4626/post_4626901.html"
    )
