"""The world that test_policy_every_route walks, and what each of its callers may have of it.

The owning department ("owner") holds six datasets (the subjects), each with a CSV file
stored twice (two versions, its records loaded), filed under one theme, with a tag of its
own and a grant to a department no caller belongs to; its harvest source and job, an
export job and an API token of its editor. The callers: anonymous, a logged-in public user,
an admin of another department (the strongest outsider) by token and again by session
cookie, and a member of a third department ("lapsed"). The grants the callers hold open
nothing: they have run out, or lie on datasets not published or on data the rules keep
from the grantee.

What a caller may have of a subject follows catalog/policy.py's table, written out here
again rather than asked of the policy, so a wrong policy cannot agree with itself.
"""

import io
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from api.context import SESSION_USER_KEY
from api.uploads.resources import LOADER
from catalog.backends import Backends
from catalog.db import session_factory
from catalog.exports import ExportOptions
from catalog.filters import DATASET_FILTERS
from catalog.interfaces import RecordQuery
from catalog.models import Base, Dataset, ResourceVersion
from catalog.records.sql import SqlRecordStore
from catalog.search.documents import dataset_document
from catalog.search.sqlite import SqliteCatalogIndex
from catalog.services import users
from catalog.services.datasets import withdraw_dataset
from catalog.services.departments import create_theme, ensure_licenses
from catalog.services.export_jobs import plan_export, request_export_job, run_export_job
from catalog.services.harvest import SourceValues, create_source, request_job
from catalog.services.search import add_synonyms
from catalog.services.upload_confirm import Confirmation, confirm_upload
from catalog.services.upload_files import IncomingFile
from catalog.services.uploads import Uploads, stage_upload
from catalog.storage.local import LocalObjectStore
from catalog.vocab import Role
from harvesters.specs import check_spec
from portal.settings import Settings
from tests import factories

# What a caller may have of a dataset: nothing (it answers as an absent one), its
# metadata, or its metadata and data.
ABSENT, METADATA, DATA = "absent", "metadata", "data"
HIDDEN_SLUG = "hidden-roster"
TITLE_WORD = "名册"  # every subject's title holds it
OWNER = "owner"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass(frozen=True)
class Kind:
    """A subject as it is made, and what the public and other departments may have of it."""

    key: str  # marks its rows and tag
    slug: str
    title: str
    public: str
    government: str
    open_type: str = "unconditional"
    share_type: str = "unconditional"
    state: str = "published"
    withdrawn: bool = False  # published, then withdrawn

    def level(self, government: bool) -> str:
        return self.government if government else self.public


KINDS = {
    "hidden": Kind("HID", HIDDEN_SLUG, "机密人员名册", ABSENT, ABSENT, "not_open", "not_shared"),
    "draft": Kind("DRF", "draft-roster", "草稿人员名册", ABSENT, ABSENT, state="draft"),
    # Open and shared without condition while it was published.
    "withdrawn": Kind("WDR", "withdrawn-roster", "已撤回的名册", ABSENT, ABSENT, withdrawn=True),
    "conditional": Kind(
        "CND", "conditional-roster", "申请开放的名册", METADATA, METADATA,
        "conditional", "conditional",
    ),
    "shared": Kind(
        "SHR", "shared-roster", "部门间共享的名册", ABSENT, DATA, "not_open", "unconditional"
    ),
    "on-request": Kind(
        "REQ", "on-request-roster", "申请共享的名册", ABSENT, METADATA, "not_open", "conditional"
    ),
}  # fmt: skip
# The owning department's objects other than datasets, by the route names that name them.
OWNED = ("harvest_source", "harvest_job", "export_job", "token")


@dataclass
class Subject:
    """A dataset of the owning department, its stored CSV file and what may not leak."""

    kind: Kind
    dataset_id: str
    resource_id: str
    grant_id: str
    facets: dict[str, list[str]]  # filter param -> its values, as the search index holds them
    metadata: dict[str, str]  # what seeing it tells: title, slug, tag, ids
    data: dict[str, str]  # its data, by what it is: rows, checksums, keys, file links

    @property
    def slug(self) -> str:
        return self.kind.slug

    @property
    def title(self) -> str:
        return self.kind.title

    @property
    def tag(self) -> str:
        return self.metadata[f"{self.kind.key} tag"]

    def identifiers(self) -> list[str]:
        return [self.slug, self.dataset_id, self.resource_id, self.grant_id]


@dataclass
class Caller:
    client: Any
    headers: dict[str, str]
    csrf_token: str
    government: bool  # a member of a department: sees what is shared with departments


