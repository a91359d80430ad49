"""A generated CKAN catalog served on loopback, for bench.harvest_ckan.

The packages have the shape of demo.ckan.org's package_search answer
(tests/fixtures/ckan/demo_ckan_org__package_search.json): the same keys, tags, groups and
an organization dict, resources with CKAN's fields. Their content comes from
bench.common.catalog_datasets (Chinese titles, descriptions and tags, the demo departments
as organisations, the demo themes as groups, the demo licences): one or two resources
each that stay links (API and HTML), and with ``files`` one small CSV file more
(bench.common.record_rows, Chinese text, 20 rows), served by the same server with ETag,
Last-Modified and 304 answers. Every package is public and active, as package_search
shows them to an anonymous harvester.

The server is a ``ThreadingHTTPServer`` in a process of its own (``served_catalog``), so
answering does not share the harvester's interpreter. It answers ``package_search`` with
``rows`` (at most 1,000, as CKAN), ``start`` and the ``sort`` orders harvesters ask for,
an unknown sort with CKAN's "Search Query Error", and ``organization_list``.
"""

import json
import multiprocessing
import queue
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from bench.backends import demo_departments, demo_themes
from bench.common import catalog_datasets, record_rows
from bench.ingest_csv import csv_header, csv_line

FILE_ROWS = 20
NAMESPACE = uuid.UUID("0b6c3f7e-3c1e-4d55-9a43-2f6d1c8a9e11")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
LINK_FORMATS = (("API", "数据接口"), ("HTML", "数据说明页"))
LICENSE_TITLES = {"gov-open": "政府数据开放许可", "cc-by-4.0": "Creative Commons Attribution 4.0"}


def _ckan_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def package_dicts(count: int, base: str, files: bool) -> list[dict]:
    """The catalog's packages, as CKAN's package_search gives them; deterministic."""
    themes = {theme["slug"]: theme for theme in demo_themes()}
    packages = []
    for item in catalog_datasets(count, demo_departments(), list(themes.values())):
        number, department = item["number"], item["department"]
        package_id = str(uuid.uuid5(NAMESPACE, f"package/{number}"))
        created = EPOCH + timedelta(minutes=number)
        modified = max(created, item["modified_at"])
        resources = []
        for position in range(1 + number % 2):
            fmt, label = LINK_FORMATS[(number + position) % 2]
            resources.append(
                _resource(
                    package_id,
                    position,
                    name=f"{item['title']}{label}",
                    fmt=fmt,
                    url=f"https://data.example.cn/{fmt.lower()}/{item['slug']}",
                    created=created,
                )
            )
        if files:
            resources.append(
                _resource(
                    package_id,
                    len(resources),
                    name=f"{item['title']}.csv",
                    fmt="CSV",
                    url=f"{base}/files/{number}/data.csv",
                    created=created,
                    mimetype="text/csv",
                )
            )
        tags = [
            {"display_name": tag, "id": str(uuid.uuid5(NAMESPACE, f"tag/{tag}")), "name": tag}
            | {"state": "active", "vocabulary_id": None}
            for tag in item["tags"]
        ]
        organization = {
            "id": str(uuid.uuid5(NAMESPACE, f"organization/{department['slug']}")),
            "name": department["slug"],
            "title": department["name"],
            "type": "organization",
            "description": department["description"],
            "image_url": "",
            "created": _ckan_time(EPOCH),
            "is_organization": True,
            "approval_status": "approved",
            "state": "active",
        }
        license_id = item["license"] or "notspecified"
        packages.append(
            {
                "author": f"{department['name']}数据管理员",
                "author_email": department["contact_email"],
                "creator_user_id": str(uuid.uuid5(NAMESPACE, "user/steward")),
                "extras": [
                    {"key": "resource_code", "value": item["resource_code"]},
                    {"key": "update_frequency", "value": item["update_frequency"]},
                ],
                "groups": [
                    {
                        "description": themes[slug]["name_en"],
                        "display_name": themes[slug]["name"],
                        "id": str(uuid.uuid5(NAMESPACE, f"group/{slug}")),
                        "image_display_url": "",
                        "name": slug,
                        "title": themes[slug]["name"],
                    }
                    for slug in item["themes"]
                ],
                "id": package_id,
                "isopen": item["license"] is not None,
                "license_id": license_id,
                "license_title": LICENSE_TITLES.get(license_id, "License not specified"),
                "maintainer": f"{department['name']}数据管理员",
                "maintainer_email": department["contact_email"],
                "metadata_created": _ckan_time(created),
                "metadata_modified": _ckan_time(modified),
                "name": item["slug"],
                "notes": item["description"],
                "num_resources": len(resources),
                "num_tags": len(tags),
                "organization": organization,
                "owner_org": organization["id"],
                "private": False,
                "relationships_as_object": [],
                "relationships_as_subject": [],
                "resources": resources,
                "revision_id": str(uuid.uuid5(NAMESPACE, f"revision/{number}")),
                "state": "active",
                "tags": tags,
                "title": item["title"],
                "type": "dataset",
                "url": "",
                "version": "1.0",
            }
        )
    return packages


def _resource(package_id, position, *, name, fmt, url, created, mimetype=None) -> dict:
    return {
        "cache_last_updated": None,
        "cache_url": None,
        "created": _ckan_time(created),
        "datastore_active": False,
        "description": "",
        "format": fmt,
        "hash": "",
        "id": str(uuid.uuid5(NAMESPACE, f"{package_id}/{position}")),
        "last_modified": _ckan_time(created),
        "mimetype": mimetype,
        "mimetype_inner": None,
        "name": name,
        "package_id": package_id,
        "position": position,
        "resource_type": None,
        "revision_id": str(uuid.uuid5(NAMESPACE, f"{package_id}/{position}/revision")),
        "size": None,
        "state": "active",
        "url": url,
        "url_type": None,
    }


