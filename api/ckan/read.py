"""Read actions: callable with GET (query string) or POST (JSON body), by anyone; each
answers only what the caller may see."""

from typing import Any

from flask import current_app, request

from api.ckan import params, queries
from api.ckan.datastore import datastore_search_result
from api.ckan.dictize import group_dict, organization_dict, package_dict, resource_dict, tag_dict
from api.ckan.registry import ACTIONS, action
from api.ckan.search import ROWS_MAX, SearchTerms, find_datasets, package_search_result
from api.context import current_actor, db
from catalog.errors import NotFound
from catalog.policy import Actor
from catalog.services.datasets import get_dataset
from catalog.services.departments import (
    get_department_summary,
    list_departments,
    list_themes,
)

CKAN_VERSION = "2.10.0"
# The most dicts a list with all_fields gives at once (CKAN's default limit, 1000 names).
LIST_LIMIT = 1000
LIST_SORTS = ("name", "title", "package_count")


@action(side_effect_free=True)
def package_show(data: dict[str, Any]) -> dict[str, Any]:
    """Return a dataset (package) with its resources.

    :param id: the id or name of the dataset
    A dataset the caller may not see is "Not found", exactly as one that does not exist.
    """
    return package_dict(get_dataset(db(), current_actor(), params.required_text(data, "id")))


@action(side_effect_free=True)
def package_list(data: dict[str, Any]) -> list[str]:
    """Return the names of the public datasets, in name order.

    :param limit: how many names (optional, default: all)
    :param offset: how many names to skip (optional, default: 0)
    """
    limit = params.integer(data, "limit", 0) or None
    return queries.dataset_names(db(), Actor.anonymous(), limit, params.integer(data, "offset", 0))


