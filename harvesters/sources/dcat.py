"""A DCAT catalog (DCAT-AP 2 and 3, in Turtle, RDF/XML or JSON-LD) as a harvest source.

The catalog is read page by page: a page that carries a Hydra paging view
(``hydra:PartialCollectionView`` or the older ``hydra:PagedCollection``) names the next page
with ``hydra:next`` or ``hydra:nextPage``, and pages are followed to the end; a page seen
before, or more pages than the ``max_pages`` option allows, ends the walk with an error
rather than a loop. Each page is parsed by ``harvesters.sources.rdf``.

Every ``dcat:Dataset`` and ``dcat:DatasetSeries`` is one dataset, its remote id its IRI
(or its ``dct:identifier`` when it is a blank node). A blank-node dataset inside another
one (``dct:hasPart``, ``dct:references``, ...) is described by that dataset, not a dataset of its
own; the distributions of its parts become resources of the dataset. Series members keep
their series in the extras (``in_series``) and a series lists its members.

Language-tagged text prefers Chinese, then untagged text, then English, then any language;
the English text also fills the ``_en`` fields.
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, OWL, RDF, RDFS, SKOS

from harvesters.interfaces import (
    Fetcher,
    GatherFailure,
    HarvestSourceError,
    RemoteDataset,
    RemoteResource,
    SourceSpec,
)
from harvesters.sources.files import http_url_error
from harvesters.sources.mapping import (
    email_of,
    first_text,
    format_label,
    media_type_of,
    normalise_license,
    parse_date,
    parse_datetime,
    parse_interval,
    phone_of,
    spatial_text,
    stores_file,
    update_frequency,
)
from harvesters.sources.options import option_errors
from harvesters.sources.rdf import ACCEPT, FORMAT_OPTIONS, context_mirror_errors, parse_document

# rdflib's DCAT namespace object knows DCAT 2 terms only and warns on DCAT 3 ones
# (DatasetSeries, inSeries, version); a plain namespace takes them all.
DCAT = Namespace("http://www.w3.org/ns/dcat#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SCHEMA = Namespace("http://schema.org/")
SCHEMA_HTTPS = Namespace("https://schema.org/")
TIME = Namespace("http://www.w3.org/2006/time#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
DEFAULT_MAX_PAGES = 1000
_DATASET_TYPES = (DCAT.Dataset, DCAT.DatasetSeries)
_LABELS = (SKOS.prefLabel, RDFS.label, FOAF.name, VCARD.fn, DCTERMS.title, RDF.value)


class DcatSource:
    """A DCAT catalog at an http(s) URL.

    Options: ``format`` (turtle, xml or json-ld, when the server's Content-Type and the
    URL do not say), ``max_pages`` (default 1000) and ``jsonld_contexts`` (an object
    mapping JSON-LD context URLs onto mirrors to fetch them from)."""

    kind = "dcat"
    label = "DCAT 目录"
    OPTIONS: ClassVar[dict[str, type]] = {"format": str, "max_pages": int}

    def __init__(self, spec: SourceSpec, fetcher: Fetcher) -> None:
        self.spec = spec
        self.fetcher = fetcher

    @classmethod
    def check_spec(cls, spec: SourceSpec) -> dict[str, list[str]]:
        config = spec.config
        plain = (
            {key: value for key, value in config.items() if key != "jsonld_contexts"}
            if isinstance(config, Mapping)
            else config
        )
        errors = option_errors(plain, cls.OPTIONS)
        url_error = http_url_error(spec.url)
        if url_error:
            errors["url"] = [url_error]
        if not isinstance(config, Mapping):
            return errors
        rdf_format = config.get("format")
        if isinstance(rdf_format, str) and rdf_format.lower() not in FORMAT_OPTIONS:
            errors["config.format"] = ["Use turtle, xml or json-ld."]
        max_pages = config.get("max_pages")
        if isinstance(max_pages, int) and max_pages < 1:
            errors["config.max_pages"] = ["Use a number of at least 1."]
        if "jsonld_contexts" in config:
            problems = context_mirror_errors(config["jsonld_contexts"], http_url_error)
            if problems:
                errors["config.jsonld_contexts"] = problems
        return errors

    def gather(self) -> Iterator[RemoteDataset | GatherFailure]:
        """Every dataset of every page of the catalog, one page parsed at a time."""
        errors = self.check_spec(self.spec)
        if errors:
            raise HarvestSourceError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
            )
        max_pages = self.spec.config.get("max_pages") or DEFAULT_MAX_PAGES
        page_url: str | None = self.spec.url.strip()
        pages_seen: set[str] = set()
        datasets_seen: set[str] = set()
        while page_url:
            if page_url in pages_seen:
                raise HarvestSourceError(f"the catalog's pages loop back to {page_url}")
            if len(pages_seen) >= max_pages:
                raise HarvestSourceError(
                    f"the catalog has more than {max_pages} pages (option max_pages)"
                )
            pages_seen.add(page_url)
            document = self.fetcher.get(page_url, accept=ACCEPT)
            pages_seen.add(document.url)
            graph = parse_document(
                document,
                self.fetcher,
                override=self.spec.config.get("format"),
                context_mirrors=self.spec.config.get("jsonld_contexts"),
            )
            for found in map_graph(graph):
                if found.remote_id in datasets_seen:
                    continue  # a dataset repeated on a later page
                datasets_seen.add(found.remote_id)
                yield found
            page_url = next_page(graph, document.url)


def next_page(graph: Graph, page_url: str) -> str | None:
    """The next page a Hydra paging view names; the view of this page wins over others."""
    candidates = []
    for predicate in (HYDRA.next, HYDRA.nextPage):
        for subject, target in graph.subject_objects(predicate):
            if isinstance(target, URIRef | Literal) and str(target).strip():
                # A literal next page may be relative; IRIs are already resolved.
                candidates.append(
                    (str(subject) != page_url, urljoin(page_url, str(target).strip()))
                )
    return min(candidates)[1] if candidates else None


def map_graph(graph: Graph) -> Iterator[RemoteDataset | GatherFailure]:
    """Every top-level dataset of a graph (see the module docstring)."""
    nodes: dict[Any, None] = {}
    for dataset_type in _DATASET_TYPES:
        for node in graph.subjects(RDF.type, dataset_type):
            nodes.setdefault(node, None)
    for node in nodes:
        if isinstance(node, BNode) and _is_nested(graph, node, nodes):
            continue
        yield map_dataset(graph, node)


def _is_nested(graph: Graph, node: BNode, datasets: Mapping[Any, None]) -> bool:
    """Whether a blank-node dataset is described inside another dataset (as its part, a
    format of it, a reference): then it has no identity of its own to harvest by."""
    return any(parent in datasets for parent in graph.subjects(None, node))


def map_dataset(graph: Graph, node: Any) -> RemoteDataset | GatherFailure:
    """One dataset node as a RemoteDataset, or a GatherFailure keeping its Turtle."""
    raw = _raw(graph, node)
    identifiers = _texts(graph, node, DCTERMS.identifier)
    remote_id = str(node) if isinstance(node, URIRef) else first_text(*identifiers)
    if not remote_id:
        return GatherFailure(
            remote_id="",
            message="A dataset without an IRI or dct:identifier cannot be harvested.",
            raw=raw,
        )
    title, title_en = _text(graph, node, DCTERMS.title)
    if not title:
        return GatherFailure(remote_id=remote_id, message="The dataset has no dct:title.", raw=raw)
    try:
        return _mapped(graph, node, remote_id, title, title_en, identifiers, raw)
    except (ValueError, TypeError, AttributeError) as error:
        return GatherFailure(
            remote_id=remote_id, message=f"Cannot map the dataset: {error!r}", raw=raw
        )


def _mapped(
    graph: Graph,
    node: Any,
    remote_id: str,
    title: str,
    title_en: str,
    identifiers: list[str],
    raw: str,
) -> RemoteDataset:
    description, description_en = _text(graph, node, DCTERMS.description)
    distributions = list(graph.objects(node, DCAT.distribution))
    for part in graph.objects(node, DCTERMS.hasPart):
        if isinstance(part, BNode):
            distributions.extend(graph.objects(part, DCAT.distribution))
    licenses = [_value(graph, value) for value in graph.objects(node, DCTERMS.license)]
    licenses += [
        _value(graph, value)
        for distribution in distributions
        for value in graph.objects(distribution, DCTERMS.license)
    ]
    start, end = _temporal(graph, node)
    places, geometries = _spatial(graph, node)
    contact_name, contact_email, contact_phone = _contact(graph, node)
    extras: dict[str, Any] = {}
    if identifiers:
        extras["identifier"] = identifiers[0] if len(identifiers) == 1 else identifiers
    publisher = first_text(*(_name(graph, p) for p in graph.objects(node, DCTERMS.publisher)))
    if publisher:
        extras["publisher"] = publisher
    if geometries:
        extras["spatial"] = geometries[0]
    series = sorted(str(s) for s in graph.objects(node, DCAT.inSeries))
    if series:
        extras["in_series"] = series
    if (node, RDF.type, DCAT.DatasetSeries) in graph:
        extras["dcat_type"] = "DatasetSeries"
        extras["series_members"] = sorted(str(m) for m in graph.subjects(DCAT.inSeries, node))
    for name, predicate in (
        ("access_rights", DCTERMS.accessRights),
        ("conforms_to", DCTERMS.conformsTo),
        ("language", DCTERMS.language),
    ):
        values = sorted(filter(None, (_value(graph, v) for v in graph.objects(node, predicate))))
        if values:
            extras[name] = values
    return RemoteDataset(
        remote_id=remote_id,
        title=title,
        description=description,
        title_en=title_en if title_en != title else "",
        description_en=description_en if description_en != description else "",
        tags=tuple(dict.fromkeys(_preferred(graph.objects(node, DCAT.keyword)))),
        themes=tuple(
            dict.fromkeys(filter(None, (_value(graph, t) for t in graph.objects(node, DCAT.theme))))
        ),
        license=normalise_license(first_text(*licenses)),
        issued=parse_date(_literal(graph, node, DCTERMS.issued)),
        modified=parse_datetime(_literal(graph, node, DCTERMS.modified)),
        update_frequency=update_frequency(
            first_text(*(_value(graph, f) for f in graph.objects(node, DCTERMS.accrualPeriodicity)))
        ),
        temporal_start=start,
        temporal_end=end,
        spatial=", ".join(places),
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
        version=first_text(
            _literal(graph, node, DCAT.version),
            _literal(graph, node, OWL.versionInfo),
            _literal(graph, node, ADMS.version),
        ),
        landing_page=first_text(*(str(p) for p in graph.objects(node, DCAT.landingPage))),
        extras=extras,
        resources=tuple(_resources(graph, distributions)),
        raw=raw,
    )


# Reading nodes -----------------------------------------------------------------------


def _language_rank(literal: Any) -> int:
    language = (getattr(literal, "language", None) or "").lower()
    if language.startswith("zh"):
        return 0
    if not language:
        return 1
    return 2 if language.startswith("en") else 3


def _preferred(values: Iterable[Any]) -> list[str]:
    """The values in the most preferred language present (see the module docstring)."""
    literals = [value for value in values if isinstance(value, Literal) and str(value).strip()]
    if not literals:
        return []
    best = min(_language_rank(value) for value in literals)
    return [str(value).strip() for value in literals if _language_rank(value) == best]


def _text(graph: Graph, node: Any, predicate: URIRef) -> tuple[str, str]:
    """(preferred text, English text) of a possibly multilingual property."""
    values = list(graph.objects(node, predicate))
    preferred = _preferred(values)
    english = [
        str(value).strip()
        for value in values
        if isinstance(value, Literal) and (value.language or "").lower().startswith("en")
    ]
    return (preferred[0] if preferred else ""), (english[0] if english else "")


def _texts(graph: Graph, node: Any, predicate: URIRef) -> list[str]:
    return [text for value in graph.objects(node, predicate) if (text := _value(graph, value))]


def _literal(graph: Graph, node: Any, predicate: URIRef) -> str:
    return first_text(*(str(v) for v in graph.objects(node, predicate) if isinstance(v, Literal)))


def _value(graph: Graph, value: Any) -> str:
    """A node as text: an IRI, a literal, or a blank node's label, notation or value."""
    if isinstance(value, URIRef | Literal):
        return str(value).strip()
    if isinstance(value, BNode):
        for predicate in (*_LABELS, SKOS.notation, DCTERMS.identifier, RDFS.isDefinedBy):
            found = graph.value(value, predicate)
            if found is not None and not isinstance(found, BNode):
                return str(found).strip()
    return ""


