"""The public catalog's documents for other portals and their harvesters.

    /catalog.ttl, /catalog.rdf, /catalog.jsonld   the catalog, paged (?page=N&page_size=M)
    /catalog                                      the same, in the format the Accept header asks
    /dataset/<slug>.ttl, .rdf, .jsonld            one dataset (/dataset/<slug>: by Accept)
    /data.json                                    Project Open Data v1.1, the whole catalog

They describe what anyone may see, whoever asks, so caches may share them: every answer has
an ETag and Last-Modified, answers conditional requests with 304 and may be kept for five
minutes. A plain Flask blueprint, as these are documents rather than JSON resources; its
errors are problem-details JSON like the API's.
"""

import hashlib

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.exceptions import HTTPException, NotAcceptable
from werkzeug.http import is_resource_modified

from api.context import backends, db
from api.errors import catalog_error_response, problem
from catalog.datajson import data_json_pieces
from catalog.dcat import RDF_FORMATS, catalog_graph, dataset_graph, serialize
from catalog.errors import CatalogError, InvalidInput, NotFound
from catalog.services.metadata_export import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CatalogInfo,
    PortalLinks,
    public_catalog_page,
    public_catalog_state,
    public_dataset,
)

blp = Blueprint("dcat", __name__)

EXTENSIONS = "any(ttl, rdf, jsonld)"
CACHE_SECONDS = 300
# Content negotiation: the media types each document extension answers to, best first.
EXTENSION_OF_MEDIA_TYPE = {
    "text/turtle": "ttl",
    "application/rdf+xml": "rdf",
    "application/ld+json": "jsonld",
    "application/x-turtle": "ttl",
}


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return problem(error.code or 500, error.description or "")


blp.register_error_handler(CatalogError, catalog_error_response)


@blp.get(f"/catalog.<{EXTENSIONS}:extension>")
def catalog_document(extension: str):
    """One page of the public catalog as DCAT-AP 3, with Hydra links to the other pages."""
    page, page_size = _paging()
    state = public_catalog_state(db())
    etag = state.etag(extension, page, page_size, request.url_root)
    if not is_resource_modified(request.environ, etag=etag, last_modified=state.modified):
        return _cached(Response(status=304), etag, state.modified)
    catalog_page = public_catalog_page(db(), page, page_size)
    if page > catalog_page.last_page:
        raise NotFound(f"The catalog has {catalog_page.last_page} pages of {page_size} datasets.")

    def page_url(number: int) -> str:
        return url_for(
            "dcat.catalog_document",
            extension=extension,
            page=number,
            page_size=page_size,
            _external=True,
        )

    graph = catalog_graph(catalog_page, state, _info(), _links(), page_url)
    response = Response(serialize(graph, extension), content_type=_media_type(extension))
    return _cached(response, etag, state.modified)


@blp.get("/catalog")
def catalog_negotiated():
    """The catalog in the RDF format the Accept header prefers (Turtle by default); a
    browser asking for HTML is sent to the catalog's pages."""
    extension = _negotiated_extension()
    if extension is None:
        return _see_other(url_for("pages.datasets"))
    page, page_size = _paging()
    response = catalog_document(extension)
    location = url_for("dcat.catalog_document", extension=extension, page=page, page_size=page_size)
    return _negotiated(response, location)


@blp.get(f"/dataset/<slug>.<{EXTENSIONS}:extension>")
def dataset_document(slug: str, extension: str):
    """One public dataset as DCAT-AP 3. Datasets the public may not see answer 404."""
    dataset = public_dataset(db(), slug)
    body = serialize(dataset_graph(dataset, _info(), _links()), extension)
    # The document itself is the entity: its hash changes with anything it says.
    etag = hashlib.sha256(body).hexdigest()[:32]
    if not is_resource_modified(request.environ, etag=etag, last_modified=dataset.modified_at):
        return _cached(Response(status=304), etag, dataset.modified_at)
    response = Response(body, content_type=_media_type(extension))
    return _cached(response, etag, dataset.modified_at)