@action(side_effect_free=True)
def current_package_list_with_resources(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the public datasets with their resources, most recently modified first.

    :param limit: how many datasets (optional, default and most: 1000)
    :param offset: how many to skip (optional, default: 0)
    """
    rows = params.integer(data, "limit", ROWS_MAX, maximum=ROWS_MAX)
    start = params.integer(data, "offset", 0)
    items, _page = find_datasets(Actor.anonymous(), SearchTerms("", {}), "modified", start, rows)
    return [package_dict(dataset) for dataset in items]


@action(side_effect_free=True)
def package_search(data: dict[str, Any]) -> dict[str, Any]:
    """Search datasets.

    :param q: words to find (optional); ``field:value`` terms are taken as filters
    :param fq: filters: ``organization:edu tags:学校 res_format:(CSV OR XLSX)``; fields are
        organization, groups, tags, res_format, license_id, open_type, share_type,
        update_frequency and dataset_type
    :param rows: how many results (optional, default 10, at most 1000)
    :param start: how many to skip (optional, default 0; rows + start at most 10000)
    :param sort: "score desc, metadata_modified desc" (default), "metadata_modified desc",
        "title_string asc" or "name asc" (served in title order)
    :param facet.field: a JSON list of the fields to count, e.g. ["organization", "tags"]
    :param facet.limit: values per facet field (optional, default 50, -1 for all)
    :param include_private: also the datasets the caller may see but the public may not,
        the caller's department's drafts among them (optional, default false)
    :returns: count, results, facets, search_facets and sort
    """
    return package_search_result(data)


def _list_slice(data: dict[str, Any], items: list, key) -> list:
    parts = params.text(data, "sort", "name asc").lower().split() or ["name"]
    field, direction = parts[0], parts[1] if len(parts) > 1 else "asc"
    if len(parts) > 2 or field not in LIST_SORTS or direction not in ("asc", "desc"):
        raise params.invalid("sort", f"Use one of {', '.join(LIST_SORTS)}, then asc or desc.")
    items = sorted(items, key=lambda item: key(item, field), reverse=direction == "desc")
    offset = params.integer(data, "offset", 0)
    return items[offset : offset + params.integer(data, "limit", LIST_LIMIT, maximum=LIST_LIMIT)]


@action(side_effect_free=True)
def organization_list(data: dict[str, Any]) -> list:
    """Return the departments (organizations): their names, or with all_fields their dicts.

    :param all_fields: return dicts with package_count (optional, default false)
    :param sort: "name asc" (default), "title asc" or "package_count desc"
    :param limit: how many (optional, default and most: 1000)
    :param offset: how many to skip (optional, default: 0)
    :param organizations: only these names (optional)
    package_count counts the datasets the caller may see.
    """
    wanted = set(params.string_list(data, "organizations"))
    summaries = [
        s
        for s in list_departments(db(), current_actor())
        if not wanted or s.department.slug in wanted
    ]

    def key(summary, field):
        department = summary.department
        return {"name": department.slug, "title": department.name}.get(field, summary.dataset_count)

    chosen = _list_slice(data, summaries, key)
    if not params.boolean(data, "all_fields"):
        return [s.department.slug for s in chosen]
    return [organization_dict(s.department, s.dataset_count) for s in chosen]


@action(side_effect_free=True)
def organization_show(data: dict[str, Any]) -> dict[str, Any]:
    """Return a department (organization).

    :param id: its id or name
    :param include_datasets: with the first 1000 of its datasets the caller may see, most
        recently modified first (optional, default false)
    """
    actor = current_actor()
    summary = get_department_summary(db(), actor, params.required_text(data, "id"))
    result = organization_dict(summary.department, summary.dataset_count)
    if params.boolean(data, "include_datasets"):
        terms = SearchTerms("", {"department": [summary.department.slug]})
        items, _page = find_datasets(actor, terms, "modified", 0, ROWS_MAX)
        result["packages"] = [package_dict(dataset) for dataset in items]
    return result


@action(side_effect_free=True)
def group_list(data: dict[str, Any]) -> list:
    """Return the themes (groups): their names, or with all_fields their dicts.

    :param all_fields: return dicts with package_count (optional, default false)
    :param sort: "name asc" (default), "title asc" or "package_count desc"
    :param limit: how many (optional, default and most: 1000)
    :param offset: how many to skip (optional, default: 0)
    """
    counts = queries.theme_dataset_counts(db(), current_actor())
    themes = list_themes(db())

    def key(theme, field):
        return {"name": theme.slug, "title": theme.name}.get(field, counts.get(theme.id, 0))

    chosen = _list_slice(data, themes, key)
    if not params.boolean(data, "all_fields"):
        return [theme.slug for theme in chosen]
    return [group_dict(theme, counts.get(theme.id, 0)) for theme in chosen]


@action(side_effect_free=True)
def tag_list(data: dict[str, Any]) -> list:
    """Return the tags of the datasets the caller may see.

    :param query: only tags containing this text (optional)
    :param all_fields: return tag dicts instead of names (optional, default false)
    """
    names = queries.tag_names(db(), current_actor(), params.text(data, "query").strip())
    if params.boolean(data, "all_fields"):
        return [tag_dict(name) for name in names]
    return names


@action(side_effect_free=True)
def resource_show(data: dict[str, Any]) -> dict[str, Any]:
    """Return a resource.

    :param id: the resource's id
    """
    dataset, resource = queries.visible_resource(
        db(), current_actor(), params.required_text(data, "id")
    )
    return resource_dict(resource, dataset)


@action(side_effect_free=True)
def datastore_search(data: dict[str, Any]) -> dict[str, Any]:
    """Search a tabular resource's records (the DataStore).

    :param resource_id: the resource's id
    :param q: words to find in the text fields (optional)
    :param filters: a JSON object of field: value (or a list of values) (optional)
    :param fields: the fields to return, a list or comma-separated (optional, default all)
    :param sort: "field asc, other desc" (optional, default the rows' order)
    :param limit: how many records (optional, default 100, at most 1000)
    :param offset: how many to skip (optional, at most 10000; deeper, use the REST v1
        cursor at /api/v1/datasets/<dataset>/resources/<id>/records)
    :param include_total: count the matching records (optional, default true)
    Sensitive fields come back masked to all but the owning department, and those callers
    may not filter or sort on them.
    """
    return datastore_search_result(data)


@action(side_effect_free=True)
def status_show(data: dict[str, Any]) -> dict[str, Any]:
    """Return the site's name, address and the CKAN version whose API this one follows."""
    return {
        "site_title": current_app.extensions["opendata.settings"].site_name,
        "site_description": "",
        "site_url": request.host_url.rstrip("/"),
        "ckan_version": CKAN_VERSION,
        "error_emails_to": None,
        "locale_default": "zh_Hans_CN",
        "extensions": ["datastore"],
    }


@action(side_effect_free=True)
def help_show(data: dict[str, Any]) -> str:
    """Return the help text of an action.

    :param name: the action's name
    """
    name = params.required_text(data, "name")
    if name not in ACTIONS:
        raise NotFound("Action function not found")
    return ACTIONS[name].help