def _name(graph: Graph, node: Any) -> str:
    """A node's label (foaf:name, skos:prefLabel, ...) in the preferred language, else the
    node as text (an IRI the catalog does not describe)."""
    for predicate in _LABELS:
        preferred = _preferred(graph.objects(node, predicate))
        if preferred:
            return preferred[0]
    return _value(graph, node)


def _temporal(graph: Graph, node: Any) -> tuple[Any, Any]:
    for period in graph.objects(node, DCTERMS.temporal):
        if isinstance(period, Literal):
            start, end = parse_interval(str(period))
        else:
            start = parse_date(
                _first(graph, period, (DCAT.startDate, SCHEMA.startDate, SCHEMA_HTTPS.startDate))
            )
            end = parse_date(
                _first(graph, period, (DCAT.endDate, SCHEMA.endDate, SCHEMA_HTTPS.endDate)),
                end=True,
            )
            start = start or parse_date(_instant(graph, graph.value(period, TIME.hasBeginning)))
            end = end or parse_date(_instant(graph, graph.value(period, TIME.hasEnd)), end=True)
        if start or end:
            return start, end
    return None, None


def _first(graph: Graph, node: Any, predicates: Iterable[URIRef]) -> str:
    return first_text(*(_literal(graph, node, predicate) for predicate in predicates))


