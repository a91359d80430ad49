"""Every route asks the access policy: a walk over the app's url_map with hidden objects.

The world: a department ("owner") with a 不予开放 + 不予共享 dataset, a draft and a
有条件开放 + 有条件共享 dataset, each holding a CSV file stored twice (two versions, its
records loaded) and a grant to a third department; the department's harvest source and
job, an export job and an API token of its editor. The callers: anonymous, a logged-in
public user and an admin of another department (the strongest outsider) with tokens, and
that outsider again by session cookie.

For a rule whose arguments name a hidden object, each method it allows is sent with the
hidden object's identifiers and again with absent ones of the same length (the "twin"): a
hidden object must look exactly like one that does not exist, so both get the same refusal.
No answer may name anything hidden and nothing stored may change. The 有条件开放 dataset's
data paths refuse, and no path gives its rows, file links or checksums. Rules without
object arguments must not list anything hidden. Every rule is in ROUTES or EXEMPT
(test_every_rule_is_walked), so a new route fails until it joins the walk.
"""

import io
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import select

import api.ckan.resources  # noqa: F401 - importing it registers the Action API's actions
from api.ckan.registry import ACTIONS
from api.context import SESSION_USER_KEY
from api.uploads.resources import LOADER
from catalog.backends import Backends
from catalog.db import session_factory
from catalog.exports import ExportOptions
from catalog.interfaces import RecordQuery
from catalog.models import Base, ResourceVersion
from catalog.records.sql import SqlRecordStore
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.services import users
from catalog.services.departments import ensure_licenses
from catalog.services.export_jobs import plan_export, request_export_job, run_export_job
from catalog.services.harvest import SourceValues, create_source, request_job
from catalog.services.search import add_synonyms
from catalog.services.upload_confirm import Confirmation, confirm_upload
from catalog.services.upload_files import IncomingFile
from catalog.services.uploads import Uploads, stage_upload
from catalog.storage.local import LocalObjectStore
from catalog.vocab import Role
from harvesters.specs import check_spec
from portal.indexing import drain
from portal.settings import Settings
from tests import factories

READS = frozenset({"GET", "HEAD"})
# A hidden object may be refused in these ways, provided its twin is refused alike (409 is
# the Action API's Validation Error).
REFUSALS = frozenset({400, 401, 403, 404, 405, 409, 415, 422})
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+')
ARGUMENT = re.compile(r"<(?:[^<>]*:)?(\w+)>")


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """How the walk fills a rule: what its arguments name, and what its writes send."""

    # dataset; harvest_source, harvest_job, export_job, token (the owning department's);
    # department, synonym (public objects); nothing (a list); action (the Action API's)
    names: str
    data: bool = False  # fetches data: refused for the 有条件开放 dataset
    body: dict | bytes | None = None  # sent by POST and PATCH: JSON, or a file's bytes
    query: str = ""


