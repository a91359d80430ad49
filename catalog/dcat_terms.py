"""The controlled vocabularies of the DCAT export: the EU's where one fits the portal's
codes (frequency, data theme, access right, file type, language), the portal's own where none
does. Every term a document uses is typed, labelled and placed in its scheme in the document
itself, as the DCAT-AP range and vocabulary shapes expect, so a validator needs nothing from
the network.
"""

import re

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, RDF, SKOS

from catalog.models import License, Theme
from catalog.services.metadata_export import MEDIA_TYPES, CatalogInfo, PortalLinks
from catalog.vocab import OpenType, UpdateFrequency

ADMS = Namespace("http://www.w3.org/ns/adms#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"


# update_frequency -> EU frequency code and its English label.
FREQUENCIES = {
    UpdateFrequency.REALTIME: ("UPDATE_CONT", "continuously updated"),
    UpdateFrequency.DAILY: ("DAILY", "daily"),
    UpdateFrequency.WEEKLY: ("WEEKLY", "weekly"),
    UpdateFrequency.MONTHLY: ("MONTHLY", "monthly"),
    UpdateFrequency.QUARTERLY: ("QUARTERLY", "quarterly"),
    UpdateFrequency.SEMIANNUAL: ("ANNUAL_2", "semiannual"),
    UpdateFrequency.ANNUAL: ("ANNUAL", "annual"),
    UpdateFrequency.OTHER: ("OTHER", "other"),
}
ACCESS_RIGHTS = {
    OpenType.UNCONDITIONAL: ("PUBLIC", "public"),
    OpenType.CONDITIONAL: ("RESTRICTED", "restricted"),
    OpenType.NOT_OPEN: ("NON_PUBLIC", "non-public"),
}
EU_DATA_THEMES = {
    "AGRI": "Agriculture, fisheries, forestry and food",
    "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport",
    "ENVI": "Environment",
    "GOVE": "Government and public sector",
    "HEAL": "Health",
    "JUST": "Justice, legal system and public safety",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
    "TRAN": "Transport",
}
# The portal's themes (by slug) and the EU data theme nearest to each; a theme not listed
# here is exported as the portal's own concept only.
EU_THEME_OF = {
    "basic": "GOVE",
    "organizations": "GOVE",
    "education": "EDUC",
    "health": "HEAL",
    "employment": "SOCI",
    "livelihood": "SOCI",
    "transport": "TRAN",
    "housing": "REGI",
    "market": "ECON",
    "finance": "ECON",
    "economy": "ECON",
    "credit": "ECON",
    "environment": "ENVI",
    "safety": "JUST",
    "agriculture": "AGRI",
}
# Every format the portal knows a media type for is an EU file type of the same name.
EU_FILE_TYPES = frozenset(MEDIA_TYPES)
# ADMS licence types of the licences whose terms are known.
LICENCE_TYPES = {
    "cc-by-4.0": ("Attribution", "Attribution"),
    "odc-by-1.0": ("Attribution", "Attribution"),
    "cc0-1.0": ("PublicDomain", "Public domain"),
}
LICENCE_TYPE_SCHEME = URIRef("http://purl.org/adms/licencetype/1.0")
PUBLISHER_TYPE_SCHEME = URIRef("http://purl.org/adms/publishertype/1.0")
LOCAL_AUTHORITY = URIRef("http://purl.org/adms/publishertype/LocalAuthority")
SHA256 = SPDX.checksumAlgorithm_sha256
# DCAT 3's dcat:version, which rdflib's closed DCAT 2 namespace does not know.
DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")
CHINESE = URIRef(EU + "language/ZHO")
CHINA = URIRef(EU + "country/CHN")

# Characters Turtle and N-Triples forbid in an IRI, percent-encoded wherever they come from.
_NOT_IN_IRI = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f]')


def as_iri(url: str) -> URIRef:
    return URIRef(_NOT_IN_IRI.sub(lambda m: f"%{ord(m.group()):02X}", url))


def as_http_iri(url: str | None) -> URIRef | None:
    if url and url.lower().startswith(("http://", "https://")):
        return as_iri(url)
    return None


def texts(graph: Graph, node, predicate, chinese: str, english: str = "") -> None:
    graph.add((node, predicate, Literal(chinese, lang="zh")))
    if english:
        graph.add((node, predicate, Literal(english, lang="en")))


