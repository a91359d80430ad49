"""Every route asks the access policy: a walk over the app's url_map with hidden objects.

The world (policy_walk_world) holds six datasets of one department: 不予开放 + 不予共享, a
draft, a withdrawn one, 有条件开放 + 有条件共享, 不予开放 + 无条件共享 and 不予开放 +
有条件共享, each with files, records and a grant, and the department's other objects. Each
caller, the public and other departments' members alike, may have of each dataset nothing,
its metadata, or its data too, as the policy's table says: no grant a caller holds opens
anything (they ran out, or lie where the rules leave nothing to grants).

For a rule whose arguments name a dataset the caller may not know of, or another hidden
object, each method it allows is sent with the object's identifiers and again with absent
ones of the same length (the "twin"): a hidden object must look exactly like one that does
not exist, so both get the same refusal. A dataset the caller may only see refuses its data
paths; every dataset refuses the caller's writes. No answer may name what the caller may not
have, and nothing stored may change but what a permitted download counts. Rules without
object arguments must not list anything hidden. The searches (REST, the portal's page,
package_search), with filters that select the hidden datasets, neither list nor count them,
and no department, theme or catalog figure counts them. Every rule is in ROUTES or EXEMPT
(test_every_rule_is_walked), so a new route fails until it joins the walk.
"""

import html
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest

import api.ckan.resources  # noqa: F401 - importing it registers the Action API's actions
from api.ckan.registry import ACTIONS
from api.ckan.search import CKAN_FILTERS
from catalog.filters import DATASET_FILTERS
from catalog.vocab import OpenType
from portal.indexing import drain
from tests.functional.policy_walk_world import (
    ABSENT,
    DATA,
    HIDDEN_SLUG,
    KINDS,
    METADATA,
    OWNER,
    TITLE_WORD,
    Subject,
    World,
    build_world,
    stored_state,
)

READS = frozenset({"GET", "HEAD"})
# A hidden object may be refused in these ways, provided its twin is refused alike (409 is
# the Action API's Validation Error).
REFUSALS = frozenset({400, 401, 403, 404, 405, 409, 415, 422})
CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+')
ARGUMENT = re.compile(r"<(?:[^<>]*:)?(\w+)>")
# What a download the caller may make writes: its audit event, its count and the search
# index's refresh of the dataset's download total.
DOWNLOAD_WRITES = frozenset({"audit_events", "download_counts", "search_outbox"})


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """How the walk fills a rule: what its arguments name, and what its writes send."""

    # dataset; harvest_source, harvest_job, export_job, token (the owning department's);
    # department, synonym (public objects); nothing (a list); action (the Action API's)
    names: str
    data: bool = False  # fetches data: refused to those who may only see the metadata
    body: dict | bytes | None = None  # sent by POST and PATCH: JSON, or a file's bytes
    query: str = ""


STAGED = {"token": "x" * 40}  # a staged upload's token: the callers never staged one
# Valid but for who sends it: it must not tell that the slug is taken.
NEW_DATASET = {"slug": HIDDEN_SLUG, "title": "新数据集", "department": OWNER}
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


SUBJECTS = tuple(KINDS)
# A rule naming a dataset is walked with each; any other once, named by the rule alone.
RULE_CASES = [
    _case(rule, subject) if route.names == "dataset" else _case(rule, "hidden", rule)
    for rule, route in ROUTES.items()
    if route.names != "action"
    for subject in (SUBJECTS if route.names == "dataset" else ("hidden",))
]
ACTION_CASES = [_case(name, subject) for name in ACTIONS for subject in SUBJECTS]


@pytest.fixture(scope="module")
def world(database_engine, tmp_path_factory) -> World:
    """The world, built once per database: the walk only reads it, or must."""
    world = build_world(database_engine, tmp_path_factory.mktemp("walk"))
    drain(world.backends)  # lists and search answer from the index: the hidden must be in it
    world.state = stored_state(world)
    return world


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


