"""The CKAN-compatible Action API: CKAN's envelope, errors and dicts, the access policy on
every action, and the real ckanapi client (Python API and command line) against a running
server."""

import hashlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ckanapi
import pytest
from sqlalchemy import select

from api.context import SESSION_USER_KEY
from catalog.interfaces import RecordField
from catalog.models import AuditEvent, Dataset, Resource
from catalog.services.departments import create_theme
from catalog.services.resources import ResourceValues, add_resource
from catalog.vocab import Role, TokenScope
from portal.indexing import drain
from tests.factories import SYSTEM, make_dataset, make_department, make_user, token_for

# The live_server fixture: the app served over HTTP for the real ckanapi client.
pytest_plugins = ("tests.functional.live_server",)
FIXTURES = Path(__file__).parent.parent / "fixtures"
CKANAPI = Path(sys.executable).parent / "ckanapi"
API = "/api/3/action"
FIELDS = [
    RecordField("name", "text", "姓名", sensitive=True),
    RecordField("phone", "text", "联系电话", sensitive=True),
    RecordField("school", "text", "学校名称"),
    RecordField("street", "text", "所属镇街"),
    RecordField("students", "integer", "在校学生数"),
]
STREETS = ["祖庙街道", "石湾镇街道", "张槎街道", "南庄镇"]
ROWS = 120
# Keys of CKAN's own package and resource dicts that this portal has no equivalent for.
LEGACY_PACKAGE_KEYS = {"revision_id", "creator_user_id"}
LEGACY_RESOURCE_KEYS = {"revision_id", "cache_url", "cache_last_updated"}


def rows():
    for number in range(1, ROWS + 1):
        yield {
            "_id": number,
            "name": "张三丰" if number % 2 else "李四",
            "phone": f"138{number:08d}",
            "school": f"禅城区第{number}小学",
            "street": STREETS[number % 4],
            "students": number * 10,
        }


@dataclass
class World:
    owner: dict  # headers of an editor of the owning department (edu)
    other: dict  # a member of another department (hr)
    read_only: dict  # the edu editor's read-only token
    other_editor: dict  # an editor of hr
    steward_id: str
    steward_token: str
    table_id: str  # the open dataset's table resource
    conditional_table_id: str
    hidden_table_id: str


def key(token: str) -> dict[str, str]:
    """CKAN clients send the bare token in Authorization."""
    return {"Authorization": token}


def _table(session, backends, slug: str) -> str:
    resource = add_resource(
        session,
        SYSTEM,
        backends.object_store,
        slug,
        ResourceValues(
            name="学生名册", format="CSV", media_type="text/csv", fields=[vars(f) for f in FIELDS]
        ),
        io.BytesIO("姓名,学校名称\n张三丰,禅城区第1小学\n".encode()),
        "学生名册.csv",
    )
    backends.record_store.create(resource.id, FIELDS)
    backends.record_store.append(resource.id, rows())
    return resource.id


