"""The public catalog as DCAT-AP 3 RDF, for other portals and their harvesters.

A catalog document is one page of the public catalog with Hydra links to the others; a
dataset document describes one dataset. Both are built from the same statements.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from catalog.dcat_terms import (
    ADMS,
    DCAT_VERSION,
    HYDRA,
    LOCN,
    SHA256,
    SPDX,
    VCARD,
    Terms,
    as_http_iri,
    as_iri,
    texts,
)
from catalog.models import Dataset, Department, Resource
from catalog.services.metadata_export import (
    CatalogInfo,
    CatalogPage,
    CatalogState,
    PortalLinks,
    contact_email,
    links_to_file,
    media_type_of,
    public_may_download,
)
from catalog.vocab import OpenType

PREFIXES = {
    "dcat": DCAT,
    "dct": DCTERMS,
    "foaf": FOAF,
    "skos": SKOS,
    "vcard": VCARD,
    "adms": ADMS,
    "spdx": SPDX,
    "locn": LOCN,
    "hydra": HYDRA,
    "xsd": XSD,
}


@dataclass(frozen=True)
class RdfFormat:
    rdflib_name: str
    media_type: str


# By the file extension of the documents (/catalog.ttl, /dataset/<slug>.jsonld).
RDF_FORMATS = {
    "ttl": RdfFormat("turtle", "text/turtle; charset=utf-8"),
    "rdf": RdfFormat("xml", "application/rdf+xml"),
    "jsonld": RdfFormat("json-ld", "application/ld+json"),
}


def _moment(value: datetime) -> Literal:
    return Literal(value.replace(microsecond=0), datatype=XSD.dateTime)


def _telephone(phone: str) -> URIRef | None:
    """A tel: IRI (RFC 3966, global form) for a Chinese landline, mobile or +-number."""
    number = re.sub(r"[\s()]", "", phone)
    if re.fullmatch(r"\+\d[\d-]{5,}", number):
        return URIRef("tel:" + number)
    if re.fullmatch(r"0\d{2,3}-?\d{7,8}", number) or re.fullmatch(r"1\d{10}", number):
        return URIRef("tel:+86-" + number.removeprefix("0"))
    return None


def _node(kind: str, owner_id: str) -> BNode:
    """A blank node named after what it belongs to, so the same catalog gives the same
    document byte for byte (RDF/XML and JSON-LD write blank node names out)."""
    return BNode(f"{kind}-{owner_id}")


def new_graph() -> Graph:
    graph = Graph(bind_namespaces="core")
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace)
    return graph


def serialize(graph: Graph, extension: str) -> bytes:
    """The graph in the format of a document extension (``ttl``, ``rdf``, ``jsonld``)."""
    rdf_format = RDF_FORMATS[extension]
    if rdf_format.rdflib_name == "json-ld":
        context = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}
        return graph.serialize(format="json-ld", context=context, encoding="utf-8")
    return graph.serialize(format=rdf_format.rdflib_name, encoding="utf-8")


def catalog_graph(
    page: CatalogPage,
    state: CatalogState,
    info: CatalogInfo,
    links: PortalLinks,
    page_url: Callable[[int], str],
) -> Graph:
    """One page of the catalog: the catalog's own description, the page's datasets and the
    Hydra links (first, previous, next, last) a harvester follows to the other pages."""
    graph = new_graph()
    terms = Terms(graph)
    catalog = as_iri(links.catalog)
    graph.add((catalog, RDF.type, DCAT.Catalog))
    texts(graph, catalog, DCTERMS.title, info.title, info.title_en)
    texts(graph, catalog, DCTERMS.description, info.description, info.description_en)
    publisher = as_iri(links.home + "#publisher")
    graph.add((catalog, DCTERMS.publisher, publisher))
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, RDF.type, FOAF.Organization))
    texts(graph, publisher, FOAF.name, info.publisher, info.publisher_en)
    graph.add((publisher, DCTERMS.type, terms.publisher_type()))
    homepage = as_iri(links.home)
    graph.add((catalog, FOAF.homepage, homepage))
    graph.add((homepage, RDF.type, FOAF.Document))
    graph.add((catalog, DCTERMS.language, terms.language()))
    graph.add((catalog, DCTERMS.spatial, terms.country()))
    if state.issued is not None:
        graph.add((catalog, DCTERMS.issued, _moment(state.issued)))
    if state.modified is not None:
        graph.add((catalog, DCTERMS.modified, _moment(state.modified)))
    graph.add((catalog, DCAT.themeTaxonomy, terms.eu_theme_scheme()))
    graph.add((catalog, DCAT.themeTaxonomy, terms.portal_theme_scheme(links, info)))
    for dataset in page.datasets:
        graph.add((catalog, DCAT.dataset, add_dataset(graph, terms, dataset, links, info)))

    # Paging as Hydra describes it: the catalog is the collection, this document its view.
    view = as_iri(page_url(page.page))
    graph.add((catalog, RDF.type, HYDRA.Collection))
    graph.add((catalog, HYDRA.totalItems, Literal(page.total, datatype=XSD.nonNegativeInteger)))
    graph.add((catalog, HYDRA.view, view))
    graph.add((view, RDF.type, HYDRA.PartialCollectionView))
    graph.add((view, HYDRA.first, as_iri(page_url(1))))
    graph.add((view, HYDRA.last, as_iri(page_url(page.last_page))))
    if page.page > 1:
        graph.add((view, HYDRA.previous, as_iri(page_url(page.page - 1))))
    if page.page < page.last_page:
        graph.add((view, HYDRA.next, as_iri(page_url(page.page + 1))))
    graph.add((view, HYDRA.totalItems, Literal(page.total, datatype=XSD.nonNegativeInteger)))
    graph.add((view, HYDRA.itemsPerPage, Literal(page.page_size, datatype=XSD.nonNegativeInteger)))
    return graph


def dataset_graph(dataset: Dataset, info: CatalogInfo, links: PortalLinks) -> Graph:
    """One dataset's document: the dataset, its distributions and what they point to."""
    graph = new_graph()
    add_dataset(graph, Terms(graph), dataset, links, info)
    return graph


