"""A small harvest source type for the job-queue, CLI and API tests.

It reads a JSON list of titles from an http(s) URL through the fetcher it is given (a local
server in the tests), or takes the titles from its config with a ``sample:`` URL. An empty
title is an object it cannot map (a GatherFailure). ``config["gate"]`` names an event in
GATES that every object waits for, so a test can watch a job while it runs.
"""

import json
import threading
from collections.abc import Iterator

from harvesters import registry
from harvesters.interfaces import GatherFailure, RemoteDataset, SourceSpec

GATES: dict[str, threading.Event] = {}
GATE_TIMEOUT_SECONDS = 30


class SampleSource:
    kind = "sample"
    label = "测试目录"

    def __init__(self, spec: SourceSpec, fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        errors = {}
        if not spec.url.startswith(("http://", "https://", "sample:")):
            errors["url"] = ["测试目录的地址须为 http(s):// 或 sample:。"]
        titles = spec.config.get("titles", [])
        if not isinstance(titles, list) or not all(isinstance(t, str) for t in titles):
            errors["config"] = ["titles 须为字符串列表。"]
        return errors

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        if self.spec.url.startswith("sample:"):
            titles = self.spec.config.get("titles", [])
        else:
            titles = json.loads(self.fetcher.get(self.spec.url).content)
        gate = GATES.get(self.spec.config.get("gate", ""))
        for number, title in enumerate(titles):
            if gate is not None and not gate.wait(GATE_TIMEOUT_SECONDS):
                raise RuntimeError("the test never opened the gate")
            raw = json.dumps({"number": number, "title": title}, ensure_ascii=False)
            if not title:
                yield GatherFailure(remote_id=f"item-{number}", message="没有标题", raw=raw)
                continue
            yield RemoteDataset(remote_id=f"item-{number}", title=title, raw=raw)


def register_sample_type(monkeypatch) -> None:
    """Make ``sample`` the one installed source type for the test."""
    monkeypatch.setattr(registry, "source_types", lambda: {"sample": SampleSource})
