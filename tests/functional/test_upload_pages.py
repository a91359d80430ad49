"""The steward's upload pages through the Flask test client: the upload form on the dataset
page (for those who may edit), the confirm page with the proposed fields in an editable
table and a preview, CSRF on both, Chinese labels, escaped output, refusals shown on the
page, and the dataset page after a confirm showing the new resource or version.
"""

import io
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog.interfaces import RecordQuery
from catalog.models import Resource
from tests.factories import make_dataset, make_department, make_user

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tabular"
AREAS = (FIXTURES / "nbs_division_codes_2023__areas.csv").read_bytes()
GDP_GBK = (FIXTURES / "nbs_province_annual__gdp__gbk.csv").read_bytes()
PASSWORD = "correct horse battery staple"
HOSTILE = (
    "名称,<script>alert(1)</script>,人数\n"
    '祖庙小学,"<img src=x onerror=alert(2)>",812\n'
    "石湾中学,石湾镇街道,640\n"
    "张槎小学,张槎街道\n"
).encode()


class FormReader(HTMLParser):
    """The values a browser would send from the page's forms, by form action."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._form: dict[str, str] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._form = self.forms.setdefault(attributes.get("action", ""), {})
        elif self._form is None:
            return
        elif tag == "input" and attributes.get("name"):
            kind = attributes.get("type", "text")
            if kind == "checkbox" and "checked" not in attributes:
                return
            if kind in ("submit", "file"):
                return
            self._form[attributes["name"]] = attributes.get("value", "y")
        elif tag == "select":
            self._select = attributes.get("name")
        elif tag == "option" and self._select and "selected" in attributes:
            self._form[self._select] = attributes.get("value", "")
        elif tag == "textarea":
            self._textarea = attributes.get("name")
            self._form[self._textarea] = ""

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_values(html: str, action: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(html)
    return dict(reader.forms[action])


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(session):
    department = make_department(session, slug="stats", name="佛山市禅城区统计局")
    make_user(session, name="steward", department=department, role="editor", password=PASSWORD)
    make_user(session, name="member", department=department, role="member", password=PASSWORD)
    make_dataset(session, department, slug="codes", title="统计用区划代码")
    return department


def log_in(client, name: str) -> None:
    login = text(client.get("/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    response = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303


def upload_page(client, query: str = "") -> dict[str, str]:
    page = client.get(f"/datasets/codes/upload{query}")
    assert page.status_code == 200
    return form_values(text(page), "/datasets/codes/upload")


def send_file(client, payload: bytes, file_name: str, **values):
    form = upload_page(client) | values
    form["file"] = (io.BytesIO(payload), file_name)
    return client.post("/datasets/codes/upload", data=form, content_type="multipart/form-data")


def staged_files(backends) -> list[str]:
    root = backends.object_store.root / "uploads"
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_the_upload_link_and_page_are_for_stewards_only(client, world):
    assert "上传文件" not in text(client.get("/datasets/codes"))
    assert client.get("/datasets/codes/upload").status_code == 401
    log_in(client, "member")
    assert "上传文件" not in text(client.get("/datasets/codes"))
    assert client.get("/datasets/codes/upload").status_code == 403
    client.post("/logout", data={"csrf_token": upload_csrf(client, "/")})
    log_in(client, "steward")
    assert "上传文件" in text(client.get("/datasets/codes"))
    page = text(client.get("/datasets/codes/upload"))
    assert 'enctype="multipart/form-data"' in page
    assert "数据文件" in page and "新的数据资源" in page


def upload_csrf(client, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text(client.get(url))).group(1)


def test_uploads_without_the_csrf_token_are_refused(client, backends, world):
    log_in(client, "steward")
    refused = client.post(
        "/datasets/codes/upload",
        data={"file": (io.BytesIO(AREAS), "areas.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert "安全令牌" in text(refused)
    assert staged_files(backends) == []
    confirm_page = text(send_file(client, AREAS, "areas.csv"))
    values = form_values(confirm_page, "/datasets/codes/upload/confirm")
    del values["csrf_token"]
    assert client.post("/datasets/codes/upload/confirm", data=values).status_code == 400
    with backends.sessions() as fresh:
        assert fresh.scalars(select(Resource)).all() == []


def test_a_file_is_confirmed_with_edited_fields_and_shown_on_the_dataset_page(
    client, backends, world
):
    log_in(client, "steward")
    response = send_file(client, AREAS, "2023年区划代码.csv")
    assert response.status_code == 200
    page = text(response)
    assert "确认导入：2023年区划代码.csv" in page
    assert "2,978" in page  # the rows counted
    assert "东城区" in page  # the preview
    values = form_values(page, "/datasets/codes/upload/confirm")
    assert values["name"] == "2023年区划代码"
    assert [values[f"columns-{i}-name"] for i in range(4)] == [
        "code",
        "name",
        "city_code",
        "province_code",
    ]
    assert values["columns-0-type"] == "text" and values["columns-0-keep"] == "y"
    values |= {
        "name": "区县代码表",
        "columns-0-title": "区划代码",
        "columns-1-title": "区县名称",
        "columns-1-sensitive": "y",
        "columns-2-type": "integer",
    }
    del values["columns-3-keep"]  # province_code is not loaded
    confirmed = client.post("/datasets/codes/upload/confirm", data=values)
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"].endswith("/datasets/codes")
    shown = text(client.get("/datasets/codes"))
    assert "已保存「区县代码表」第 1 版，导入 2,978 条记录。" in shown
    assert "区县代码表" in shown and "v1" in shown and "区县名称" in shown
    with backends.sessions() as fresh:
        resource = fresh.scalars(select(Resource)).one()
        assert [f["name"] for f in resource.fields] == ["code", "name", "city_code"]
        assert resource.fields[1] == {
            "name": "name",
            "title": "区县名称",
            "type": "text",
            "sensitive": True,
        }
    row = backends.record_store.query(resource.id, RecordQuery(limit=1)).rows[0]
    assert row == {"_id": 1, "code": "110101", "name": "东城区", "city_code": 1101}
    assert staged_files(backends) == []


def test_a_new_version_is_uploaded_from_the_resource(client, backends, world):
    log_in(client, "steward")
    page = text(send_file(client, AREAS, "areas.csv"))
    first = form_values(page, "/datasets/codes/upload/confirm")
    client.post("/datasets/codes/upload/confirm", data=first)
    with backends.sessions() as fresh:
        rid = fresh.scalars(select(Resource.id)).one()
    shown = text(client.get("/datasets/codes"))
    assert f"/datasets/codes/upload?replace={rid}" in unescape(shown)
    values = upload_page(client, f"?replace={rid}")
    assert values["replace"] == rid
    page = text(send_file(client, GDP_GBK, "gdp.csv", replace=rid))
    second = form_values(page, "/datasets/codes/upload/confirm")
    assert (second["replace"], second["name"]) == (rid, "areas")
    assert client.post("/datasets/codes/upload/confirm", data=second).status_code == 303
    assert "第 2 版" in text(client.get("/datasets/codes"))
    versions = client.get(f"/api/v1/datasets/codes/resources/{rid}/versions").get_json()
    assert [v["version"] for v in versions] == [2, 1]


def test_what_the_file_says_is_escaped_and_ragged_rows_need_a_yes(client, backends, world):
    log_in(client, "steward")
    page = text(send_file(client, HOSTILE, "学校.csv"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "列数与表头不符" in page and "第 4 行" in page
    values = form_values(page, "/datasets/codes/upload/confirm")
    refused = client.post("/datasets/codes/upload/confirm", data=values)
    assert refused.status_code == 422
    assert "第 4 行的列数与表头不符" in text(refused)
    assert "&lt;script&gt;" in text(refused)  # the proposal is shown again
    with backends.sessions() as fresh:
        assert fresh.scalars(select(Resource)).all() == []
    values["skip_ragged_rows"] = "y"
    assert client.post("/datasets/codes/upload/confirm", data=values).status_code == 303
    assert "导入 2 条记录" in text(client.get("/datasets/codes"))


def test_bad_files_are_refused_on_the_page_and_cancel_drops_the_staged_one(client, backends, world):
    log_in(client, "steward")
    refused = send_file(client, bytes(range(256)) * 64, "data.csv")
    assert refused.status_code == 422
    assert "文件无法作为表格读取" in text(refused)
    assert staged_files(backends) == []
    page = text(send_file(client, AREAS, "areas.csv"))
    assert len(staged_files(backends)) == 1
    values = form_values(page, "/datasets/codes/upload/confirm") | {"cancel": "取消上传"}
    cancelled = client.post("/datasets/codes/upload/confirm", data=values)
    assert cancelled.status_code == 303
    assert "已取消上传" in text(client.get("/datasets/codes"))
    assert staged_files(backends) == []


def test_a_file_too_big_gets_a_chinese_page(settings, backends, world):
    import dataclasses

    from portal.app import create_app

    app = create_app(dataclasses.replace(settings, max_upload_bytes=5000), backends)
    client = app.test_client()
    log_in(client, "steward")
    response = send_file(client, AREAS, "areas.csv")
    assert response.status_code == 413
    assert "文件过大" in text(response)
    assert staged_files(backends) == []