def csv_file(number: int) -> bytes:
    """The small CSV file of a dataset: FILE_ROWS benchmark records, UTF-8."""
    lines = [",".join(csv_header())]
    for row in record_rows(FILE_ROWS, seed=number):
        lines.append(",".join(csv_line(row)))
    return ("\r\n".join(lines) + "\r\n").encode()


class CkanCatalog:
    """What the server answers: pages of pre-encoded packages in the order asked for."""

    SORT_KEYS: ClassVar[dict[str, Callable[[dict], object]]] = {
        "metadata_created asc, id asc": lambda p: (p["metadata_created"], p["id"]),
        "metadata_created asc": lambda p: p["metadata_created"],
        "id asc": lambda p: p["id"],
        "name asc": lambda p: p["name"],
        "metadata_modified desc": lambda p: p["metadata_modified"],
    }
    DEFAULT_SORT = "score desc, metadata_modified desc"

    def __init__(self, packages: list[dict]):
        self.packages = packages
        self.encoded = [json.dumps(p, ensure_ascii=False) for p in packages]
        self.orders: dict[str, list[int]] = {}
        self.organizations = sorted({p["organization"]["name"] for p in packages})

    def order(self, sort: str) -> list[int] | None:
        sort = self.DEFAULT_SORT if not sort else ", ".join(s.strip() for s in sort.split(","))
        if sort == self.DEFAULT_SORT or sort == "score desc":
            sort = "metadata_modified desc"
        key = self.SORT_KEYS.get(sort)
        if key is None:
            return None
        if sort not in self.orders:
            packages = self.packages
            self.orders[sort] = sorted(
                range(len(packages)), key=lambda i: key(packages[i]), reverse=sort.endswith("desc")
            )
        return self.orders[sort]


def _envelope(action: str, result: str) -> bytes:
    help_url = f"http://localhost/api/3/action/help_show?name={action}"
    return f'{{"help": "{help_url}", "success": true, "result": {result}}}'.encode()


def _error(action: str, kind: str, message: str) -> bytes:
    error = {"__type": kind, "message": message}
    body = {"help": f"http://localhost/api/3/action/help_show?name={action}"}
    return json.dumps(body | {"success": False, "error": error}, ensure_ascii=False).encode()


class CkanHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as CKAN behind a web server
    catalog: CkanCatalog

    def log_message(self, *args) -> None:  # the benchmark's output stays its tables
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        if parts.path == "/api/3/action/package_search":
            self._search(query)
        elif parts.path == "/api/3/action/organization_list":
            self._send(200, _envelope("organization_list", json.dumps(self.catalog.organizations)))
        elif parts.path.startswith("/files/"):
            self._file(parts.path)
        else:
            self._send(404, _error("unknown", "Not Found Error", "Not found"))

    def _search(self, query: dict[str, str]) -> None:
        try:
            rows = min(int(query.get("rows", 10)), 1000)
            start = int(query.get("start", 0))
        except ValueError:
            self._send(409, _error("package_search", "Validation Error", "Invalid integer"))
            return
        sort = query.get("sort", "")
        order = self.catalog.order(sort)
        if order is None:
            message = f"Can't determine Sort Order ({sort})"
            self._send(409, _error("package_search", "Search Query Error", message))
            return
        page = ", ".join(self.catalog.encoded[i] for i in order[start : start + rows])
        result = (
            f'{{"count": {len(order)}, "sort": {json.dumps(sort)}, "facets": {{}}, '
            f'"search_facets": {{}}, "results": [{page}]}}'
        )
        self._send(200, _envelope("package_search", result))

    def _file(self, path: str) -> None:
        number_text = path.split("/")[2]
        if not number_text.isdigit() or int(number_text) >= len(self.catalog.packages):
            self._send(404, b"not found", "text/plain")
            return
        number = int(number_text)
        etag = f'"{number}-v1"'
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(
                (EPOCH + timedelta(minutes=number)).timestamp(), usegmt=True
            ),
        }
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", "text/csv", headers)
            return
        self._send(200, csv_file(number), "text/csv; charset=utf-8", headers)

    def _send(self, status, body: bytes, content_type="application/json", headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)


def serve_catalog(count: int, files: bool, ready) -> None:
    """The CKAN server's process: bind a loopback port, make the catalog, answer."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), CkanHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    CkanHandler.catalog = CkanCatalog(package_dicts(count, base, files))
    ready.put(base)
    server.serve_forever()


@contextmanager
def served_catalog(count: int, files: bool) -> Iterator[str]:
    """Serve a catalog of ``count`` packages until the block ends; yields its base URL."""
    context = multiprocessing.get_context("spawn")  # a clean interpreter, no inherited locks
    ready = context.Queue()
    server = context.Process(target=serve_catalog, args=(count, files, ready), daemon=True)
    server.start()
    try:
        yield _address(ready, server)
    finally:
        server.terminate()
        server.join()


def _address(ready, server) -> str:
    """The server's URL once it listens; a clear error if its process dies first."""
    while True:
        try:
            return ready.get(timeout=1)
        except queue.Empty:
            if not server.is_alive():
                raise RuntimeError(
                    f"the CKAN catalog server stopped (exit {server.exitcode}) before answering"
                ) from None