@dataclass
class World:
    backends: Backends
    objects_root: Path
    rules: dict[str, tuple[set[str], bool]]  # rule -> the methods it allows, is it a page
    callers: dict[str, Caller]
    subjects: dict[str, Subject]
    objects: dict[str, str]  # route names -> id of the owning department's hidden object
    theme: str  # the slug of the theme every subject is filed under
    facet_labels: dict[tuple[str, str], str]  # (filter param, value) -> its label on pages
    owned: dict[str, str]  # what no caller may read of the owner's other objects
    twins: dict[str, str]  # every identifier that may be hidden -> an absent one like it
    state: dict = field(default_factory=dict)  # what is stored, as the last call left it

    def level(self, subject: str, caller: str) -> str:
        return self.subjects[subject].kind.level(self.callers[caller].government)

    def seen_by(self, government: bool) -> list[Subject]:
        """The subjects whose metadata the public, or other departments, may see."""
        return [s for s in self.subjects.values() if s.kind.level(government) != ABSENT]

    def secrets(self, caller: str) -> dict[str, str]:
        """What the caller may not read: the owner's other objects, every grant, and of
        each subject what its level leaves out."""
        secrets = dict(self.owned)
        for key, subject in self.subjects.items():
            secrets[f"{subject.kind.key} grant id"] = subject.grant_id
            level = self.level(key, caller)
            if level == ABSENT:
                secrets |= subject.metadata
            if level != DATA:
                secrets |= subject.data
        return secrets

    def twins_of(self, caller: str) -> dict[str, str]:
        """Twins of the identifiers the caller may not know of."""
        hidden = {self.objects[name] for name in OWNED}
        for key, subject in self.subjects.items():
            if self.level(key, caller) == ABSENT:
                hidden.update(subject.identifiers())
        return {value: twin for value, twin in self.twins.items() if value in hidden}


def build_world(database_engine, folder: Path) -> World:
    """The world on an emptied database, with an app of its own on a fresh index and store."""
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
        return _populate(session, backends, app, settings)


def _populate(session, backends, app, settings) -> World:
    owner = factories.make_department(session, slug=OWNER, name="数据所有部门")
    other = factories.make_department(session, slug="other", name="其他部门")
    lapsed = factories.make_department(session, slug="lapsed", name="授权已过期的部门")
    steward = factories.make_user(session, "owner-editor", department=owner, role=Role.EDITOR)
    public = factories.make_user(session, name="public-user")
    outsider = factories.make_user(session, "outsider", department=other, role=Role.ADMIN)
    lapsed_member = factories.make_user(session, "lapsed-member", department=lapsed)
    editor = users.actor_for_user(session, steward)
    theme = create_theme(session, factories.SYSTEM, "rosters", "人员名册").slug
    uploads = Uploads(
        backends.object_store,
        backends.record_store,
        app.extensions[LOADER],
        settings.secret_key,
        settings.max_upload_bytes,
    )
    subjects = {
        key: _subject(session, uploads, editor, owner, kind, theme) for key, kind in KINDS.items()
    }
    _grants_that_open_nothing(session, subjects, public, lapsed_member, lapsed)
    objects, owned = _owned_objects(session, backends, editor, steward, subjects["hidden"])
    identifiers = [*objects.values()] + [i for s in subjects.values() for i in s.identifiers()]
    # The synonym list is public: a set of it is no secret, only sysadmins change it.
    objects["synonym"] = str(add_synonyms(session, factories.SYSTEM, ["名册", "名录"]).id)
    facet_labels = {
        (f.param, value): label
        for f in DATASET_FILTERS
        for value, label in f.value_labels(
            session, sorted({v for s in subjects.values() for v in s.facets[f.param]})
        ).items()
    }
    return World(
        backends=backends,
        objects_root=backends.object_store.root,
        rules=_rules(app),
        callers={
            "anonymous": _caller(app, {}, government=False),
            "public": _caller(app, _bearer(session, public), government=False),
            "outsider": _caller(app, _bearer(session, outsider), government=True),
            "outsider-session": _caller(app, {}, government=True, session_user=outsider.id),
            "lapsed": _caller(app, _bearer(session, lapsed_member), government=True),
        },
        subjects=subjects,
        objects=objects,
        theme=theme,
        facet_labels=facet_labels,
        owned=owned,
        twins={value: _absent_like(value) for value in identifiers},
    )


def _store(session, uploads, actor, slug: str, content: bytes, resource_id=None):
    def receive():
        return IncomingFile(io.BytesIO(content), "名册.csv", "text/csv")

    token = stage_upload(session, actor, uploads, slug, receive).token
    confirmed = confirm_upload(session, actor, uploads, slug, Confirmation(token), resource_id)
    return confirmed.resource