def swap(world: World, caller: str, text: str) -> str:
    """The text with every identifier hidden from the caller replaced by its absent twin."""
    for value, twin in world.twins_of(caller).items():
        text = text.replace(value, twin)
    return text


def twin_of(world: World, call: Call) -> Call:
    body = call.body
    if isinstance(body, dict):
        body = json.loads(swap(world, call.caller, json.dumps(body, ensure_ascii=False)))
    path = swap(world, call.caller, call.path)
    return Call(call.caller, call.method, path, body, call.form)


def _seen(response, world: World | None = None, caller: str = "") -> tuple:
    """What a caller can tell of an answer, with the identifiers hidden from them swapped
    for their twins when ``world`` is given, to compare it with the answer to absent ones."""
    change = (lambda text: swap(world, caller, text)) if world else (lambda text: text)
    body = change(CSRF_VALUE.sub(r"\1", response.get_data(as_text=True)))
    names = ("Content-Type", "Content-Length", "Location", "WWW-Authenticate")
    return response.status_code, [change(response.headers.get(n, "")) for n in names], body


def _forms(secret: str) -> tuple[str, ...]:
    return secret, json.dumps(secret)[1:-1], quote(secret), quote(secret, safe="")


def named(world: World, call: Call, response) -> list[str]:
    """What the answer's body or headers give away of what the caller may not have, plainly
    or escaped. What the request itself carries is no secret to its caller: a page's login
    link or search box may repeat it."""
    sent = f"{call.path} {call.body!r}"
    text = response.get_data(as_text=True) + str(response.headers)
    return [
        what
        for what, secret in world.secrets(call.caller).items()
        if not any(form in sent for form in _forms(secret))
        and any(form in text for form in _forms(secret))
    ]


def _judged(world: World, call: Call, wrong: list[str], response, may_write=frozenset()):
    if secrets := named(world, call, response):
        wrong.append(f"gives away {', '.join(secrets)}")
    # One call's state after is the next one's before: the calls are all that write.
    before, world.state = world.state, stored_state(world)
    changed = [name for name in before if before[name] != world.state[name]]
    if set(changed) - may_write:
        wrong.append(f"changed what is stored ({', '.join(changed)})")
    excerpt = f"{response.status_code} {response.get_data(as_text=True)[:160]!r}"
    return [f"{call}: {'; '.join(wrong)} -> {excerpt}"] if wrong else []


def judge_hidden(world: World, call: Call, allowed) -> list[str]:
    """A hidden object answers as an absent one does, with a refusal, naming nothing."""
    response = send(world, call)
    twin = send(world, twin_of(world, call))
    wrong = []
    if response.status_code not in allowed:
        wrong.append(f"answered {response.status_code}")
    elif _seen(response, world, call.caller) != _seen(twin):
        wrong.append(f"unlike absent ones ({twin.status_code} {twin.get_data()[:160]!r})")
    return _judged(world, call, wrong, response)


def judge_visible(world: World, call: Call, refuse: bool, fetches: bool = False) -> list[str]:
    """An answer about what the caller may see (a list, a department, a dataset) names
    nothing the caller may not have; with ``refuse`` (a write, a data path of a dataset
    whose data the caller may not fetch) it is a refusal. A download the caller may make
    (``fetches``) may count itself."""
    response = send(world, call)
    wrong = []
    if refuse and not 400 <= response.status_code < 500:
        wrong.append(f"not refused: {response.status_code}")
    elif response.status_code >= 500:
        wrong.append(f"failed: {response.status_code}")
    if fetches:
        # Any later write that succeeds drains the outbox of the download's count: drain
        # it now, or that write would seem to change it.
        drain(world.backends)
    return _judged(world, call, wrong, response, DOWNLOAD_WRITES if fetches else frozenset())


def _report(wrong: list[str], calls: int) -> str:
    return f"{len(wrong)} of {calls} calls went wrong:\n  " + "\n  ".join(wrong)


# --- the walk --------------------------------------------------------------------------------


def _fill(rule: str, values: dict[str, str]) -> str:
    return ARGUMENT.sub(lambda match: values[match.group(1)], rule)


