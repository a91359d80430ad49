"""The records of a tabular resource through HTTP: query, counts, export, masking, policy."""

import csv
import io
import json

import pytest

from catalog.interfaces import RecordField
from catalog.services.resources import ResourceValues, add_resource
from tests.factories import SYSTEM, bearer, make_dataset, make_department, make_user, token_for

FIELDS = [
    RecordField("name", "text", "姓名", sensitive=True),
    RecordField("id_card", "text", "身份证号", sensitive=True),
    RecordField("school", "text", "学校名称"),
    RecordField("street", "text", "所属镇街"),
    RecordField("students", "integer", "在校学生数"),
]
STREETS = ["祖庙街道", "石湾镇街道", "张槎街道", "南庄镇"]


def rows(count=120):
    for number in range(1, count + 1):
        yield {
            "_id": number,
            "name": "张三丰" if number % 2 else "李四",
            "id_card": f"44060419900101{number:04d}",
            "school": f"禅城区第{number}小学" if number != 7 else '=HYPERLINK("http://x")',
            "street": STREETS[number % 4],
            "students": number * 10,
        }


@pytest.fixture
def world(session, backends):
    department = make_department(session, slug="edu", name="佛山市禅城区教育局")
    steward = make_user(session, department=department, role="editor")
    datasets = {}
    for open_type in ("unconditional", "conditional"):
        dataset = make_dataset(
            session,
            department,
            slug=f"pupils-{open_type}",
            open_type=open_type,
            share_type="not_shared",
        )
        resource = add_resource(
            session,
            SYSTEM,
            backends.object_store,
            dataset.slug,
            ResourceValues(name="学生名册", format="CSV", fields=[vars(f) for f in FIELDS]),
            io.BytesIO(b"name\n"),
            "data.csv",
        )
        backends.record_store.create(resource.id, FIELDS)
        backends.record_store.append(resource.id, rows())
        datasets[open_type] = f"/api/v1/datasets/{dataset.slug}/resources/{resource.id}/records"
    return {"urls": datasets, "owner": bearer(token_for(session, steward))}


def test_anonymous_callers_get_masked_sensitive_fields(client, world):
    body = client.get(world["urls"]["unconditional"] + "?limit=2").get_json()
    assert body["total"] == 120 and not body["total_is_estimate"]
    first = body["records"][0]
    assert first["name"] == "张**"
    assert first["id_card"] == "440604********0001"
    assert first["school"] == "禅城区第1小学"
    masked = {f["name"]: f["masked"] for f in body["fields"]}
    assert masked == {
        "name": True,
        "id_card": True,
        "school": False,
        "street": False,
        "students": False,
    }


def test_the_owning_department_sees_them_unmasked(client, world):
    body = client.get(world["urls"]["unconditional"] + "?limit=1", headers=world["owner"])
    assert body.get_json()["records"][0]["id_card"] == "440604199001010001"


def test_sensitive_fields_cannot_be_probed(client, world):
    url = world["urls"]["unconditional"]
    probes = [
        "?filters=" + json.dumps({"id_card": "440604199001010001"}),
        "?sort=id_card",
        "/counts?field=name",
    ]
    for probe in probes:
        response = client.get(url + probe)
        assert response.status_code == 422, probe
    # Words in sensitive fields are not searched for those who see them masked.
    assert client.get(url + "?q=张三丰").get_json()["total"] == 0
    assert client.get(url + "?q=张三丰", headers=world["owner"]).get_json()["total"] == 60


def test_filters_text_sort_and_cursor_paging(client, world):
    url = world["urls"]["unconditional"]
    filters = json.dumps({"street": "祖庙街道", "students": {"gte": 400}})
    page = client.get(f"{url}?filters={filters}&sort=-students&limit=10").get_json()
    assert page["total"] == 21
    assert [r["students"] for r in page["records"]][:2] == [1200, 1160]
    seen = [r["_id"] for r in page["records"]]
    while page["next_cursor"]:
        page = client.get(
            f"{url}?filters={filters}&sort=-students&limit=10&cursor={page['next_cursor']}"
        ).get_json()
        seen += [r["_id"] for r in page["records"]]
    assert len(seen) == len(set(seen)) == 21
    assert client.get(url + "?q=第12小学").get_json()["total"] == 1
    assert client.get(url + "?fields=school").get_json()["records"][0].keys() == {"_id", "school"}


def test_grouped_counts(client, world):
    counts = client.get(world["urls"]["unconditional"] + "/counts?field=street").get_json()
    assert {c["value"]: c["count"] for c in counts} == dict.fromkeys(STREETS, 30)


def test_bad_queries_are_clear_errors(client, world):
    url = world["urls"]["unconditional"]
    for bad in (
        "?filters=not-json",
        "?filters=" + json.dumps({"nope": 1}),
        "?cursor=abc",
        "?sort=nope",
        "?filters=" + json.dumps({"students": "many"}),
    ):
        response = client.get(url + bad)
        assert response.status_code in (400, 422), bad
        assert response.get_json()["detail"]


def test_csv_export_for_excel_is_safe(client, world):
    response = client.get(world["urls"]["unconditional"] + "/export?format=csv&bom=true")
    assert response.status_code == 200
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff姓名,身份证号,学校名称")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(table) == 121
    assert table[7][2].startswith("'=")  # a formula made inert
    assert table[1][1] == "440604********0001"


def test_json_lines_export_streams_every_row(client, world):
    response = client.get(world["urls"]["unconditional"] + "/export?format=jsonl")
    lines = response.get_data().decode().splitlines()
    assert len(lines) == 120
    assert json.loads(lines[0])["name"] == "张**"


def test_conditional_data_needs_a_grant(client, world):
    response = client.get(world["urls"]["conditional"])
    assert response.status_code == 403
    assert "apply" in response.get_json()["detail"]
    assert client.get(world["urls"]["conditional"], headers=world["owner"]).status_code == 200
    assert client.get("/api/v1/datasets/nope/resources/x/records").status_code == 404


def test_a_file_with_sensitive_fields_downloads_masked_to_outsiders(client, world):
    download = world["urls"]["unconditional"].replace("/records", "/download")
    response = client.get(download)
    assert response.status_code == 303
    assert "/records/export?format=csv" in response.headers["Location"]
    masked = client.get(response.headers["Location"]).get_data().decode("utf-8")
    assert "440604********0001" in masked and "440604199001010001" not in masked
    assert client.get(download, headers=world["owner"]).status_code == 200