class Terms:
    """The vocabulary terms a document uses, each typed, labelled and placed in its scheme
    once (the graph keeps one copy of each statement however often it is added)."""

    def __init__(self, graph: Graph):
        self.graph = graph

    def _concept(self, iri: URIRef, scheme: URIRef, kind: URIRef | None, labels: dict) -> URIRef:
        graph = self.graph
        if kind is not None:
            graph.add((iri, RDF.type, kind))
        graph.add((iri, SKOS.inScheme, scheme))
        for language, label in labels.items():
            graph.add((iri, SKOS.prefLabel, Literal(label, lang=language)))
        return iri

    def _scheme(self, iri: URIRef, title: str, language: str = "en") -> URIRef:
        self.graph.add((iri, RDF.type, SKOS.ConceptScheme))
        self.graph.add((iri, DCTERMS.title, Literal(title, lang=language)))
        return iri

    def language(self) -> URIRef:
        scheme = URIRef(EU + "language")
        return self._concept(
            CHINESE, scheme, DCTERMS.LinguisticSystem, {"en": "Chinese", "zh": "中文"}
        )

    def country(self) -> URIRef:
        scheme = self._scheme(URIRef(EU + "country"), "Countries and territories")
        return self._concept(CHINA, scheme, DCTERMS.Location, {"en": "China", "zh": "中国"})

    def publisher_type(self) -> URIRef:
        scheme = self._scheme(PUBLISHER_TYPE_SCHEME, "Publisher type")
        return self._concept(LOCAL_AUTHORITY, scheme, SKOS.Concept, {"en": "Local Authority"})

    def eu_theme_scheme(self) -> URIRef:
        return self._scheme(URIRef(EU + "data-theme"), "Data theme")

    def portal_theme_scheme(self, links: PortalLinks, info: CatalogInfo) -> URIRef:
        return self._scheme(as_iri(links.themes), f"{info.title}主题分类", "zh")

    def portal_theme(self, theme: Theme, links: PortalLinks, info: CatalogInfo) -> URIRef:
        labels = {"zh": theme.name, **({"en": theme.name_en} if theme.name_en else {})}
        scheme = self.portal_theme_scheme(links, info)
        concept = self._concept(as_iri(links.theme(theme.slug)), scheme, SKOS.Concept, labels)
        eu_theme = self.eu_theme(theme)
        if eu_theme is not None:
            self.graph.add((concept, SKOS.closeMatch, eu_theme))
        return concept

    def eu_theme(self, theme: Theme) -> URIRef | None:
        code = EU_THEME_OF.get(theme.slug)
        if code is None:
            return None
        iri = URIRef(f"{EU}data-theme/{code}")
        return self._concept(
            iri, self.eu_theme_scheme(), SKOS.Concept, {"en": EU_DATA_THEMES[code]}
        )

    def frequency(self, code: str) -> URIRef | None:
        try:
            frequency = UpdateFrequency(code)
        except ValueError:
            return None
        eu_code, label = FREQUENCIES[frequency]
        iri = URIRef(f"{EU}frequency/{eu_code}")
        scheme = URIRef(EU + "frequency")
        return self._concept(iri, scheme, DCTERMS.Frequency, {"en": label, "zh": frequency.label})

    def access_right(self, open_type: str) -> URIRef:
        kind = OpenType(open_type)
        eu_code, label = ACCESS_RIGHTS[kind]
        iri = URIRef(f"{EU}access-right/{eu_code}")
        scheme = URIRef(EU + "access-right")
        return self._concept(iri, scheme, DCTERMS.RightsStatement, {"en": label, "zh": kind.label})

    def file_type(self, file_format: str) -> URIRef | None:
        code = file_format.upper()
        if code not in EU_FILE_TYPES:
            return None
        iri = URIRef(f"{EU}file-type/{code}")
        return self._concept(iri, URIRef(EU + "file-type"), DCTERMS.MediaTypeOrExtent, {"en": code})

    def media_type(self, media_type: str) -> URIRef:
        iri = as_iri(IANA_MEDIA_TYPES + media_type)
        self.graph.add((iri, RDF.type, DCTERMS.MediaType))
        return iri

    def licence(self, licence: License, links: PortalLinks) -> URIRef:
        """The licence's canonical address, else the portal's IRI for it."""
        iri = as_http_iri(licence.url) or as_iri(links.licence(licence.id))
        graph = self.graph
        graph.add((iri, RDF.type, DCTERMS.LicenseDocument))
        texts(graph, iri, DCTERMS.title, licence.title, licence.title_en)
        graph.add((iri, DCTERMS.identifier, Literal(licence.id)))
        licence_type = LICENCE_TYPES.get(licence.id)
        if licence_type is not None:
            code, label = licence_type
            concept = URIRef(f"http://purl.org/adms/licencetype/{code}")
            self._concept(concept, LICENCE_TYPE_SCHEME, SKOS.Concept, {"en": label})
            graph.add((iri, DCTERMS.type, concept))
        return iri
