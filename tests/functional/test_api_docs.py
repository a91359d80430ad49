"""The interactive API documentation works offline: only the portal's own assets, under
a Content-Security-Policy without inline scripts."""

import re
from html.parser import HTMLParser
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor" / "swagger-ui"


class References(HTMLParser):
    """The URLs a page loads, and whether it has inline script."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.spec_url = None
        self._in_script_without_src = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(values[name])
        if values.get("data-spec-url"):
            self.spec_url = values["data-spec-url"]
        self._in_script_without_src = tag == "script" and not values.get("src")

    def handle_data(self, data):
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        self._in_script_without_src = False


def test_the_docs_page_loads_only_local_assets(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", page), "a URL of another host"

    references = References()
    references.feed(page)
    assert references.inline_scripts == 0
    assert {
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/js/api-docs.js",
    } <= set(references.urls)
    for url in [*references.urls, references.spec_url]:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content_length or asset.get_data(), url
    assert references.spec_url == "/api/v1/openapi.json"


def test_the_docs_page_is_held_to_the_portal_csp(client):
    headers = client.get("/api/v1/docs").headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["X-Frame-Options"] == "DENY"


def test_the_swagger_ui_starter_calls_no_outside_service():
    starter = (VENDOR.parents[1] / "js" / "api-docs.js").read_text()
    assert "validatorUrl: null" in starter
    assert not re.search(r"https?://", starter)


def test_the_vendored_files_say_where_they_come_from():
    names = {path.name for path in VENDOR.iterdir()}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"} <= names
    readme = (VENDOR.parent / "README.md").read_text()
    assert "swagger-ui-dist" in readme and "5.35.0" in readme and "Apache-2.0" in readme
