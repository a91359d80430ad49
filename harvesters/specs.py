"""The check a harvest source's kind, URL and options pass before they are saved.

The catalog's harvest services take it as a callback (catalog knows nothing of the source
types); the CLI calls it directly and the API finds it on the app, so a steward's bad URL
or option is refused the same way on both paths, before any job runs.
"""

from collections.abc import Mapping
from typing import Any

from harvesters import registry
from harvesters.interfaces import SourceSpec


def check_spec(kind: str, url: str, config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field errors of a source's kind, URL and options ({} when the source type takes them)."""
    try:
        chosen = registry.source_type(kind)
    except KeyError:
        known = "、".join(sorted(registry.source_types())) or "无"
        return {"kind": [f"未知的采集源类型 {kind!r}；可用的类型：{known}。"]}
    return chosen.check_spec(SourceSpec(url=url, config=dict(config)))