HIDDEN_SLUG = "hidden-roster"
STAGED = {"token": "x" * 40}  # a staged upload's token: the callers never staged one
# Valid but for who sends it: it must not tell that the slug is taken.
NEW_DATASET = {"slug": HIDDEN_SLUG, "title": "新数据集", "department": "owner"}
NEW_DATASET |= {"open_type": "unconditional", "share_type": "unconditional"}
ROUTES = {
    # REST v1: datasets, their resources, files, versions, uploads, records and grants
    "/api/v1/datasets": Route("nothing", body=NEW_DATASET),
    "/api/v1/datasets/suggest": Route("nothing"),
    "/api/v1/datasets/<slug>": Route("dataset", body={"title": "改名"}),
    "/api/v1/datasets/<slug>/resources": Route("dataset", body=STAGED),
    "/api/v1/datasets/<slug>/resources/<resource_id>": Route("dataset", body={"name": "改名"}),
    "/api/v1/datasets/<slug>/resources/<resource_id>/download": Route("dataset", data=True),
    "/api/v1/datasets/<slug>/resources/<resource_id>/records": Route("dataset", data=True),
    "/api/v1/datasets/<slug>/resources/<resource_id>/records/counts": Route(
        "dataset", data=True, query="field=name"
    ),
    "/api/v1/datasets/<slug>/resources/<resource_id>/records/export": Route("dataset", data=True),
    # GET lists the versions (without links or checksums to those who may not fetch
    # them); POST confirms a new one.
    "/api/v1/datasets/<slug>/resources/<resource_id>/versions": Route("dataset", body=STAGED),
    "/api/v1/datasets/<slug>/resources/<resource_id>/versions/<int:version>/download": Route(
        "dataset", data=True
    ),
    "/api/v1/datasets/<slug>/uploads": Route(
        "dataset", body=b"name\nnew\n", query="file_name=new.csv"
    ),
    "/api/v1/datasets/<slug>/uploads/multipart": Route(
        "dataset", body={"file_name": "new.csv", "size": 10, "parts": 1}
    ),
    "/api/v1/datasets/<slug>/uploads/multipart/<upload>": Route("dataset"),
    "/api/v1/datasets/<slug>/uploads/multipart/<upload>/complete": Route(
        "dataset", body={"parts": [{"number": 1, "etag": "x"}]}
    ),
    "/api/v1/datasets/<slug>/grants": Route("dataset", body={"department": "other"}),
    "/api/v1/datasets/<slug>/grants/<uuid:grant_id>": Route("dataset"),
    "/api/v1/export-jobs/<uuid:job_id>": Route("export_job"),
    "/api/v1/export-jobs/<uuid:job_id>/download": Route("export_job", data=True),
    # REST v1: departments, harvests, vocabularies, statistics, tokens
    "/api/v1/departments": Route("nothing"),
    "/api/v1/departments/<slug>": Route("department"),
    "/api/v1/departments/<slug>/harvest-sources": Route(
        "department", body={"name": "新采集源", "kind": "ckan", "url": "https://new.example.org"}
    ),
    "/api/v1/harvest-sources/<uuid:source_id>": Route("harvest_source", body={"name": "改名"}),
    "/api/v1/harvest-sources/<uuid:source_id>/jobs": Route("harvest_source"),
    "/api/v1/harvest-jobs/<uuid:job_id>": Route("harvest_job"),
    "/api/v1/harvest-jobs/<uuid:job_id>/cancel": Route("harvest_job"),
    "/api/v1/harvest-jobs/<uuid:job_id>/errors": Route("harvest_job"),
    "/api/v1/licenses": Route("nothing"),
    "/api/v1/themes": Route("nothing"),
    "/api/v1/statistics": Route("nothing"),
    "/api/v1/synonyms": Route("nothing", body={"terms": ["机密", "保密"]}),
    "/api/v1/synonyms/<int(max=2147483647):synonym_id>": Route("synonym"),
    "/api/v1/tokens": Route("nothing", body={"user": "owner-editor"}),
    "/api/v1/tokens/<token_id>": Route("token"),
    # The CKAN-compatible Action API: its actions take ids as parameters.
    "/api/3/action/<logic_function>": Route("action"),
    "/api/action/<logic_function>": Route("action"),
    # DCAT and data.json
    "/catalog": Route("nothing"),
    "/catalog.<any(ttl, rdf, jsonld):extension>": Route("nothing"),
    "/data.json": Route("nothing"),
    "/dataset/<slug>": Route("dataset"),
    "/dataset/<slug>.<any(ttl, rdf, jsonld):extension>": Route("dataset"),
    # Portal pages
    "/": Route("nothing"),
    "/datasets": Route("nothing"),
    "/datasets/<slug>": Route("dataset"),
    "/datasets/<slug>/upload": Route("dataset"),
    "/datasets/<slug>/upload/confirm": Route("dataset"),
    "/departments": Route("nothing"),
    "/departments/<slug>": Route("department"),
    "/login": Route("nothing", body={"name": "owner-editor", "password": "wrong"}),
    "/logout": Route("nothing"),
}
EXEMPT = {
    "/static/<path:filename>": "the portal's CSS, scripts and images: no catalog object",
    "/api/v1/docs": "the API documentation page: static text",
    "/api/v1/openapi.json": "the OpenAPI document: describes routes, holds no catalog data",
}
ARGUMENT_OF = {
    "harvest_source": "source_id",
    "harvest_job": "job_id",
    "export_job": "job_id",
    "token": "token_id",
    "synonym": "synonym_id",
}
PUBLIC = frozenset({"department", "synonym", "nothing"})
DATA_ACTIONS = frozenset({"datastore_search"})


def _case(rule: str, subject: str, case_id: str = ""):
    return pytest.param(rule, subject, id=case_id or f"{rule}-{subject}")