def _paths(world: World, rule: str, route: Route, subject: Subject) -> list[str]:
    values = {"slug": subject.slug, "resource_id": subject.resource_id, "version": "1"}
    values |= {"grant_id": subject.grant_id, "upload": "no-such-upload"}
    if route.names == "department":
        values["slug"] = OWNER
    if route.names in ARGUMENT_OF:
        values[ARGUMENT_OF[route.names]] = world.objects[route.names]
    extensions = ("ttl", "rdf", "jsonld") if "<any(" in rule else ("",)
    paths = [_fill(rule, {**values, "extension": extension}) for extension in extensions]
    if route.query:
        return [f"{path}?{route.query}" for path in paths]
    if route.names == "nothing":  # a list is also searched for the hidden title, and for all
        queries = [urlencode({"q": words}) for words in (subject.title, TITLE_WORD)]
        return paths + [f"{path}?{query}" for path in paths for query in queries]
    return paths


def test_every_rule_is_walked(world):
    rules, listed = set(world.rules), set(ROUTES) | set(EXEMPT)
    assert sorted(rules - listed) == [], "add these routes to ROUTES, or to EXEMPT with why"
    assert sorted(listed - rules) == [], "these routes are gone: drop them here"


def _judge_route(world: World, call: Call, route: Route, level: str) -> list[str]:
    writes = call.method not in READS
    if level == METADATA:
        return judge_visible(world, call, refuse=route.data or writes)
    if level == DATA:
        return judge_visible(world, call, refuse=writes, fetches=route.data)
    if route.names in PUBLIC and not writes:
        return judge_visible(world, call, refuse=False)
    if route.names in PUBLIC:
        # A write on a public route (a login, a dataset for the owning department) answers
        # alike for hidden and absent names.
        return judge_hidden(world, call, allowed=range(200, 500))
    return judge_hidden(world, call, allowed=REFUSALS)


@pytest.mark.parametrize(("rule", "subject"), RULE_CASES)
def test_every_route_hides_what_the_caller_may_not_see(world, rule, subject):
    route, (methods, page) = ROUTES[rule], world.rules[rule]
    target = world.subjects[subject]
    # Logging the session caller out would end its session for the calls after.
    form = page and rule != "/logout"
    wrong, calls = [], 0
    for caller in world.callers:
        # A rule naming no dataset names the owning department's hidden objects, or none.
        level = world.level(subject, caller) if route.names == "dataset" else ABSENT
        for method in sorted(methods):
            body = route.body if method in ("POST", "PATCH") else None
            for path in _paths(world, rule, route, target):
                calls += 1
                wrong += _judge_route(world, Call(caller, method, path, body, form), route, level)
    assert not wrong, _report(wrong, calls)


@pytest.mark.parametrize(("name", "subject"), ACTION_CASES)
def test_every_action_hides_what_the_caller_may_not_see(world, name, subject):
    target = world.subjects[subject]
    writes = not ACTIONS[name].side_effect_free
    wrong, calls = [], 0
    # Both Action API rules: one with the dataset's slug as the id, one with its file's id.
    for rule, identifier in (("/api/3/action/", target.slug), ("/api/action/", target.resource_id)):
        params = {
            "id": identifier,
            "name": target.slug,
            "package_id": target.slug,
            "resource_id": target.resource_id,
            "owner_org": OWNER,
            "private": "true",
            "title": "改名",
            "q": target.title,
            "url": "https://example.org/new.csv",
        }
        for caller in world.callers:
            level = world.level(subject, caller)
            for call in (
                Call(caller, "GET", f"{rule}{name}?{urlencode(params)}"),
                Call(caller, "POST", f"{rule}{name}", params),
            ):
                calls += 1
                if level == ABSENT:
                    # Lists, searches and help answer 200 alike for hidden and absent names.
                    wrong += judge_hidden(world, call, allowed=REFUSALS | {200})
                else:
                    fetches = name in DATA_ACTIONS
                    refuse = writes or (fetches and level == METADATA)
                    wrong += judge_visible(world, call, refuse, fetches and level == DATA)
    assert not wrong, _report(wrong, calls)