def _instant(graph: Graph, instant: Any) -> str:
    if instant is None:
        return ""
    return _first(graph, instant, (TIME.inXSDDate, TIME.inXSDDateTimeStamp, TIME.inXSDDateTime))


def _spatial(graph: Graph, node: Any) -> tuple[list[str], list[str]]:
    """Place names or IRIs of the dataset, and geometries (GeoJSON / WKT) from locations."""
    places, geometries = [], []
    for place in graph.objects(node, DCTERMS.spatial):
        if isinstance(place, BNode):
            geometry = first_text(
                *(str(g) for p in (LOCN.geometry, DCAT.bbox) for g in graph.objects(place, p))
            )
            if geometry:
                geometries.append(geometry)
            label = _value(graph, place)
            if label and label != geometry:
                places.append(label)
            continue
        text, geometry = spatial_text(str(place))
        places.extend([text] if text else [])
        geometries.extend([geometry] if geometry else [])
    return places, geometries


def _contact(graph: Graph, node: Any) -> tuple[str, str, str]:
    for contact in graph.objects(node, DCAT.contactPoint):
        names = (VCARD.fn, VCARD["organization-name"], RDFS.label)
        name = first_text(
            *(text for label in names for text in _preferred(graph.objects(contact, label)))
        )
        email = first_text(*(email_of(str(e)) for e in graph.objects(contact, VCARD.hasEmail)))
        phones = []
        for phone in graph.objects(contact, VCARD.hasTelephone):
            number = graph.value(phone, VCARD.hasValue) if isinstance(phone, BNode) else phone
            phones.append(phone_of(str(number)) if number is not None else "")
        if name or email:
            return name if name != email else "", email, first_text(*phones)
    return "", "", ""


