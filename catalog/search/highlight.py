"""Highlighted snippets for engines that do not make their own (the embedded one)."""

import re
from html import escape

SNIPPET_CHARS = 120


def highlight(text: str, words: list[str], snippet_chars: int = 0) -> str:
    """``text`` HTML-escaped with ``<mark>`` around each word; cut to a window around the
    first match when ``snippet_chars`` is set. Returns "" when nothing matches."""
    words = sorted({w for w in words if w}, key=len, reverse=True)
    if not text or not words:
        return ""
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    first = pattern.search(text)
    if first is None:
        return ""
    start, end = 0, len(text)
    if snippet_chars and len(text) > snippet_chars:
        start = max(0, first.start() - snippet_chars // 3)
        end = min(len(text), start + snippet_chars)
    window = text[start:end]
    marked = []
    position = 0
    for match in pattern.finditer(window):
        marked.append(escape(window[position : match.start()]))
        marked.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    marked.append(escape(window[position:]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + "".join(marked) + suffix