# --- searches and counts ---------------------------------------------------------------------

# Portal search page: the total, and each facet's section title, value labels and counts.
PAGE_TOTAL = re.compile(r"共 <strong>([\d,]+)</strong> 个数据集")
PAGE_FACET = re.compile(r'<h3 class="facet__title">([^<]*)</h3>(.*?)</section>', re.S)
PAGE_FACET_VALUE = re.compile(
    r'<span class="facet__label">(?:<span class="visually-hidden">[^<]*</span>)?([^<]*)</span>'
    r'\s*<span class="facet__count">([\d,]+)</span>'
)
CKAN_NAMES = {dataset_filter.param: name for name, dataset_filter in CKAN_FILTERS.items()}
SEARCHES = ("/api/v1/datasets", "/datasets", "package_search", "package_search private")


def _searches(world: World) -> list[tuple[dict[str, list[str]], str]]:
    """(filters, words) that find the subjects: their department, theme and format, each
    one's tag, each one's open and share types, and each one's title."""
    found = [({"department": [OWNER]}, ""), ({"theme": [world.theme]}, "")]
    for subject in world.subjects.values():
        classes = {param: subject.facets[param] for param in ("open_type", "share_type")}
        found += [({"format": subject.facets["format"]}, ""), ({"tag": [subject.tag]}, "")]
        found += [(classes, ""), ({}, subject.title)]
    return list({json.dumps(search, sort_keys=True): search for search in found}.values())


def _expected(world: World, government: bool, filters: dict, words: str) -> tuple[int, dict]:
    """The total and facet counts over the subjects the caller may see that match."""
    found = [
        s
        for s in world.seen_by(government)
        if words in s.title
        and all(set(values) & set(s.facets[param]) for param, values in filters.items())
    ]
    facets = {
        f.param: dict(Counter(value for s in found for value in s.facets[f.param]))
        for f in DATASET_FILTERS
    }
    return len(found), {param: counts for param, counts in facets.items() if counts}


def _search_path(search: str, filters: dict, words: str) -> str:
    if search.startswith("/"):
        return f"{search}?{urlencode({'q': words, 'page_size': 100, **filters}, doseq=True)}"
    fq = " ".join(f"{CKAN_NAMES[p]}:{value}" for p, values in filters.items() for value in values)
    params = {"q": words, "fq": fq, "rows": 1000, "facet.field": json.dumps(list(CKAN_FILTERS))}
    params |= {"include_private": str(search.endswith("private")).lower()}
    return f"/api/3/action/package_search?{urlencode(params | {'include_drafts': 'true'})}"


def _counts(world: World, search: str, response) -> tuple[int, dict]:
    """The total and facet counts (by filter param and value) an answer gives."""
    if search == "/datasets":
        text = response.get_data(as_text=True)
        params = {f.label: f.param for f in DATASET_FILTERS}
        values = {(param, label): value for (param, value), label in world.facet_labels.items()}
        facets = {}
        for title, section in PAGE_FACET.findall(text):
            param = params.get(html.unescape(title), title)
            facets[param] = {
                values.get((param, html.unescape(label)), label): int(count.replace(",", ""))
                for label, count in PAGE_FACET_VALUE.findall(section)
            }
        return int(PAGE_TOTAL.search(text).group(1).replace(",", "")), facets
    if search.startswith("/"):
        body = response.get_json()
        facets = {
            p: {c["value"]: c["count"] for c in counts} for p, counts in body["facets"].items()
        }
        return body["total"], {param: counts for param, counts in facets.items() if counts}
    result = response.get_json()["result"]
    facets = {CKAN_FILTERS[name].param: counts for name, counts in result["facets"].items()}
    return result["count"], {param: counts for param, counts in facets.items() if counts}