@pytest.fixture
def world(session, backends) -> World:
    edu = make_department(session, slug="edu", name="佛山市禅城区教育局")
    hr = make_department(session, slug="hr", name="佛山市禅城区人社局")
    create_theme(session, SYSTEM, "education", "教育科技", "Education")
    create_theme(session, SYSTEM, "jobs", "就业创业")
    steward = make_user(session, name="edu-steward", department=edu, role=Role.EDITOR)
    member = make_user(session, name="hr-member", department=hr, role=Role.MEMBER)
    hr_editor = make_user(session, name="hr-steward", department=hr, role=Role.EDITOR)
    common = {"license": "gov-open", "update_frequency": "semiannual"}
    make_dataset(
        session,
        edu,
        slug="schools",
        title="禅城区中小学校名录",
        tags=["学校", "名录"],
        themes=["education"],
        resource_code="11440604MB2C10174H/00001",
        release_date=date(2023, 3, 14),
        contact_name="教育局数据管理员",
        contact_email="data@edu.example.cn",
        **common,
    )
    make_dataset(
        session,
        edu,
        slug="exam-scores",
        title="中考成绩统计",
        open_type="conditional",
        share_type="conditional",
        tags=["考试"],
        **common,
    )
    make_dataset(
        session,
        edu,
        slug="teacher-roster",
        title="教师花名册",
        open_type="not_open",
        share_type="unconditional",
        tags=["教师"],
    )
    make_dataset(
        session,
        edu,
        slug="pupil-records",
        title="学籍档案",
        open_type="not_open",
        share_type="not_shared",
        tags=["机密学籍"],
    )
    make_dataset(session, edu, slug="draft-plan", title="招生计划草稿", state="draft")
    make_dataset(session, hr, slug="jobs", title="招聘岗位信息", tags=["就业"], themes=["jobs"])
    add_resource(
        session,
        SYSTEM,
        backends.object_store,
        "jobs",
        ResourceValues(name="岗位接口", format="API", url="https://jobs.example.cn/api"),
    )
    table_id = _table(session, backends, "schools")
    conditional_table_id = _table(session, backends, "exam-scores")
    hidden_table_id = _table(session, backends, "pupil-records")
    drain(backends)
    steward_token = token_for(session, steward)
    return World(
        owner=key(steward_token),
        other=key(token_for(session, member)),
        read_only=key(token_for(session, steward, scopes=frozenset({TokenScope.READ}))),
        other_editor=key(token_for(session, hr_editor)),
        steward_id=steward.id,
        steward_token=steward_token,
        table_id=table_id,
        conditional_table_id=conditional_table_id,
        hidden_table_id=hidden_table_id,
    )


def call(client, action: str, headers: dict | None = None, /, **data):
    """POST the action with a JSON body, as ckanapi does."""
    return client.post(f"{API}/{action}", json=data, headers=headers or {})


def result(response):
    body = response.get_json()
    assert response.status_code == 200 and body["success"] is True, body
    return body["result"]


def error(response, status: int, kind: str) -> dict:
    body = response.get_json()
    assert response.status_code == status, body
    assert body["success"] is False and body["error"]["__type"] == kind, body
    assert body["help"].endswith(f"{API}/help_show?name={response.request.path.rsplit('/', 1)[1]}")
    return body["error"]


def _changes(backends) -> int:
    with backends.sessions() as session:
        return len(session.scalars(select(AuditEvent.id)).all())


# --- envelope and request errors -----------------------------------------------------------


def test_the_envelope_is_ckans(client, world):
    response = client.get(f"{API}/package_show?id=schools")
    body = response.get_json()
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert set(body) == {"help", "success", "result"}
    assert body["help"] == "http://localhost/api/3/action/help_show?name=package_show"
    assert body["result"]["name"] == "schools"
    # The path without the version answers the same.
    assert result(client.get("/api/action/package_show?id=schools"))["id"] == body["result"]["id"]
    status = result(client.get(f"{API}/status_show"))
    assert status["ckan_version"].startswith("2.10") and "datastore" in status["extensions"]
    assert status["site_title"] == "禅城区政府数据开放平台"
    assert ":param fq:" in result(client.get(f"{API}/help_show?name=package_search"))
    error(client.get(f"{API}/help_show?name=no_such_action"), 404, "Not Found Error")