SUBJECTS = ("hidden", "draft", "conditional")
# A rule naming a dataset is walked with each; any other once, named by the rule alone.
RULE_CASES = [
    _case(rule, subject) if route.names == "dataset" else _case(rule, "hidden", rule)
    for rule, route in ROUTES.items()
    if route.names != "action"
    for subject in (SUBJECTS if route.names == "dataset" else ("hidden",))
]
ACTION_CASES = [_case(name, subject) for name in ACTIONS for subject in SUBJECTS]


# --- the world -------------------------------------------------------------------------------


@dataclass
class Subject:
    """A dataset of the owning department, its stored CSV file and what must not leak."""

    slug: str
    dataset_id: str
    resource_id: str
    grant_id: str
    title: str
    tag: str
    secrets: dict[str, str]  # its data, by what it is: rows, checksums, keys, file links


@dataclass
class Caller:
    client: Any
    headers: dict[str, str]
    csrf_token: str


@dataclass
class World:
    backends: Backends
    objects_root: Path
    rules: dict[str, tuple[set[str], bool]]  # rule -> the methods it allows, is it a page
    callers: dict[str, Caller]
    subjects: dict[str, Subject]
    objects: dict[str, str]  # route names -> id of the owning department's hidden object
    twins: dict[str, str]  # every hidden identifier -> an absent one of the same shape
    hidden: dict[str, str]  # what no caller here may read of the hidden objects
    data: dict[str, str]  # the 有条件开放 dataset's data
    state: tuple = ()  # what is stored, as the last call left it


def _store(session, uploads, actor, slug: str, content: bytes, resource_id=None):
    def receive():
        return IncomingFile(io.BytesIO(content), "名册.csv", "text/csv")

    token = stage_upload(session, actor, uploads, slug, receive).token
    confirmed = confirm_upload(session, actor, uploads, slug, Confirmation(token), resource_id)
    return confirmed.resource


def _subject(session, uploads, editor, owner, key, slug, title, **kinds) -> Subject:
    tag = f"tag-{key}"
    dataset = factories.make_dataset(session, owner, slug=slug, title=title, tags=[tag], **kinds)
    grant = factories.grant_to_department(session, dataset, factories.make_department(session))
    csv = "name,count\n" + "".join(f"ROW-{key}-{n},{n}\n" for n in range(3))
    resource = _store(session, uploads, editor, slug, csv.encode())
    _store(session, uploads, editor, slug, (csv + f"ROW-{key}-3,3\n").encode(), resource.id)
    secrets = {f"{key} rows": f"ROW-{key}-", f"{key} file link": f"{resource.id}/download"}
    secrets[f"{key} version links"] = f"{resource.id}/versions/"
    for v in session.scalars(select(ResourceVersion).filter_by(resource_id=resource.id)):
        secrets[f"{key} v{v.version} sha256"] = v.sha256
        secrets[f"{key} v{v.version} key"] = v.storage_key
    return Subject(slug, dataset.id, resource.id, grant.id, title, tag, secrets)


