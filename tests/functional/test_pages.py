"""The server-rendered pages, through HTTP: what each visitor sees, forms, errors, escaping."""

import io
import re
from datetime import date
from html import unescape
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from catalog.services.departments import create_theme
from catalog.services.resources import ResourceValues, add_resource
from portal.forms import safe_next
from portal.indexing import drain
from portal.views import marked_snippet
from tests.factories import (
    SYSTEM,
    bearer,
    grant_to_user,
    make_dataset,
    make_department,
    make_user,
    token_for,
)

PASSWORD = "correct horse battery staple"
FACET = re.compile(
    r'<a class="facet__value[^"]*" href="([^"]*)"[^>]*>\s*<span class="facet__label">'
    r'(?:<span class="visually-hidden">已选：</span>)?([^<]*)</span>\s*'
    r'<span class="facet__count">([\d,]+)</span>'
)


def page(response) -> str:
    return response.get_data(as_text=True)


def csrf_token(client, url: str = "/login") -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page(client.get(url)))
    if match is None:
        match = re.search(r'name="csrf_token" value="([^"]+)"', page(client.get(url)))
    assert match, f"no CSRF token in the form of {url}"
    return match.group(1)


def log_in(client, name: str, password: str = PASSWORD, next_url: str | None = None):
    data = {"name": name, "password": password, "csrf_token": csrf_token(client)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def statistic(html: str, label: str) -> int:
    match = re.search(
        r'<span class="stats__number">([\d,]+)</span><span class="stats__label">'
        + label
        + "</span>",
        html,
    )
    assert match, f"no figure for {label}"
    return int(match.group(1).replace(",", ""))


def facet_counts(html: str) -> dict[tuple[str, str], int]:
    """{(param, value): count} of the facet links, read from each link's own target."""
    counts = {}
    for href, _label, count in FACET.findall(html):
        args = parse_qs(urlsplit(unescape(href)).query)
        for param, values in args.items():
            for value in values:
                counts.setdefault((param, value), int(count.replace(",", "")))
    return counts


def result_titles(html: str) -> list[str]:
    """The titles listed, without the <mark> of the words found."""
    found = re.findall(r'<h3 class="result__title"><a href="[^"]*">(.*?)</a></h3>', html)
    return [unescape(re.sub(r"</?mark>", "", title)) for title in found]


@pytest.fixture
def edu(session):
    return make_department(session, slug="edu", name="佛山市禅城区教育局")


@pytest.fixture
def health(session):
    return make_department(session, slug="health", name="佛山市禅城区卫生健康局")


def add_link(session, backends, dataset, rows: int, url: str = "https://data.example.cn/x"):
    return add_resource(
        session,
        SYSTEM,
        backends.object_store,
        dataset.slug,
        ResourceValues(name="接口", format="API", url=url, row_count=rows),
    )


def add_file(session, backends, dataset, rows: int = 2):
    return add_resource(
        session,
        SYSTEM,
        backends.object_store,
        dataset.slug,
        ResourceValues(
            name="名录",
            format="CSV",
            media_type="text/csv",
            row_count=rows,
            fields=[
                {"name": "name", "title": "学校名称", "type": "text"},
                {"name": "phone", "title": "联系电话", "type": "text", "sensitive": True},
            ],
        ),
        content=io.BytesIO("name,phone\n一中,0757\n二中,0757\n".encode()),
        file_name="schools.csv",
    )


# --- Home ----------------------------------------------------------------------------------


def test_home_counts_only_what_the_visitor_may_see(client, session, backends, edu, health):
    create_theme(session, SYSTEM, "education", "教育文化")
    schools = make_dataset(session, edu, title="禅城区中小学校名录", themes=["education"])
    add_link(session, backends, schools, rows=120)
    make_dataset(session, health, title="医疗机构", open_type="conditional")
    hidden = make_dataset(session, health, title="内部台账", open_type="not_open")
    add_link(session, backends, hidden, rows=5000)
    make_dataset(session, edu, title="草稿数据", state="draft")

    drain(backends)
    response = client.get("/")
    html = page(response)

    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert '<html lang="zh-CN">' in html
    assert "禅城区政府数据开放平台" in html
    assert statistic(html, "部门") == 2
    assert statistic(html, "数据集") == 2
    assert statistic(html, "数据资源") == 1
    assert statistic(html, "数据记录") == 120
    assert "禅城区中小学校名录" in html
    assert "内部台账" not in html and "草稿数据" not in html
    assert re.search(r"教育文化</span><span class=\"themes__count\">1</span>", html)
    assert 'href="/api/v1/docs"' in html


def test_home_counts_hidden_datasets_for_their_own_department(client, session, backends, health):
    make_dataset(session, health, title="内部台账", open_type="not_open")
    make_user(session, "nurse", department=health, password=PASSWORD)

    drain(backends)
    assert statistic(page(client.get("/")), "数据集") == 0
    log_in(client, "nurse")
    html = page(client.get("/"))
    assert statistic(html, "数据集") == 1
    assert "内部台账" in html


# --- Dataset search ------------------------------------------------------------------------


def test_search_finds_chinese_substrings(client, session, backends, edu, health):
    make_dataset(session, edu, slug="schools", title="禅城区中小学校名录")
    make_dataset(session, health, slug="clinics", title="禅城区医疗机构名录")

    drain(backends)
    html = page(client.get("/datasets", query_string={"q": "学校"}))

    assert result_titles(html) == ["禅城区中小学校名录"]
    assert "禅城区中小<mark>学校</mark>名录" in html
    assert re.search(r"共 <strong>1</strong> 个数据集", html)
    assert 'value="学校"' in html


def test_search_filters_and_facet_counts(client, session, backends, edu, health):
    make_dataset(session, edu, title="学校名录")
    make_dataset(session, edu, title="招生计划", open_type="conditional")
    make_dataset(session, health, title="医疗机构")

    drain(backends)
    everything = page(client.get("/datasets"))
    counts = facet_counts(everything)
    assert counts[("department", "edu")] == 2
    assert counts[("department", "health")] == 1
    assert counts[("open_type", "unconditional")] == 2
    assert counts[("open_type", "conditional")] == 1
    for label in ("部门", "开放类型", "共享类型", "更新频率"):
        assert f'<h3 class="facet__title">{label}</h3>' in everything

    edu_only = page(client.get("/datasets?department=edu"))
    assert sorted(result_titles(edu_only)) == ["学校名录", "招生计划"]
    assert facet_counts(edu_only)[("open_type", "conditional")] == 1

    both = page(client.get("/datasets?department=edu&department=health"))
    assert len(result_titles(both)) == 3

    narrowed = page(client.get("/datasets?department=edu&open_type=conditional"))
    assert result_titles(narrowed) == ["招生计划"]

    unknown = client.get("/datasets?department=no-such-department")
    assert unknown.status_code == 200
    assert result_titles(page(unknown)) == []
    assert "没有找到符合条件的数据集" in page(unknown)


def test_selected_filters_can_be_removed(client, session, backends, edu):
    make_dataset(session, edu, title="学校名录", open_type="conditional")

    drain(backends)
    html = page(client.get("/datasets?q=学校&department=edu&open_type=conditional"))
    chips = re.findall(r'<a class="chip" href="([^"]*)"[^>]*>\s*([^<]*)<', html)
    removal = {label.strip(): parse_qs(urlsplit(unescape(href)).query) for href, label in chips}

    assert removal["部门：佛山市禅城区教育局"] == {"q": ["学校"], "open_type": ["conditional"]}
    assert removal["开放类型：有条件开放"] == {"q": ["学校"], "department": ["edu"]}


def test_search_sorts_and_pages(client, session, backends, edu):
    for title in ("乙数据", "甲数据", "丙数据"):
        make_dataset(session, edu, title=title)

    drain(backends)
    by_downloads = page(client.get("/datasets?sort=downloads"))
    assert len(result_titles(by_downloads)) == 3
    by_title = page(client.get("/datasets?sort=title"))
    for label in ("相关度", "最近更新", "名称", "发布日期", "下载量"):
        assert label in by_title
    assert result_titles(by_title) == sorted(["乙数据", "甲数据", "丙数据"])

    second = page(client.get("/datasets?sort=title&page_size=2&page=2"))
    assert result_titles(second) == sorted(["乙数据", "甲数据", "丙数据"])[2:]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert re.search(r"共 <strong>3</strong> 个数据集", second)


@pytest.mark.parametrize(
    "query",
    ["sort=nonsense", "page=0", "page=abc", "page=-1", "page_size=1000", "page=10000000000000"],
)
def test_bad_search_arguments_give_a_400_page(client, query):
    response = client.get(f"/datasets?{query}")

    assert response.status_code == 400
    assert response.content_type.startswith("text/html")
    assert "查询参数无效" in page(response) or "页码超出范围" in page(response)


def test_dataset_search_shows_badges_formats_and_dates(client, session, backends, edu):
    dataset = make_dataset(
        session, edu, title="学校名录", description="全区学校。" * 60, open_type="conditional"
    )
    add_file(session, backends, dataset)

    drain(backends)
    html = page(client.get("/datasets"))

    assert '<span class="badge badge--conditional">有条件开放</span>' in html
    assert '<span class="format">CSV</span>' in html
    assert re.search(r'<time datetime="\d{4}-\d{2}-\d{2}">\d{4}-\d{2}-\d{2}</time>', html)
    excerpt = re.search(r'<p class="result__excerpt">([^<]*)</p>', html).group(1)
    assert excerpt.endswith("…") and len(excerpt) <= 121


# --- Dataset page ------------------------------------------------------------------------


def test_dataset_page_shows_metadata_in_chinese(client, session, backends, edu):
    create_theme(session, SYSTEM, "education", "教育文化")
    dataset = make_dataset(
        session,
        edu,
        slug="schools",
        title="禅城区中小学校名录",
        resource_code="11440604MB2C1234XA/00001",
        provider="禅城区教育局",
        update_frequency="annual",
        release_date=date(2023, 9, 1),
        temporal_start=date(2023, 1, 1),
        temporal_end=date(2023, 12, 31),
        spatial="佛山市禅城区",
        contact_phone="0757-83010000",
        license="cc-by-4.0",
        themes=["education"],
        tags=["学校"],
    )
    add_file(session, backends, dataset)

    html = page(client.get("/datasets/schools"))

    for expected in (
        "信息资源代码",
        "11440604MB2C1234XA/00001",
        "禅城区教育局",
        "无条件开放",
        "无条件共享",
        "文件下载",
        "每年",
        "2023-09-01",
        "2023-01-01 至 2023-12-31",
        "佛山市禅城区",
        "0757-83010000",
        "知识共享署名 4.0 国际",
        "教育文化",
        "学校",
        "已发布",
        "学校名称",
        '<span class="badge badge--sensitive">敏感</span>',
    ):
        assert expected in html, expected
    resource = dataset.resources[0]
    download = f"/api/v1/datasets/schools/resources/{resource.id}/download"
    assert f'href="{download}"' in html
    # The file has a sensitive field: outsiders are sent to its masked records instead.
    assert "/records/export" in client.get(download).headers["Location"]


def test_hidden_dataset_is_404_for_anonymous_and_visible_to_its_department(client, session, health):
    make_dataset(session, health, slug="ledger", title="内部台账", open_type="not_open")
    make_user(session, "nurse", department=health, password=PASSWORD)

    anonymous = client.get("/datasets/ledger")
    assert anonymous.status_code == 404
    assert anonymous.content_type.startswith("text/html")
    assert "内部台账" not in page(anonymous)

    log_in(client, "nurse")
    seen = client.get("/datasets/ledger")
    assert seen.status_code == 200
    assert "内部台账" in page(seen)


def test_conditional_dataset_offers_downloads_only_to_grant_holders(
    client, session, backends, health
):
    dataset = make_dataset(
        session,
        health,
        slug="clinics",
        title="医疗机构",
        open_type="conditional",
        open_condition="仅限科研用途",
    )
    stored = add_file(session, backends, dataset)
    add_link(session, backends, dataset, rows=1, url="https://secret.example.cn/api")
    researcher = make_user(session, "researcher", password=PASSWORD)
    download = f"/api/v1/datasets/clinics/resources/{stored.id}/download"

    anonymous = page(client.get("/datasets/clinics"))
    assert download not in anonymous
    assert "secret.example.cn" not in anonymous
    assert "仅限科研用途" in anonymous
    assert "申请使用" in anonymous

    grant_to_user(session, dataset, researcher)
    log_in(client, "researcher")
    granted = page(client.get("/datasets/clinics"))
    assert f'href="{download}"' in granted
    assert 'href="https://secret.example.cn/api"' in granted
    assert "申请使用" not in granted
    # Allowed, and sent on to the masked records since the file has a sensitive field.
    assert client.get(download).status_code == 303


def test_user_text_is_escaped(client, session, backends, edu):
    make_dataset(
        session,
        edu,
        slug="xss",
        title="<script>alert(1)</script>",
        description='<img src=x onerror="alert(2)">',
    )

    drain(backends)
    for url in (
        "/",
        "/datasets",
        "/datasets/xss",
        "/departments/edu",
        "/datasets?q=<script>",
        "/datasets?q=script",
        "/datasets?q=onerror",
    ):
        html = page(client.get(url))
        assert "<script>" not in html, url
        assert "<img src=x" not in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page(client.get("/datasets/xss"))


@pytest.mark.parametrize(
    ("fragment", "rendered"),
    [
        ("禅城区中小<mark>学校</mark>名录", "禅城区中小<mark>学校</mark>名录"),
        ("&lt;<mark>script</mark>&gt;", "&lt;<mark>script</mark>&gt;"),
        # An engine that forgot to escape still cannot inject markup.
        ("<mark>a</mark><script>x</script>", "<mark>a</mark>&lt;script&gt;x&lt;/script&gt;"),
        ('<img src=x onerror="1">', "&lt;img src=x onerror=&#34;1&#34;&gt;"),
        ("</mark>b<mark>c", "b<mark>c</mark>"),
        ("", ""),
        (None, ""),
    ],
)
def test_search_highlights_let_only_mark_through(fragment, rendered):
    assert str(marked_snippet(fragment)) == rendered


# --- Departments ------------------------------------------------------------------------


def test_departments_list_counts_visible_datasets(client, session, edu, health):
    make_dataset(session, edu, title="学校名录")
    make_dataset(session, health, title="医疗机构")
    make_dataset(session, health, title="内部台账", open_type="not_open")

    html = page(client.get("/departments"))

    assert "佛山市禅城区教育局" in html and "佛山市禅城区卫生健康局" in html
    counts = dict(
        re.findall(
            r'<a href="/departments/([\w-]+)">[^<]*</a></h2>\s*'
            r'<p class="department-card__count"><strong>(\d+)</strong>',
            html,
        )
    )
    assert counts == {"edu": "1", "health": "1"}


def test_department_page_lists_its_visible_datasets(client, session, backends, edu, health):
    make_dataset(session, health, title="医疗机构")
    make_dataset(session, health, title="内部台账", open_type="not_open")
    make_dataset(session, edu, title="学校名录")

    drain(backends)
    html = page(client.get("/departments/health"))

    assert "佛山市禅城区卫生健康局" in html
    assert result_titles(html) == ["医疗机构"]
    assert client.get("/departments/nowhere").status_code == 404


# --- Login and logout -----------------------------------------------------------------------


def test_login_with_the_form_token_logs_in_and_follows_next(client, session, edu):
    make_user(session, "steward", department=edu, password=PASSWORD)

    response = log_in(client, "steward", next_url="/datasets?q=学校")

    assert response.status_code == 303
    assert unquote(response.headers["Location"]) == "/datasets?q=学校"
    assert "您好，steward" in page(client.get("/"))


def test_login_form_carries_a_safe_next(client):
    html = page(client.get("/login?next=/datasets/x"))
    assert 'name="next" type="hidden" value="/datasets/x"' in html
    assert 'value="//evil.example"' not in page(client.get("/login?next=//evil.example"))


def test_login_without_the_csrf_token_is_refused(client, session):
    make_user(session, "steward", password=PASSWORD)

    response = client.post("/login", data={"name": "steward", "password": PASSWORD})

    assert response.status_code == 400
    assert response.content_type.startswith("text/html")
    assert "安全令牌" in page(response)
    assert "您好，steward" not in page(client.get("/"))


def test_failed_logins_say_the_same_thing_for_any_reason(client, session):
    make_user(session, "steward", password=PASSWORD)

    wrong_password = log_in(client, "steward", password="wrong")
    unknown_user = log_in(client, "nobody", password="wrong")

    alerts = [
        re.findall(r'role="alert"><p>([^<]*)</p>', page(response))
        for response in (wrong_password, unknown_user)
    ]
    assert alerts == [["用户名或密码错误。"], ["用户名或密码错误。"]]
    assert wrong_password.status_code == unknown_user.status_code == 200


def test_logout_needs_a_post_with_the_csrf_token(client, session):
    make_user(session, "steward", password=PASSWORD)
    log_in(client, "steward")

    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert "您好，steward" in page(client.get("/"))

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 303
    html = page(client.get("/"))
    assert "您好，steward" not in html
    assert "登录" in html


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "http://evil.example/path",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_login_refuses_open_redirects(client, session, target):
    make_user(session, "steward", password=PASSWORD)

    response = log_in(client, "steward", next_url=target)

    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/datasets?q=学校", "/datasets?q=学校"),
        ("/", "/"),
        ("", None),
        (None, None),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("/\n/evil.example", None),
        ("https://evil.example", None),
    ],
)
def test_safe_next(target, safe):
    assert safe_next(target) == safe


# --- Errors, headers and the API beside the pages -------------------------------------------


def test_unknown_pages_are_html_404_and_api_errors_stay_json(client):
    assert client.get("/no-such-page").content_type.startswith("text/html")
    assert client.get("/no-such-page").status_code == 404
    for url in ("/api/v1/no-such-endpoint", "/api/v1/datasets/no-such-dataset"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"


def test_bad_token_on_a_page_is_a_401_page(client):
    response = client.get("/", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert response.content_type.startswith("text/html")


def test_the_api_takes_bearer_tokens_without_csrf(client, session, edu):
    steward = make_user(session, department=edu, role="editor")
    response = client.post(
        "/api/v1/datasets",
        json={
            "slug": "new",
            "title": "新数据集",
            "department": "edu",
            "open_type": "unconditional",
            "share_type": "unconditional",
        },
        headers=bearer(token_for(session, steward)),
    )
    assert response.status_code == 201, response.get_json()


def test_pages_send_security_headers(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert client.get("/static/css/portal.css").status_code == 200