def test_bad_requests_answer_400_as_ckan_does(client, world, backends):
    before = _changes(backends)
    unknown = client.get(f"{API}/package_explode")
    assert unknown.status_code == 400
    assert unknown.get_json() == "Bad request - Action name not known: package_explode"
    broken = client.post(
        f"{API}/package_create",
        data="{not json",
        headers={**world.owner, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and broken.get_json().startswith("Bad request - JSON Error")
    listed = client.post(f"{API}/package_create", json=["schools"], headers=world.owner)
    assert listed.status_code == 400 and "needs to be a dictionary" in listed.get_json()
    as_get = client.get(f"{API}/package_delete?id=schools", headers=world.owner)
    assert as_get.status_code == 400 and "Please use POST" in as_get.get_json()
    # None of them changed anything, and errors stay JSON (never the pages' HTML).
    assert _changes(backends) == before
    assert client.put(f"{API}/package_show").mimetype.endswith("json")


# --- the policy on reads ---------------------------------------------------------------------


def test_package_show_follows_the_policy(client, world):
    def shown(headers, slug):
        return client.get(f"{API}/package_show?id={slug}", headers=headers or {})

    nonexistent = error(shown(None, "no-such-dataset"), 404, "Not Found Error")
    for slug in ("teacher-roster", "pupil-records", "draft-plan"):
        # Hidden is answered exactly as nonexistent: the name tells nothing.
        assert error(shown(None, slug), 404, "Not Found Error") == nonexistent
    assert result(shown(None, "exam-scores"))["private"] is False
    shared = result(shown(world.other, "teacher-roster"))
    assert shared["private"] is True and shared["state"] == "active"
    assert error(shown(world.other, "pupil-records"), 404, "Not Found Error") == nonexistent
    draft = result(shown(world.owner, "draft-plan"))
    assert (draft["state"], draft["private"]) == ("draft", True)
    by_id = result(shown(world.owner, draft["id"]))
    assert by_id["name"] == "draft-plan"


def test_package_dict_is_ckans_shape_with_the_catalog_fields_as_extras(client, world):
    dataset = result(client.get(f"{API}/package_show?id=schools"))
    captured = json.loads(
        (FIXTURES / "ckan/demo_ckan_org__package_show_62513382.json").read_text("utf-8")
    )["result"]
    assert set(captured) - LEGACY_PACKAGE_KEYS <= set(dataset)
    assert set(captured["resources"][0]) - LEGACY_RESOURCE_KEYS <= set(dataset["resources"][0])
    assert dataset["organization"]["name"] == "edu"
    assert dataset["organization"]["title"] == "佛山市禅城区教育局"
    assert dataset["owner_org"] == dataset["organization"]["id"]
    assert dataset["tags"] == [
        {"name": "名录", "display_name": "名录", "vocabulary_id": None, "state": "active"},
        {"name": "学校", "display_name": "学校", "vocabulary_id": None, "state": "active"},
    ]
    assert [(g["name"], g["title"]) for g in dataset["groups"]] == [("education", "教育科技")]
    assert (dataset["license_id"], dataset["license_title"]) == ("gov-open", "政府数据开放许可协议")
    assert (dataset["maintainer"], dataset["author_email"]) == (
        "教育局数据管理员",
        "data@edu.example.cn",
    )
    assert dataset["url"] == "http://localhost/datasets/schools"
    extras = {extra["key"]: extra["value"] for extra in dataset["extras"]}
    assert extras["resource_code"] == "11440604MB2C10174H/00001"
    assert (extras["open_type"], extras["share_type"]) == ("unconditional", "unconditional")
    assert (extras["update_frequency"], extras["release_date"]) == ("semiannual", "2023-03-14")
    # CKAN's timestamps: ISO 8601, UTC, no zone suffix.
    assert "+" not in dataset["metadata_modified"] and not dataset["metadata_created"].endswith("Z")
    (resource,) = dataset["resources"]
    assert resource["url"] == (
        f"http://localhost/api/v1/datasets/schools/resources/{world.table_id}/download"
    )
    assert resource["package_id"] == dataset["id"] and resource["url_type"] == "upload"
    assert resource["datastore_active"] is True and len(resource["hash"]) == 64
    assert (dataset["num_resources"], dataset["num_tags"]) == (1, 2)
    # Those who may not fetch the data are given no address for it.
    conditional = result(client.get(f"{API}/package_show?id=exam-scores"))
    assert conditional["resources"][0]["url"] == ""


def test_package_search_counts_only_what_the_caller_may_see(client, world):
    def search(headers=None, **data):
        return result(call(client, "package_search", headers, **data))

    facet = {"facet.field": json.dumps(["organization"]), "rows": 100}
    public = search(**facet)
    assert public["count"] == 3
    assert {d["name"] for d in public["results"]} == {"schools", "exam-scores", "jobs"}
    assert public["facets"] == {"organization": {"edu": 2, "hr": 1}}
    assert search(include_private=True, **facet)["count"] == 3
    # Private ones only when asked for, and only those the caller may see.
    assert search(world.other, **facet)["count"] == 3
    member = search(world.other, include_private=True, **facet)
    assert {d["name"] for d in member["results"]} == {
        "schools",
        "exam-scores",
        "jobs",
        "teacher-roster",
    }
    owner = search(world.owner, include_private=True, **facet)
    assert owner["count"] == 6 and owner["facets"]["organization"] == {"edu": 5, "hr": 1}
    assert owner["search_facets"]["organization"] == {
        "title": "organization",
        "items": [
            {"name": "edu", "display_name": "佛山市禅城区教育局", "count": 5},
            {"name": "hr", "display_name": "佛山市禅城区人社局", "count": 1},
        ],
    }


def test_package_search_fq_sort_and_paging(client, world):
    def names(**data):
        return [
            d["name"]
            for d in result(client.get(f"{API}/package_search", query_string=data))["results"]
        ]

    assert names(fq="tags:学校") == ["schools"]
    assert names(fq="res_format:csv", sort="name asc") == ["exam-scores", "schools"]
    assert names(fq='organization:hr +groups:"jobs"') == ["jobs"]
    assert sorted(names(fq="organization:(edu OR hr) license_id:gov-open")) == [
        "exam-scores",
        "schools",
    ]
    assert names(fq="dataset_type:dataset open_type:conditional") == ["exam-scores"]
    assert names(fq="dataset_type:harvest") == []
    assert names(q="名录 tags:学校") == ["schools"]
    titles = [
        d["title"]
        for d in result(client.get(f"{API}/package_search?sort=title_string asc&rows=10"))[
            "results"
        ]
    ]
    assert titles == sorted(titles) and len(titles) == 3
    whole = names(sort="metadata_modified desc", rows=3)
    pages = [names(sort="metadata_modified desc", rows=1, start=n) for n in range(3)]
    assert [page[0] for page in pages] == whole
    assert names(sort="metadata_modified desc", rows=2, start=1) == whole[1:]
    faceted = result(
        client.get(f'{API}/package_search?facet.field=["tags","res_format"]&facet.limit=1&rows=0')
    )
    assert faceted["results"] == [] and faceted["count"] == 3
    assert [len(values) for values in faceted["facets"].values()] == [1, 1]
    assert faceted["facets"]["res_format"] == {"CSV": 2}


def test_package_search_refuses_what_it_cannot_do(client, world):
    def search(**data):
        return client.get(f"{API}/package_search", query_string=data)

    assert (
        "metadata_modified"
        in error(
            search(fq="metadata_modified:[2020-01-01T00:00:00Z TO *]"), 400, "Search Query Error"
        )["message"]
    )
    assert "twice" in error(search(fq="tags:a tags:b"), 400, "Search Query Error")["message"]
    assert "sort" in error(search(sort="popularity desc"), 409, "Validation Error")
    assert "facet.field" in error(search(**{"facet.field": '["author"]'}), 409, "Validation Error")
    assert "start" in error(search(start=9995, rows=10), 409, "Validation Error")
    assert "rows" in error(search(rows="ten"), 409, "Validation Error")


def test_lists_show_only_what_the_caller_may_see(client, world):
    assert result(client.get(f"{API}/package_list")) == ["exam-scores", "jobs", "schools"]
    assert result(client.get(f"{API}/package_list?limit=1&offset=1")) == ["jobs"]
    recent = result(call(client, "current_package_list_with_resources", limit=2))
    assert len(recent) == 2 and all("resources" in d for d in recent)
    assert result(call(client, "current_package_list_with_resources", offset=2))[0]["name"] in {
        "schools",
        "exam-scores",
        "jobs",
    }
    assert result(client.get(f"{API}/organization_list")) == ["edu", "hr"]
    organizations = result(call(client, "organization_list", all_fields=True))
    assert [(o["name"], o["package_count"]) for o in organizations] == [("edu", 2), ("hr", 1)]
    owners_view = result(
        call(client, "organization_list", world.owner, all_fields=True, sort="package_count desc")
    )
    assert [(o["name"], o["package_count"]) for o in owners_view] == [("edu", 5), ("hr", 1)]
    edu = result(call(client, "organization_show", id="edu", include_datasets=True))
    assert sorted(d["name"] for d in edu["packages"]) == ["exam-scores", "schools"]
    groups = result(call(client, "group_list", all_fields=True))
    assert [(g["name"], g["title"], g["package_count"]) for g in groups] == [
        ("education", "教育科技", 1),
        ("jobs", "就业创业", 1),
    ]
    assert result(client.get(f"{API}/group_list")) == ["education", "jobs"]
    public_tags = result(client.get(f"{API}/tag_list"))
    assert public_tags == ["名录", "学校", "就业", "考试"]
    # A tag of a hidden dataset would tell of it: only its department sees it.
    assert "机密学籍" in result(call(client, "tag_list", world.owner))
    assert result(client.get(f"{API}/tag_list?query=学")) == ["学校"]
    error(call(client, "organization_show", id="nope"), 404, "Not Found Error")


def test_resource_show_follows_the_policy(client, world):
    shown = result(call(client, "resource_show", id=world.table_id))
    assert shown["name"] == "学生名册" and shown["format"] == "CSV"
    hidden = error(call(client, "resource_show", id=world.hidden_table_id), 404, "Not Found Error")
    assert world.hidden_table_id in hidden["message"]
    assert result(call(client, "resource_show", world.owner, id=world.hidden_table_id))


# --- the DataStore ---------------------------------------------------------------------------


def test_datastore_search_masks_sensitive_fields(client, world):
    def search(headers=None, **data):
        return call(client, "datastore_search", headers, resource_id=world.table_id, **data)

    public = result(search(limit=2))
    assert public["total"] == ROWS and public["total_was_estimated"] is False
    assert [f["id"] for f in public["fields"]] == [
        "_id",
        "name",
        "phone",
        "school",
        "street",
        "students",
    ]
    assert {f["id"]: f["type"] for f in public["fields"]}["students"] == "int"
    name_field = public["fields"][1]
    assert name_field["info"]["label"] == "姓名" and "脱敏" in name_field["info"]["notes"]
    first = public["records"][0]
    assert (first["name"], first["phone"], first["school"]) == (
        "张**",
        "138****0001",
        "禅城区第1小学",
    )
    owner = result(search(world.owner, limit=1))
    assert (owner["records"][0]["name"], owner["records"][0]["phone"]) == ("张三丰", "13800000001")
    assert "notes" not in owner["fields"][1].get("info", {})
    # Filtering on a masked field would reveal it.
    refused = error(search(filters={"name": "张三丰"}), 409, "Validation Error")
    assert "name" in refused
    assert result(search(world.owner, filters={"name": "李四"}, limit=0))["total"] == ROWS // 2


def test_datastore_search_filters_sort_fields_and_offsets(client, world):
    def search(**data):
        return result(
            client.get(
                f"{API}/datastore_search",
                query_string={"resource_id": world.table_id, **data},
            )
        )

    chosen = search(
        filters=json.dumps({"street": ["祖庙街道", "南庄镇"]}),
        sort="students desc",
        fields="school,students",
        limit=3,
    )
    assert chosen["total"] == ROWS // 2
    assert [r["students"] for r in chosen["records"]] == [1200, 1190, 1160]
    assert set(chosen["records"][0]) == {"_id", "school", "students"}
    assert [f["id"] for f in chosen["fields"]] == ["_id", "school", "students"]
    assert search(q="第7小学")["total"] == 1
    page = search(offset=100, limit=10)
    assert [r["_id"] for r in page["records"]] == list(range(101, 111))
    assert page["_links"]["next"].startswith("/api/3/action/datastore_search?")
    assert "offset=110" in page["_links"]["next"]
    past_the_end = search(offset=500)
    assert past_the_end["records"] == [] and past_the_end["total"] == ROWS
    assert "total" not in search(include_total="false", limit=1)
    too_deep = client.get(
        f"{API}/datastore_search",
        query_string={"resource_id": world.table_id, "offset": 10_001},
    )
    assert "cursor" in error(too_deep, 409, "Validation Error")["offset"][0]
    bad = client.get(f"{API}/datastore_search?resource_id={world.table_id}&filters=[1]")
    assert "filters" in error(bad, 409, "Validation Error")


def test_datastore_search_follows_the_policy(client, world):
    conditional = call(client, "datastore_search", resource_id=world.conditional_table_id)
    assert "申请" in error(conditional, 403, "Authorization Error")["message"]
    hidden = call(client, "datastore_search", resource_id=world.hidden_table_id)
    missing = call(client, "datastore_search", resource_id="00000000-0000-0000-0000-000000000000")
    assert error(hidden, 404, "Not Found Error")["message"].startswith("Not found: Resource")
    assert error(missing, 404, "Not Found Error")["message"].startswith("Not found: Resource")
    owner = call(client, "datastore_search", world.owner, resource_id=world.hidden_table_id)
    assert result(owner)["total"] == ROWS


# --- writes ----------------------------------------------------------------------------------

NEW_DATASET = {
    "name": "school-canteens",
    "title": "学校食堂名录",
    "owner_org": "edu",
    "notes": "全区中小学食堂。",
    "tags": [{"name": "食堂"}],
    "groups": [{"name": "education"}],
    "license_id": "cc-by-4.0",
    "extras": [
        {"key": "open_type", "value": "有条件开放"},
        {"key": "share_type", "value": "unconditional"},
        {"key": "update_frequency", "value": "annual"},
        {"key": "resource_code", "value": "11440604MB2C10174H/00099"},
        {"key": "来源系统", "value": "食安平台"},
    ],
    "resources": [{"url": "https://canteens.example.cn/list.xlsx", "name": "食堂清单"}],
}


def test_writes_need_a_token_with_the_write_scope(client, world, backends):
    before = _changes(backends)
    anonymous = call(client, "package_create", **NEW_DATASET)
    assert "token" in error(anonymous, 403, "Authorization Error")["message"]
    read_only = call(client, "package_patch", world.read_only, id="schools", title="x")
    assert "write scope" in error(read_only, 403, "Authorization Error")["message"]
    unknown = call(client, "package_show", key("odp_" + "x" * 43), id="schools")
    assert "token" in error(unknown, 403, "Authorization Error")["message"]
    # A logged-in browser session reads with GET, but never writes.
    with client.session_transaction() as browser:
        browser[SESSION_USER_KEY] = world.steward_id
    assert result(client.get(f"{API}/package_show?id=pupil-records"))["name"] == "pupil-records"
    error(call(client, "package_delete", id="schools"), 403, "Authorization Error")
    error(call(client, "package_create", **NEW_DATASET), 403, "Authorization Error")
    # Another department's editor may see the dataset but not change it; a hidden one is
    # not found for them.
    error(
        call(client, "package_patch", world.other_editor, id="schools", title="x"),
        403,
        "Authorization Error",
    )
    error(
        call(client, "package_delete", world.other_editor, id="pupil-records"),
        404,
        "Not Found Error",
    )
    assert _changes(backends) == before


@pytest.mark.parametrize(
    "credentials",
    [
        lambda token: {"Authorization": token},
        lambda token: {"Authorization": f"Bearer {token}"},
        lambda token: {"X-CKAN-API-Key": token},
    ],
    ids=["bare", "bearer", "x-ckan-api-key"],
)
def test_every_ckan_way_of_sending_the_token(client, world, credentials):
    headers = credentials(world.steward_token)
    assert result(call(client, "package_show", headers, id="pupil-records"))["private"] is True


def test_package_create_update_patch_and_delete(client, world, backends):
    created = result(call(client, "package_create", world.owner, **NEW_DATASET))
    assert (created["name"], created["state"], created["private"]) == (
        "school-canteens",
        "active",
        False,
    )
    extras = {e["key"]: e["value"] for e in created["extras"]}
    assert (extras["open_type"], extras["来源系统"]) == ("conditional", "食安平台")
    assert created["resources"][0]["url"] == "https://canteens.example.cn/list.xlsx"
    # The dataset's data is conditional: the public gets no address for it.
    public_view = result(call(client, "package_show", None, id="school-canteens"))
    assert public_view["resources"][0]["url"] == ""
    with backends.sessions() as session:
        row = session.scalar(select(Dataset).where(Dataset.slug == "school-canteens"))
        assert (row.open_type, row.license_id, row.extras) == (
            "conditional",
            "cc-by-4.0",
            {"来源系统": "食安平台"},
        )
        assert [r.url for r in row.resources] == ["https://canteens.example.cn/list.xlsx"]

    taken = call(client, "package_create", world.owner, **{**NEW_DATASET, "resources": []})
    assert "name" in error(taken, 409, "Validation Error")
    unknown_org = call(client, "package_create", world.owner, **{**NEW_DATASET, "owner_org": "x"})
    assert error(unknown_org, 409, "Validation Error")["owner_org"] == [
        "Organization does not exist"
    ]

    # A package_show round trip changes only what was edited, and never widens access.
    shown = result(call(client, "package_show", world.owner, id="school-canteens"))
    updated = result(
        call(client, "package_update", world.owner, **{**shown, "title": "学校食堂名录（2024）"})
    )
    assert updated["title"] == "学校食堂名录（2024）" and updated["private"] is False
    assert updated["extras"] == shown["extras"] and updated["tags"] == shown["tags"]
    # package_update empties the CKAN fields left out; package_patch keeps them.
    bare = result(call(client, "package_update", world.owner, id="school-canteens", title="食堂"))
    assert (bare["tags"], bare["groups"], bare["notes"]) == ([], [], "")
    assert {e["key"]: e["value"] for e in bare["extras"]}["open_type"] == "conditional"
    patched = result(
        call(
            client,
            "package_patch",
            world.owner,
            id="school-canteens",
            private=True,
            tags=["食堂", "食品安全"],
        )
    )
    assert patched["private"] is True and patched["title"] == "食堂"
    assert [t["name"] for t in patched["tags"]] == ["食品安全", "食堂"]
    bad_date = call(
        client,
        "package_patch",
        world.owner,
        id="school-canteens",
        extras=[{"key": "release_date", "value": "去年"}],
    )
    assert "release_date" in error(bad_date, 409, "Validation Error")

    assert result(call(client, "package_delete", world.owner, id="school-canteens")) is None
    assert result(call(client, "package_show", world.owner, id="school-canteens"))["state"] == (
        "deleted"
    )
    error(call(client, "package_show", id="school-canteens"), 404, "Not Found Error")


def test_resource_create_streams_an_upload_to_the_object_store(client, world, backends):
    content = (FIXTURES / "tabular/nbs_division_codes_2023__provinces.csv").read_bytes()
    response = client.post(
        f"{API}/resource_create",
        data={
            "package_id": "schools",
            "name": "省级行政区划代码",
            "upload": (io.BytesIO(content), "省级区划.csv"),
        },
        headers=world.owner,
        content_type="multipart/form-data",
    )
    resource = result(response)
    assert (resource["format"], resource["mimetype"], resource["size"]) == (
        "CSV",
        "text/csv; charset=utf-8",
        len(content),
    )
    assert resource["hash"] == hashlib.sha256(content).hexdigest()
    # Taken in as a steward's upload is: read as a table and loaded as records.
    assert resource["datastore_active"] is True
    program = client.post(
        f"{API}/resource_create",
        data={"package_id": "schools", "upload": (io.BytesIO(b"MZ\x90\x00" * 64), "tool.exe")},
        headers=world.owner,
        content_type="multipart/form-data",
    )
    assert program.status_code == 409 and program.get_json()["success"] is False
    with backends.sessions() as session:
        key_in_store = session.get(Resource, resource["id"]).storage_key
    assert b"".join(backends.object_store.open(key_in_store)) == content
    link = result(
        call(
            client,
            "resource_create",
            world.owner,
            package_id="schools",
            url="https://data.example.cn/schools.json",
            format="json",
        )
    )
    assert (link["url"], link["format"], link["name"]) == (
        "https://data.example.cn/schools.json",
        "JSON",
        "schools.json",
    )
    before = _changes(backends)
    empty = client.post(
        f"{API}/resource_create",
        data={"package_id": "schools", "upload": (io.BytesIO(b""), "empty.csv")},
        headers=world.owner,
        content_type="multipart/form-data",
    )
    # CKAN names the file's field "upload" (the REST API's is "file").
    assert error(empty, 409, "Validation Error")["upload"] == ["The file is empty. 文件为空。"]
    undecodable = client.post(
        f"{API}/resource_create",
        data={"package_id": "schools", "upload": (io.BytesIO(b"id,name\n1,\x80\x81\n"), "a.csv")},
        headers=world.owner,
        content_type="multipart/form-data",
    )
    refusal = error(undecodable, 409, "Validation Error")
    assert set(refusal) == {"__type", "upload"}
    assert "not UTF-8, GBK or GB18030 text: invalid byte 0x80 at offset 10" in refusal["upload"][0]
    script = call(
        client, "resource_create", world.owner, package_id="schools", url="javascript:alert(1)"
    )
    assert "url" in error(script, 409, "Validation Error")
    assert _changes(backends) == before


# --- the real ckanapi client against a running server -----------------------------------------


def test_ckanapi_python_client(live_server, world, backends):
    public = ckanapi.RemoteCKAN(live_server)
    found = public.action.package_search(q="名录", fq="organization:edu")
    assert [d["name"] for d in found["results"]] == ["schools"]
    assert public.action.package_show(id="schools")["organization"]["name"] == "edu"
    with pytest.raises(ckanapi.NotFound):
        public.action.package_show(id="pupil-records")
    with pytest.raises(ckanapi.NotAuthorized):
        public.action.package_create(**NEW_DATASET)
    records = public.action.datastore_search(resource_id=world.table_id, limit=1)
    assert records["records"][0]["name"] == "张**"

    steward = ckanapi.RemoteCKAN(live_server, apikey=world.steward_token)
    created = steward.action.package_create(**{**NEW_DATASET, "resources": []})
    with pytest.raises(ckanapi.ValidationError) as taken:
        steward.action.package_create(**{**NEW_DATASET, "resources": []})
    assert "name" in taken.value.error_dict
    patched = steward.action.package_patch(id=created["id"], notes="每学期更新。")
    assert patched["notes"] == "每学期更新。" and patched["title"] == NEW_DATASET["title"]
    fixture = FIXTURES / "tabular/nbs_division_codes_2023__provinces.csv"
    with fixture.open("rb") as upload:
        uploaded = steward.action.resource_create(
            package_id=created["id"], name="省级区划", upload=upload
        )
    assert uploaded["size"] == fixture.stat().st_size
    with backends.sessions() as session:
        stored = session.get(Resource, uploaded["id"]).storage_key
    assert backends.object_store.exists(stored)
    assert b"".join(backends.object_store.open(stored)) == fixture.read_bytes()
    shown = steward.action.package_show(id=created["id"])
    assert [r["name"] for r in shown["resources"]] == ["省级区划"]
    # The write was indexed when its request ended.
    assert steward.action.package_search(q="食堂", include_private=True)["count"] == 1
    steward.action.package_delete(id=created["id"])
    with pytest.raises(ckanapi.NotFound):
        public.action.package_show(id=created["id"])


def ckanapi_cli(*arguments: str) -> subprocess.CompletedProcess:
    # The dump command starts its workers as `ckanapi` from PATH.
    environment = {"PATH": f"{CKANAPI.parent}:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    return subprocess.run(  # noqa: S603 - our own venv's ckanapi, arguments from the test
        [str(CKANAPI), *arguments], capture_output=True, env=environment, timeout=120, check=False
    )


def test_ckanapi_command_line(live_server, world, tmp_path):
    searched = ckanapi_cli("action", "package_search", "-r", live_server, "q=名录", "rows=5")
    assert searched.returncode == 0, searched.stderr.decode()
    assert [d["name"] for d in json.loads(searched.stdout)["results"]] == ["schools"]
    shown = ckanapi_cli("action", "package_show", "-r", live_server, "id=schools")
    assert json.loads(shown.stdout)["title"] == "禅城区中小学校名录"
    hidden = ckanapi_cli("action", "package_show", "-r", live_server, "id=pupil-records")
    assert hidden.returncode != 0 and b"NotFound" in hidden.stderr
    as_owner = ckanapi_cli(
        "action", "package_show", "-r", live_server, "-a", world.steward_token, "id=pupil-records"
    )
    assert json.loads(as_owner.stdout)["private"] is True
    dump = tmp_path / "datasets.jsonl"
    dumped = ckanapi_cli("dump", "datasets", "--all", "-r", live_server, "-O", str(dump), "-q")
    assert dumped.returncode == 0, dumped.stderr.decode()
    lines = [json.loads(line) for line in dump.read_text("utf-8").splitlines()]
    assert [d["name"] for d in lines] == ["exam-scores", "jobs", "schools"]
    assert {e["key"] for e in lines[2]["extras"]} >= {"resource_code", "open_type", "share_type"}