@pytest.mark.parametrize("search", SEARCHES)
def test_searches_neither_list_nor_count_what_the_caller_may_not_see(world, search):
    """Filters that select the hidden datasets find nothing of them, and no total or facet
    count tells of them. package_search without include_private answers as to the public;
    with it (and include_drafts) as to the caller."""
    wrong, calls = [], 0
    for caller in world.callers:
        government = world.callers[caller].government and search != "package_search"
        for filters, words in _searches(world):
            call = Call(caller, "GET", _search_path(search, filters, words))
            calls += 1
            response = send(world, call)
            if response.status_code != 200:
                wrong.append(f"{call}: answered {response.status_code}")
                continue
            if secrets := named(world, call, response):
                wrong.append(f"{call}: gives away {', '.join(secrets)}")
            expected = _expected(world, government, filters, words)
            if (counted := _counts(world, search, response)) != expected:
                wrong.append(f"{call}: counts {counted}, not {expected}")
    assert not wrong, _report(wrong, calls)


def _named(items: list[dict], key: str, value: str) -> dict:
    return next(item for item in items if item[key] == value)


def _figure(pattern: str):
    """A reader of the number a page shows where ``pattern``'s group stands."""
    return lambda text: int(re.search(pattern, text, re.S).group(1).replace(",", ""))


def _summaries(world: World) -> dict[str, Any]:
    """Answers that count the datasets of the owning department (all the world holds), and
    how to read their figures by name from the answer's JSON or page: each is the number of
    its datasets the caller may see, but the statistics' count by open type."""
    owner_page = _figure(r"数据集（([\d,]+)）")
    owner_card = _figure(rf'/departments/{OWNER}">.*?<strong>([\d,]+)</strong> 个数据集')
    home_datasets = _figure(r'stats__number">([\d,]+)</span><span class="stats__label">数据集<')
    theme = world.facet_labels["theme", world.theme]
    home_theme = _figure(rf'themes__name">{theme}</span><span class="themes__count">([\d,]+)<')
    return {
        f"/api/v1/departments/{OWNER}": lambda body: {"dataset_count": body["dataset_count"]},
        "/api/v1/departments?page_size=100": lambda body: {
            "dataset_count": _named(body, "slug", OWNER)["dataset_count"]
        },
        f"/api/3/action/organization_show?id={OWNER}&include_datasets=true": lambda body: {
            "package_count": body["result"]["package_count"],
            "packages": len(body["result"]["packages"]),
        },
        "/api/3/action/organization_list?all_fields=true": lambda body: {
            "package_count": _named(body["result"], "name", OWNER)["package_count"]
        },
        "/api/3/action/group_list?all_fields=true": lambda body: {
            "theme's package_count": _named(body["result"], "name", world.theme)["package_count"]
        },
        "/api/v1/statistics": lambda body: {
            "datasets": body["datasets"],
            "by_department": _named(body["by_department"], "value", OWNER)["count"],
            "by_open_type": {count["value"]: count["count"] for count in body["by_open_type"]},
        },
        f"/departments/{OWNER}": lambda text: {"datasets": owner_page(text)},
        "/departments": lambda text: {"owner's datasets": owner_card(text)},
        "/": lambda text: {"datasets": home_datasets(text), "theme's": home_theme(text)},
    }


def test_department_theme_and_catalog_counts_leave_out_what_the_caller_may_not_see(world):
    wrong, calls = [], 0
    for caller, seen in world.callers.items():
        visible = [subject.kind for subject in world.seen_by(seen.government)]
        by_open_type = {code: sum(kind.open_type == code for kind in visible) for code in OpenType}
        for path, figures_of in _summaries(world).items():
            call = Call(caller, "GET", path)
            calls += 1
            response = send(world, call)
            if secrets := named(world, call, response):
                wrong.append(f"{call}: gives away {', '.join(secrets)}")
            json_body = response.mimetype == "application/json"
            figures = figures_of(
                response.get_json() if json_body else response.get_data(as_text=True)
            )
            expected = {name: len(visible) for name in figures}
            if "by_open_type" in figures:
                expected["by_open_type"] = by_open_type
            if figures != expected:
                wrong.append(f"{call}: counts {figures}, not {expected}")
    assert not wrong, _report(wrong, calls)