def _subject(session, uploads, editor, owner, kind: Kind, theme: str) -> Subject:
    key, tag = kind.key, f"tag-{kind.key}"
    dataset = factories.make_dataset(
        session, owner, slug=kind.slug, title=kind.title, tags=[tag], themes=[theme],
        open_type=kind.open_type, share_type=kind.share_type, state=kind.state,
    )  # fmt: skip
    grant = factories.grant_to_department(session, dataset, factories.make_department(session))
    csv = "name,count\n" + "".join(f"ROW-{key}-{n},{n}\n" for n in range(3))
    resource = _store(session, uploads, editor, kind.slug, csv.encode())
    _store(session, uploads, editor, kind.slug, (csv + f"ROW-{key}-3,3\n").encode(), resource.id)
    if kind.withdrawn:
        withdraw_dataset(session, editor, kind.slug)
    data = {f"{key} rows": f"ROW-{key}-", f"{key} file link": f"{resource.id}/download"}
    data[f"{key} version links"] = f"{resource.id}/versions/"
    for v in session.scalars(select(ResourceVersion).filter_by(resource_id=resource.id)):
        data[f"{key} v{v.version} sha256"] = v.sha256
        data[f"{key} v{v.version} key"] = v.storage_key
    metadata = {f"{key} title": kind.title, f"{key} slug": kind.slug, f"{key} tag": tag}
    metadata |= {f"{key} id": dataset.id, f"{key} resource id": resource.id}
    session.refresh(dataset)
    document = dataset_document(dataset)
    facets = {f.param: _values(document[f.field]) for f in DATASET_FILTERS}
    return Subject(kind, dataset.id, resource.id, grant.id, facets, metadata, data)


def _values(value) -> list[str]:
    return [v for v in (value if isinstance(value, list) else [value]) if v]


def _grants_that_open_nothing(session, subjects: dict[str, Subject], public, member, department):
    """Grants the callers hold, none of which opens anything: run out (to the member, on
    the 有条件开放 dataset; to its department, on the 不予开放 + 有条件共享 one), on
    datasets not published, or on data the rules keep from the grantee (有条件共享 data to
    a public user, 不予共享 data to anyone). The grant service refuses the last two kinds;
    rows of them written before it did must still open nothing."""

    def dataset(key: str) -> Dataset:
        return session.get(Dataset, subjects[key].dataset_id)

    factories.grant_to_user(session, dataset("conditional"), member, days=-1)
    factories.grant_to_department(session, dataset("on-request"), department, days=-1)
    for key in ("draft", "withdrawn", "hidden"):
        factories.grant_to_department(session, dataset(key), department)
    factories.grant_to_user(session, dataset("on-request"), public)


def _owned_objects(session, backends, editor, steward, hidden: Subject):
    """The owning department's harvest source and job, export job and API token: their ids
    by route name, and what no caller may read of them."""
    source = create_source(
        session,
        editor,
        OWNER,
        SourceValues(name="机密采集源", kind="ckan", url="https://hidden-source.example.org"),
        check_spec,
    )
    harvest_job = request_job(session, editor, source.id)
    plan = plan_export(
        session, backends.record_store, editor, hidden.slug, hidden.resource_id,
        RecordQuery(), export_format="csv", max_direct_rows=1, as_job=True,
    )  # fmt: skip
    export_job, _new = request_export_job(
        session, editor, plan, RecordQuery(), export_format="csv", options=ExportOptions()
    )
    run_export_job(backends, export_job.id)
    token, _text = users.create_token(session, factories.SYSTEM, steward)
    objects = dict(zip(OWNED, (source.id, harvest_job.id, export_job.id, token.id), strict=True))
    owned = {"source name": source.name, "source url": source.url, "token": token.prefix}
    return objects, owned | {f"{name} id": object_id for name, object_id in objects.items()}


def _bearer(session, user) -> dict[str, str]:
    return factories.bearer(factories.token_for(session, user))


def _caller(app, headers, *, government: bool, session_user: str | None = None) -> Caller:
    client = app.test_client()
    if session_user is not None:
        with client.session_transaction() as cookie:
            cookie[SESSION_USER_KEY] = session_user
    login = client.get("/login").get_data(as_text=True)
    return Caller(client, headers, CSRF_FIELD.search(login).group(1), government)


def _rules(app) -> dict[str, tuple[set[str], bool]]:
    rules: dict[str, tuple[set[str], bool]] = {}
    for rule in app.url_map.iter_rules():
        methods, page = rules.get(rule.rule, (set(), False))
        methods |= set(rule.methods or ()) - {"OPTIONS"}
        rules[rule.rule] = (methods, page or rule.endpoint.startswith("pages."))
    return rules


def _absent_like(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        return "x" * len(value)
    return str(uuid.uuid4())


ROW_QUERIES = {
    table.name: select(*(c for c in table.columns if c.name != "last_used_at"))
    for table in Base.metadata.sorted_tables
}


def stored_state(world: World) -> dict[str, Any]:
    """Every catalog row by table (but when tokens were last used), the records of the
    datasets' files and the object store's keys: what a refused request must leave as it
    was."""
    with world.backends.engine.connect() as connection:
        state: dict[str, Any] = {
            name: sorted(map(repr, connection.execute(query)))
            for name, query in ROW_QUERIES.items()
        }
    state["records"] = [
        world.backends.record_store.query(s.resource_id, RecordQuery(limit=1)).total
        for s in world.subjects.values()
    ]
    state["objects"] = sorted(map(str, world.objects_root.rglob("*")))
    return state