def add_dataset(
    graph: Graph, terms: Terms, dataset: Dataset, links: PortalLinks, info: CatalogInfo
) -> URIRef:
    node = as_iri(links.dataset(dataset.slug))
    graph.add((node, RDF.type, DCAT.Dataset))
    graph.add((node, DCTERMS.identifier, Literal(dataset.slug)))
    if dataset.resource_code:
        # 信息资源代码: the dataset's code in the government resource catalog.
        code = _node("code", dataset.id)
        graph.add((node, ADMS.identifier, code))
        graph.add((code, RDF.type, ADMS.Identifier))
        graph.add((code, SKOS.notation, Literal(dataset.resource_code)))
    texts(graph, node, DCTERMS.title, dataset.title, dataset.title_en)
    # DCAT-AP requires a description; a dataset registered without one is described by its title.
    description = dataset.description.strip() or dataset.title
    texts(graph, node, DCTERMS.description, description, dataset.description_en)
    for tag in dataset.tags:
        graph.add((node, DCAT.keyword, Literal(tag.name, lang="zh")))
    for theme in dataset.themes:
        graph.add((node, DCAT.theme, terms.portal_theme(theme, links, info)))
        eu_theme = terms.eu_theme(theme)
        if eu_theme is not None:
            graph.add((node, DCAT.theme, eu_theme))
    graph.add((node, DCTERMS.publisher, _department(graph, terms, dataset.department, links)))
    if dataset.provider and dataset.provider != dataset.department.name:
        graph.add((node, DCTERMS.creator, _provider(graph, dataset)))
    graph.add((node, DCAT.contactPoint, _contact_point(graph, dataset)))
    if dataset.release_date is not None:
        graph.add((node, DCTERMS.issued, Literal(dataset.release_date, datatype=XSD.date)))
    else:
        graph.add((node, DCTERMS.issued, _moment(dataset.created_at)))
    graph.add((node, DCTERMS.modified, _moment(dataset.modified_at)))
    frequency = terms.frequency(dataset.update_frequency)
    if frequency is not None:
        graph.add((node, DCTERMS.accrualPeriodicity, frequency))
    if dataset.temporal_start or dataset.temporal_end:
        graph.add((node, DCTERMS.temporal, _period(graph, dataset)))
    if dataset.spatial:
        place = _node("place", dataset.id)
        graph.add((node, DCTERMS.spatial, place))
        graph.add((place, RDF.type, DCTERMS.Location))
        graph.add((place, SKOS.prefLabel, Literal(dataset.spatial, lang="zh")))
        graph.add((place, LOCN.geographicName, Literal(dataset.spatial, lang="zh")))
    graph.add((node, DCTERMS.accessRights, terms.access_right(dataset.open_type)))
    landing_page = as_iri(links.dataset_page(dataset.slug))
    graph.add((node, DCAT.landingPage, landing_page))
    graph.add((landing_page, RDF.type, FOAF.Document))
    graph.add((node, DCTERMS.language, terms.language()))
    if dataset.version:
        graph.add((node, DCAT_VERSION, Literal(dataset.version)))
    downloadable = public_may_download(dataset)
    for resource in dataset.resources:
        distribution = _distribution(graph, terms, dataset, resource, links, downloadable)
        graph.add((node, DCAT.distribution, distribution))
    return node