def _resources(graph: Graph, distributions: list[Any]) -> Iterator[RemoteResource]:
    used: set[str] = set()
    for position, distribution in enumerate(distributions):
        download = first_text(*(str(u) for u in graph.objects(distribution, DCAT.downloadURL)))
        url = download or first_text(*(str(u) for u in graph.objects(distribution, DCAT.accessURL)))
        if not url:
            continue
        title, _ = _text(graph, distribution, DCTERMS.title)
        identifier = first_text(*_texts(graph, distribution, DCTERMS.identifier))
        media_type = media_type_of(
            first_text(*(_value(graph, m) for m in graph.objects(distribution, DCAT.mediaType)))
        )
        declared = first_text(
            *(_value(graph, f) for f in graph.objects(distribution, DCTERMS.format))
        )
        label = format_label(declared, media_type, url)
        remote_id = str(distribution) if isinstance(distribution, URIRef) else identifier or url
        if remote_id in used:
            remote_id = f"{remote_id}#{position + 1}"
        used.add(remote_id)
        size = _literal(graph, distribution, DCAT.byteSize)
        checksum = graph.value(distribution, SPDX.checksum)
        checksum_value = _literal(graph, checksum, SPDX.checksumValue) if checksum else ""
        yield RemoteResource(
            remote_id=remote_id,
            name=first_text(title, identifier, url.rsplit("/", 1)[-1].split("?")[0], url),
            url=url,
            format=label,
            media_type=media_type,
            description=_text(graph, distribution, DCTERMS.description)[0],
            size=_byte_size(size),
            last_modified=_literal(graph, distribution, DCTERMS.modified) or None,
            content_hash=checksum_value or None,
            store=stores_file(label, url, download=bool(download)),
        )


def _byte_size(text: str) -> int | None:
    try:
        size = float(text)
    except ValueError:
        return None
    return int(size) if size >= 0 else None


def _raw(graph: Graph, node: Any) -> str:
    """The dataset and its distributions as Turtle, for error reports."""
    described = graph.cbd(node)
    for distribution in graph.objects(node, DCAT.distribution):
        if isinstance(distribution, URIRef):
            described += graph.cbd(distribution)
    for prefix, namespace in graph.namespaces():
        described.bind(prefix, namespace, override=False)
    return described.serialize(format="turtle")