def _absent_like(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        return "x" * len(value)
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def world(database_engine, tmp_path_factory) -> World:
    """The world, built once per database: the walk only reads it, or must."""
    folder = tmp_path_factory.mktemp("walk")
    with database_engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    backends = Backends(
        engine=database_engine,
        sessions=session_factory(database_engine),
        object_store=LocalObjectStore(folder / "objects"),
        catalog_index=SqliteCatalogIndex(folder / "search.db"),
        record_store=SqlRecordStore(database_engine),
    )
    backends.catalog_index.ensure()
    settings = Settings.load(
        environ={},
        overrides={
            "instance_path": str(folder / "instance"),
            "database_url": database_engine.url.render_as_string(hide_password=False),
            "storage_url": (folder / "objects").as_uri(),
            "search_url": f"sqlite:///{folder / 'search.db'}",
            "secret_key": "test-secret-key",
            "rate_limit": "1000000/minute",  # the walk sends thousands of requests
        },
        testing=True,
    )
    from portal.app import create_app

    app = create_app(settings, backends)
    with backends.sessions() as session:
        ensure_licenses(session)
        session.commit()
        world = _populate(session, backends, app, settings)
    drain(backends)  # lists and search answer from the index: the hidden must be in it
    world.state = stored_state(world)
    return world


def _populate(session, backends, app, settings) -> World:
    owner = factories.make_department(session, slug="owner", name="数据所有部门")
    other = factories.make_department(session, slug="other", name="其他部门")
    steward = factories.make_user(session, "owner-editor", department=owner, role=Role.EDITOR)
    public = factories.make_user(session, name="public-user")
    outsider = factories.make_user(session, "outsider", department=other, role=Role.ADMIN)
    editor = users.actor_for_user(session, steward)
    uploads = Uploads(
        backends.object_store,
        backends.record_store,
        app.extensions[LOADER],
        settings.secret_key,
        settings.max_upload_bytes,
    )
    subjects = {
        "hidden": _subject(
            session, uploads, editor, owner, "HID", HIDDEN_SLUG, "机密人员名册",
            open_type="not_open", share_type="not_shared",
        ),
        "draft": _subject(
            session, uploads, editor, owner, "DRF", "draft-roster", "草稿人员名册", state="draft"
        ),
        "conditional": _subject(
            session, uploads, editor, owner, "CND", "conditional-roster", "申请开放的名册",
            open_type="conditional", share_type="conditional",
        ),
    }  # fmt: skip
    source = create_source(
        session,
        editor,
        "owner",
        SourceValues(name="机密采集源", kind="ckan", url="https://hidden-source.example.org"),
        check_spec,
    )
    harvest_job = request_job(session, editor, source.id)
    plan = plan_export(
        session, backends.record_store, editor, HIDDEN_SLUG, subjects["hidden"].resource_id,
        RecordQuery(), export_format="csv", max_direct_rows=1, as_job=True,
    )  # fmt: skip
    export_job, _new = request_export_job(
        session, editor, plan, RecordQuery(), export_format="csv", options=ExportOptions()
    )
    run_export_job(backends, export_job.id)
    token, _text = users.create_token(session, factories.SYSTEM, steward)
    objects = {
        "harvest_source": source.id,
        "harvest_job": harvest_job.id,
        "export_job": export_job.id,
        "token": token.id,
    }
    hidden = {"source name": source.name, "source url": source.url, "token": token.prefix}
    hidden |= {f"{name} id": object_id for name, object_id in objects.items()}
    for key in ("hidden", "draft"):
        found = subjects[key]
        hidden |= {f"{key} title": found.title, f"{key} slug": found.slug, f"{key} tag": found.tag}
        hidden |= {f"{key} id": found.dataset_id, f"{key} resource id": found.resource_id}
        hidden |= {f"{key} grant id": found.grant_id, **found.secrets}
    identifiers = [*objects.values()] + [
        getattr(subjects[key], name)
        for key in ("hidden", "draft")
        for name in ("slug", "dataset_id", "resource_id", "grant_id")
    ]
    # The synonym list is public: a set of it is no secret, only sysadmins change it.
    objects["synonym"] = str(add_synonyms(session, factories.SYSTEM, ["名册", "名录"]).id)
    return World(
        backends=backends,
        objects_root=backends.object_store.root,
        rules=_rules(app),
        callers={
            "anonymous": _caller(app, {}),
            "public": _caller(app, factories.bearer(factories.token_for(session, public))),
            "outsider": _caller(app, factories.bearer(factories.token_for(session, outsider))),
            "outsider-session": _caller(app, {}, outsider.id),
        },
        subjects=subjects,
        objects=objects,
        twins={value: _absent_like(value) for value in identifiers},
        hidden=hidden,
        data=subjects["conditional"].secrets,
    )


def _caller(app, headers: dict[str, str], session_user: str | None = None) -> Caller:
    client = app.test_client()
    if session_user is not None:
        with client.session_transaction() as cookie:
            cookie[SESSION_USER_KEY] = session_user
    login = client.get("/login").get_data(as_text=True)
    return Caller(client, headers, CSRF_FIELD.search(login).group(1))


def _rules(app) -> dict[str, tuple[set[str], bool]]:
    rules: dict[str, tuple[set[str], bool]] = {}
    for rule in app.url_map.iter_rules():
        methods, page = rules.get(rule.rule, (set(), False))
        methods |= set(rule.methods or ()) - {"OPTIONS"}
        rules[rule.rule] = (methods, page or rule.endpoint.startswith("pages."))
    return rules


# --- sending and judging ---------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    caller: str
    method: str
    path: str
    body: Any = None
    form: bool = False  # a page: the body is a form, with the caller's CSRF token

    def __str__(self) -> str:
        sent = f" {self.body!r}"[:80] if self.body is not None else ""
        return f"{self.caller}: {self.method} {self.path[:110]}{sent}"


def send(world: World, call: Call):
    caller = world.callers[call.caller]
    options: dict[str, Any] = {"method": call.method, "headers": caller.headers}
    if call.form and call.method not in READS:
        options["data"] = {"csrf_token": caller.csrf_token, **(call.body or {})}
    elif isinstance(call.body, bytes):
        options |= {"data": call.body, "content_type": "text/csv"}
    elif call.body is not None:
        options["json"] = call.body
    return caller.client.open(call.path, **options)


def swap(world: World, text: str) -> str:
    """The text with every hidden identifier in it replaced by its absent twin."""
    for value, twin in world.twins.items():
        text = text.replace(value, twin)
    return text


def twin_of(world: World, call: Call) -> Call:
    body = call.body
    if isinstance(body, dict):
        body = json.loads(swap(world, json.dumps(body, ensure_ascii=False)))
    return Call(call.caller, call.method, swap(world, call.path), body, call.form)


ROW_QUERIES = [
    select(*(c for c in table.columns if c.name != "last_used_at"))
    for table in Base.metadata.sorted_tables
]


def stored_state(world: World) -> tuple:
    """Every catalog row (but when tokens were last used), the records of the datasets' files
    and the object store's keys: what a refused request must leave as it was."""
    with world.backends.engine.connect() as connection:
        rows = [sorted(map(repr, connection.execute(query))) for query in ROW_QUERIES]
    records = [
        world.backends.record_store.query(s.resource_id, RecordQuery(limit=1)).total
        for s in world.subjects.values()
    ]
    return rows, records, sorted(map(str, world.objects_root.rglob("*")))


def _seen(response, world: World | None = None) -> tuple:
    """What a caller can tell of an answer, with the hidden identifiers swapped for their
    twins when ``world`` is given, to compare it with the answer to absent ones."""
    change = (lambda text: swap(world, text)) if world else (lambda text: text)
    body = change(CSRF_VALUE.sub(r"\1", response.get_data(as_text=True)))
    names = ("Content-Type", "Content-Length", "Location", "WWW-Authenticate")
    return response.status_code, [change(response.headers.get(n, "")) for n in names], body


def _forms(secret: str) -> tuple[str, ...]:
    return secret, json.dumps(secret)[1:-1], quote(secret), quote(secret, safe="")


def named(world: World, call: Call, response) -> list[str]:
    """What the answer's body or headers give away of the hidden objects and the
    conditional data, plainly or escaped. What the request itself carries is no secret to
    its caller: a page's login link or search box may repeat it."""
    sent = f"{call.path} {call.body!r}"
    text = response.get_data(as_text=True) + str(response.headers)
    return [
        what
        for what, secret in (world.hidden | world.data).items()
        if not any(form in sent for form in _forms(secret))
        and any(form in text for form in _forms(secret))
    ]


def _judged(world: World, call: Call, wrong: list[str], response) -> list[str]:
    if secrets := named(world, call, response):
        wrong.append(f"gives away {', '.join(secrets)}")
    # One call's state after is the next one's before: the calls are all that write.
    before, world.state = world.state, stored_state(world)
    if world.state != before:
        wrong.append("changed what is stored")
    excerpt = f"{response.status_code} {response.get_data(as_text=True)[:160]!r}"
    return [f"{call}: {'; '.join(wrong)} -> {excerpt}"] if wrong else []


def judge_hidden(world: World, call: Call, allowed) -> list[str]:
    """A hidden object answers as an absent one does, with a refusal, naming nothing."""
    response = send(world, call)
    twin = send(world, twin_of(world, call))
    wrong = []
    if response.status_code not in allowed:
        wrong.append(f"answered {response.status_code}")
    elif _seen(response, world) != _seen(twin):
        wrong.append(f"unlike absent ones ({twin.status_code} {twin.get_data()[:160]!r})")
    return _judged(world, call, wrong, response)


def judge_visible(world: World, call: Call, refuse: bool) -> list[str]:
    """An answer about what the caller may see (a list, a department, the 有条件开放
    dataset) names nothing hidden and no conditional data; with ``refuse`` (a write, a data
    path) it is a refusal."""
    response = send(world, call)
    wrong = []
    if refuse and not 400 <= response.status_code < 500:
        wrong.append(f"not refused: {response.status_code}")
    elif response.status_code >= 500:
        wrong.append(f"failed: {response.status_code}")
    return _judged(world, call, wrong, response)


def _report(wrong: list[str], calls: int) -> str:
    return f"{len(wrong)} of {calls} calls went wrong:\n  " + "\n  ".join(wrong)


# --- the walk --------------------------------------------------------------------------------


def _fill(rule: str, values: dict[str, str]) -> str:
    return ARGUMENT.sub(lambda match: values[match.group(1)], rule)


def _paths(world: World, rule: str, route: Route, subject: Subject) -> list[str]:
    values = {"slug": subject.slug, "resource_id": subject.resource_id, "version": "1"}
    values |= {"grant_id": subject.grant_id, "upload": "no-such-upload"}
    if route.names == "department":
        values["slug"] = "owner"
    if route.names in ARGUMENT_OF:
        values[ARGUMENT_OF[route.names]] = world.objects[route.names]
    extensions = ("ttl", "rdf", "jsonld") if "<any(" in rule else ("",)
    paths = [_fill(rule, {**values, "extension": extension}) for extension in extensions]
    if route.query:
        return [f"{path}?{route.query}" for path in paths]
    if route.names == "nothing":  # a list is also searched for the hidden title
        return paths + [f"{path}?{urlencode({'q': subject.title})}" for path in paths]
    return paths


def test_every_rule_is_walked(world):
    rules, listed = set(world.rules), set(ROUTES) | set(EXEMPT)
    assert sorted(rules - listed) == [], "add these routes to ROUTES, or to EXEMPT with why"
    assert sorted(listed - rules) == [], "these routes are gone: drop them here"


@pytest.mark.parametrize(("rule", "subject"), RULE_CASES)
def test_every_route_hides_what_the_caller_may_not_see(world, rule, subject):
    route, (methods, page) = ROUTES[rule], world.rules[rule]
    target = world.subjects[subject]
    # Logging the session caller out would end its session for the calls after.
    form = page and rule != "/logout"
    wrong, calls = [], 0
    for caller in world.callers:
        for method in sorted(methods):
            body = route.body if method in ("POST", "PATCH") else None
            for path in _paths(world, rule, route, target):
                call = Call(caller, method, path, body, form)
                calls += 1
                if subject == "conditional":
                    refuse = route.data or method not in READS
                    wrong += judge_visible(world, call, refuse)
                elif route.names in PUBLIC and method in READS:
                    wrong += judge_visible(world, call, refuse=False)
                elif route.names in PUBLIC:
                    # A write on a public route (a login, a dataset for the owning
                    # department) answers alike for hidden and absent names.
                    wrong += judge_hidden(world, call, allowed=range(200, 500))
                else:
                    wrong += judge_hidden(world, call, allowed=REFUSALS)
    assert not wrong, _report(wrong, calls)


@pytest.mark.parametrize(("name", "subject"), ACTION_CASES)
def test_every_action_hides_what_the_caller_may_not_see(world, name, subject):
    target = world.subjects[subject]
    wrong, calls = [], 0
    # Both Action API rules: one with the dataset's slug as the id, one with its file's id.
    for rule, identifier in (("/api/3/action/", target.slug), ("/api/action/", target.resource_id)):
        params = {
            "id": identifier,
            "name": target.slug,
            "package_id": target.slug,
            "resource_id": target.resource_id,
            "owner_org": "owner",
            "private": "true",
            "title": "改名",
            "q": target.title,
            "url": "https://example.org/new.csv",
        }
        for caller in world.callers:
            for call in (
                Call(caller, "GET", f"{rule}{name}?{urlencode(params)}"),
                Call(caller, "POST", f"{rule}{name}", params),
            ):
                calls += 1
                if subject == "conditional":
                    refuse = name in DATA_ACTIONS or not ACTIONS[name].side_effect_free
                    wrong += judge_visible(world, call, refuse)
                else:
                    # Lists, searches and help answer 200 alike for hidden and absent names.
                    wrong += judge_hidden(world, call, allowed=REFUSALS | {200})
    assert not wrong, _report(wrong, calls)