def _department(graph: Graph, terms: Terms, department: Department, links: PortalLinks):
    node = as_iri(links.department_page(department.slug))
    graph.add((node, RDF.type, FOAF.Agent))
    graph.add((node, RDF.type, FOAF.Organization))
    texts(graph, node, FOAF.name, department.name, department.name_en)
    # 统一社会信用代码, the department's national organisation code.
    graph.add((node, DCTERMS.identifier, Literal(department.code)))
    graph.add((node, DCTERMS.type, terms.publisher_type()))
    return node


def _provider(graph: Graph, dataset: Dataset) -> BNode:
    node = _node("provider", dataset.id)
    graph.add((node, RDF.type, FOAF.Agent))
    graph.add((node, FOAF.name, Literal(dataset.provider, lang="zh")))
    if dataset.provider_code:
        graph.add((node, DCTERMS.identifier, Literal(dataset.provider_code)))
    return node


def _contact_point(graph: Graph, dataset: Dataset) -> BNode:
    """The dataset's own contact, else its department's."""
    department = dataset.department
    node = _node("contact", dataset.id)
    graph.add((node, RDF.type, VCARD.Kind))
    graph.add((node, VCARD.fn, Literal(dataset.contact_name or department.name, lang="zh")))
    email = contact_email(dataset)
    if email is not None:
        graph.add((node, VCARD.hasEmail, URIRef("mailto:" + quote(email, safe="@+"))))
    telephone = _telephone(dataset.contact_phone or department.contact_phone)
    if telephone is not None:
        graph.add((node, VCARD.hasTelephone, telephone))
    return node


def _period(graph: Graph, dataset: Dataset) -> BNode:
    start, end = dataset.temporal_start, dataset.temporal_end
    node = _node("period", dataset.id)
    graph.add((node, RDF.type, DCTERMS.PeriodOfTime))
    if start is not None:
        graph.add((node, DCAT.startDate, Literal(start, datatype=XSD.date)))
    if end is not None:
        graph.add((node, DCAT.endDate, Literal(end, datatype=XSD.date)))
    return node


def _distribution(
    graph: Graph,
    terms: Terms,
    dataset: Dataset,
    resource: Resource,
    links: PortalLinks,
    downloadable: bool,
) -> URIRef:
    """A resource as a distribution. Where the public may not fetch the data (conditional
    datasets) the addresses are withheld, as the REST API withholds them, and the access
    address is the dataset's page, which tells how to apply."""
    node = as_iri(f"{links.dataset(dataset.slug)}#resource-{resource.id}")
    graph.add((node, RDF.type, DCAT.Distribution))
    graph.add((node, DCTERMS.identifier, Literal(resource.id)))
    graph.add((node, DCTERMS.title, Literal(resource.name, lang="zh")))
    if resource.description:
        graph.add((node, DCTERMS.description, Literal(resource.description, lang="zh")))
    graph.add((node, DCTERMS.issued, _moment(resource.created_at)))
    graph.add((node, DCTERMS.modified, _moment(resource.modified_at)))
    access = as_iri(links.dataset_page(dataset.slug))
    if downloadable and resource.storage_key is not None:
        access = as_iri(links.download(dataset.slug, resource.id))
        graph.add((node, DCAT.downloadURL, access))
    elif downloadable and (outside := as_http_iri(resource.url)) is not None:
        access = outside
        if links_to_file(resource):
            graph.add((node, DCAT.downloadURL, access))
    graph.add((node, DCAT.accessURL, access))
    file_type = terms.file_type(resource.format)
    if file_type is not None:
        graph.add((node, DCTERMS.format, file_type))
    media_type = media_type_of(resource)
    if media_type is not None:
        graph.add((node, DCAT.mediaType, terms.media_type(media_type)))
    if resource.size is not None:
        graph.add((node, DCAT.byteSize, Literal(resource.size, datatype=XSD.nonNegativeInteger)))
    if downloadable and resource.sha256:
        checksum = _node("checksum", resource.id)
        graph.add((node, SPDX.checksum, checksum))
        graph.add((checksum, RDF.type, SPDX.Checksum))
        graph.add((checksum, SPDX.algorithm, SHA256))
        graph.add((checksum, SPDX.checksumValue, Literal(resource.sha256, datatype=XSD.hexBinary)))
        graph.add((SHA256, RDF.type, SPDX.ChecksumAlgorithm))
    if dataset.license is not None:
        graph.add((node, DCTERMS.license, terms.licence(dataset.license, links)))
    if dataset.open_type == OpenType.CONDITIONAL and dataset.open_condition.strip():
        rights = _node("rights", resource.id)
        graph.add((node, DCTERMS.rights, rights))
        graph.add((rights, RDF.type, DCTERMS.RightsStatement))
        graph.add((rights, DCTERMS.description, Literal(dataset.open_condition, lang="zh")))
    return node