@blp.get("/dataset/<slug>")
def dataset_negotiated(slug: str):
    """A dataset's IRI: its document in the RDF format the Accept header prefers; a
    browser asking for HTML is sent to the dataset's page."""
    extension = _negotiated_extension()
    if extension is None:
        return _see_other(url_for("pages.dataset", slug=slug))
    response = dataset_document(slug, extension)
    location = url_for("dcat.dataset_document", slug=slug, extension=extension)
    return _negotiated(response, location)


@blp.get("/data.json")
def data_json():
    """The public catalog as a Project Open Data v1.1 catalog, streamed dataset by dataset."""
    state = public_catalog_state(db())
    etag = state.etag("data.json", request.url_root)
    if not is_resource_modified(request.environ, etag=etag, last_modified=state.modified):
        return _cached(Response(status=304), etag, state.modified)
    info, links, url = _info(), _links(), url_for("dcat.data_json", _external=True)

    def body():
        # A session of the stream's own: Flask tears the request's down (closing db()) as
        # soon as the view returns, before the first piece is sent.
        with backends().sessions() as session:
            for piece in data_json_pieces(session, info, links, url):
                yield piece.encode()

    response = Response(stream_with_context(body()), content_type="application/json")
    return _cached(response, etag, state.modified)


def _paging() -> tuple[int, int]:
    errors = {}
    values = {}
    for name, default in (("page", 1), ("page_size", DEFAULT_PAGE_SIZE)):
        text = request.args.get(name, "")
        if not text:
            values[name] = default
        elif not text.isascii() or not text.isdigit() or int(text) < 1:
            errors[name] = ["Give a whole number of at least 1. 请填写不小于 1 的整数。"]
        else:
            values[name] = int(text)
    if "page_size" not in errors and values["page_size"] > MAX_PAGE_SIZE:
        errors["page_size"] = [f"At most {MAX_PAGE_SIZE}. 每页最多 {MAX_PAGE_SIZE} 条。"]
    if errors:
        raise InvalidInput(errors)
    return values["page"], values["page_size"]


def _negotiated_extension() -> str | None:
    """The document extension the Accept header prefers; None when it prefers HTML."""
    if not request.accept_mimetypes.provided:
        return "ttl"  # no Accept header: any type will do
    media_type = request.accept_mimetypes.best_match([*EXTENSION_OF_MEDIA_TYPE, "text/html"])
    if media_type is None:
        raise NotAcceptable(
            "Served as text/turtle, application/rdf+xml or application/ld+json; or fetch "
            "the .ttl, .rdf or .jsonld document directly."
        )
    return EXTENSION_OF_MEDIA_TYPE.get(media_type)


def _negotiated(response: Response, location: str) -> Response:
    response.vary.add("Accept")
    if response.status_code == 200:
        response.headers["Content-Location"] = location
    return response


def _see_other(location: str) -> Response:
    response = redirect(location, code=303)
    response.vary.add("Accept")
    return response


def _media_type(extension: str) -> str:
    return RDF_FORMATS[extension].media_type


def _cached(response: Response, etag: str, last_modified) -> Response:
    response.set_etag(etag)
    if last_modified is not None:
        response.last_modified = last_modified
    response.cache_control.public = True
    response.cache_control.max_age = CACHE_SECONDS
    return response


def _info() -> CatalogInfo:
    return CatalogInfo(title=current_app.extensions["opendata.settings"].site_name)


def _links() -> PortalLinks:
    """The portal's addresses on the host the request came to."""
    return PortalLinks(
        home=url_for("pages.home", _external=True),
        catalog=url_for("dcat.catalog_negotiated", _external=True),
        dataset=lambda slug: url_for("dcat.dataset_negotiated", slug=slug, _external=True),
        dataset_page=lambda slug: url_for("pages.dataset", slug=slug, _external=True),
        department_page=lambda slug: url_for("pages.department", slug=slug, _external=True),
        themes=url_for("pages.datasets", _external=True),
        theme=lambda slug: url_for("pages.datasets", theme=slug, _external=True),
        licence=lambda licence_id: (
            url_for("vocabularies.Licenses", _external=True) + "#" + licence_id
        ),
        download=lambda slug, resource_id: url_for(
            "resources.ResourceDownload", slug=slug, resource_id=resource_id, _external=True
        ),
    )
