"""Reading an RDF document fetched by a harvest into an rdflib graph, safely.

- The format comes from the source's ``format`` option, else the answer's Content-Type
  (the fetch asks for Turtle, RDF/XML and JSON-LD by Accept), else the URL's suffix.
- A document that does not parse is a ``HarvestSourceError`` whose message names the URL,
  the format and the line rdflib stopped at, so a steward can find the fault.
- JSON-LD names its ``@context`` by URL, and rdflib would fetch that URL itself with
  urllib, past the harvest fetcher's address rules and limits. So every remote context
  (``@context`` strings and ``@import``, at any depth) is fetched here through the
  harvest's fetcher and written inline before rdflib sees the document; a source may map
  a context URL onto a mirror (option ``jsonld_contexts``) for portals that point at a
  context the portal cannot reach.
"""

import json
import re
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.sax import SAXException, SAXParseException

from rdflib import Graph
from rdflib.exceptions import ParserError
from rdflib.plugins.parsers.notation3 import BadSyntax

from harvesters.interfaces import FetchedDocument, Fetcher, HarvestSourceError

ACCEPT = (
    "text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.8, "
    "application/n-triples;q=0.5, application/xml;q=0.3, */*;q=0.1"
)
FORMAT_NAMES = {"turtle": "Turtle", "xml": "RDF/XML", "json-ld": "JSON-LD", "nt": "N-Triples"}
# The ``format`` option's accepted spellings.
FORMAT_OPTIONS = {
    "turtle": "turtle",
    "ttl": "turtle",
    "xml": "xml",
    "rdf/xml": "xml",
    "rdfxml": "xml",
    "rdf": "xml",
    "json-ld": "json-ld",
    "jsonld": "json-ld",
    "nt": "nt",
    "n-triples": "nt",
}
_CONTENT_TYPES = {
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/rdf+xml": "xml",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/ld+json": "json-ld",
    "application/json": "json-ld",
    "application/n-triples": "nt",
}
_SUFFIXES = {
    ".ttl": "turtle",
    ".rdf": "xml",
    ".xml": "xml",
    ".owl": "xml",
    ".jsonld": "json-ld",
    ".json": "json-ld",
    ".nt": "nt",
}
MAX_CONTEXT_DEPTH = 8
MAX_CONTEXTS = 20
_TURTLE_REASON = re.compile(r"Bad syntax \((.*?)\) at \^", re.S)


def document_format(document: FetchedDocument, override: str | None = None) -> str:
    """The rdflib format name of a fetched document (see the module docstring)."""
    if override:
        return FORMAT_OPTIONS[override.lower()]
    media_type = document.content_type.split(";")[0].strip().lower()
    if media_type in _CONTENT_TYPES:
        return _CONTENT_TYPES[media_type]
    suffix = PurePosixPath(urlsplit(document.url).path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise HarvestSourceError(
        f"{document.url} is sent as {media_type or 'no media type'} and its name has no "
        "RDF suffix, so its format is unknown; set the source's format option "
        "(turtle, xml or json-ld)"
    )


def parse_document(
    document: FetchedDocument,
    fetcher: Fetcher,
    *,
    override: str | None = None,
    context_mirrors: Mapping[str, str] | None = None,
) -> Graph:
    """The document as a graph, relative IRIs resolved against its URL."""
    rdf_format = document_format(document, override)
    label = FORMAT_NAMES[rdf_format]
    graph = Graph()
    try:
        if rdf_format == "json-ld":
            data = _json(document)
            resolver = _ContextResolver(fetcher, document.url, context_mirrors or {})
            inlined = resolver.inline(data, depth=0)
            graph.parse(data=json.dumps(inlined), format="json-ld", publicID=document.url)
        else:
            graph.parse(data=document.content, format=rdf_format, publicID=document.url)
    except BadSyntax as error:
        reason = _TURTLE_REASON.search(str(error))
        why = reason.group(1) if reason else str(error).splitlines()[0]
        raise HarvestSourceError(
            f"{document.url} is not valid {label}: line {error.lines + 1}: {why}"
        ) from None
    except SAXParseException as error:
        raise HarvestSourceError(
            f"{document.url} is not valid {label}: line {error.getLineNumber()}, column "
            f"{error.getColumnNumber()}: {error.getMessage()}"
        ) from None
    except (SAXException, ParserError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise HarvestSourceError(f"{document.url} is not valid {label}: {error}") from None
    return graph


def _json(document: FetchedDocument) -> Any:
    try:
        return json.loads(document.content)
    except UnicodeDecodeError as error:
        raise HarvestSourceError(f"{document.url} is not UTF-8 JSON-LD: {error}") from None
    except json.JSONDecodeError as error:
        raise HarvestSourceError(
            f"{document.url} is not valid JSON-LD: line {error.lineno}, column {error.colno}: "
            f"{error.msg}"
        ) from None


class _ContextResolver:
    """Fetches remote JSON-LD contexts through the harvest fetcher and inlines them."""

    def __init__(self, fetcher: Fetcher, base: str, mirrors: Mapping[str, str]) -> None:
        self.fetcher = fetcher
        self.base = base
        self.mirrors = mirrors
        self.fetched: dict[str, Any] = {}

    def inline(self, node: Any, depth: int) -> Any:
        if isinstance(node, list):
            return [self.inline(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        inlined = {}
        for key, value in node.items():
            inlined[key] = (
                self._context(value, depth) if key == "@context" else self.inline(value, depth)
            )
        return inlined

    def _context(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self._remote(value, depth)
        if isinstance(value, list):
            return [self._context(item, depth) for item in value]
        if isinstance(value, dict):
            local = {
                key: self.inline(item, depth) for key, item in value.items() if key != "@import"
            }
            if isinstance(value.get("@import"), str):
                imported = self._remote(value["@import"], depth)
                if isinstance(imported, dict):
                    return {**imported, **local}
            return local
        return value

    def _remote(self, reference: str, depth: int) -> Any:
        url = urljoin(self.base, reference)
        if url in self.fetched:
            return self.fetched[url]
        if depth >= MAX_CONTEXT_DEPTH or len(self.fetched) >= MAX_CONTEXTS:
            raise HarvestSourceError(
                f"{self.base} names too many nested JSON-LD contexts (at {url})"
            )
        source = self.mirrors.get(url, url)
        document = self.fetcher.get(source, accept="application/ld+json, application/json")
        try:
            loaded = json.loads(document.content)
        except ValueError as error:
            raise HarvestSourceError(
                f"the JSON-LD context {source} of {self.base} is not JSON: {error}"
            ) from None
        if not isinstance(loaded, dict) or "@context" not in loaded:
            raise HarvestSourceError(f"{source} is not a JSON-LD context document")
        self.fetched[url] = None  # a context that names itself ends here
        resolved = self._context(loaded["@context"], depth + 1)
        self.fetched[url] = resolved
        return resolved


def context_mirror_errors(value: Any, url_error: Callable[[object], str | None]) -> list[str]:
    """Why a ``jsonld_contexts`` option (context URL -> mirror URL) is wrong, if it is."""
    if not isinstance(value, Mapping):
        return ["Give an object mapping each context URL to the URL to fetch it from."]
    problems = []
    for original, mirror in value.items():
        for url in (original, mirror):
            problem = url_error(url)
            if problem:
                problems.append(f"{url!r}: {problem}")
    return problems
