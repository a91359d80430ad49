"""Steward actions: POST only, with an API token of the write scope held by an editor or
admin of the dataset's department (or a sysadmin). Each goes through one catalog service,
which checks the policy again and commits the change with its audit event."""

import mimetypes
from pathlib import PurePosixPath
from typing import Any

from werkzeug.datastructures import FileStorage

from api.ckan import params
from api.ckan.dictize import package_dict, resource_dict
from api.ckan.registry import action
from api.ckan.schemas import (
    CKAN_UPLOAD_NAMES,
    ckan_validation_error,
    dataset_values,
    link_resources,
    resource_values,
)
from api.context import backends, current_actor, db
from api.uploads.resources import current_uploads
from catalog.errors import InvalidInput
from catalog.policy import Action, require
from catalog.services.datasets import (
    create_dataset,
    get_dataset,
    update_dataset,
    withdraw_dataset,
)
from catalog.services.resources import add_resource
from catalog.services.upload_confirm import Confirmation, confirm_upload
from catalog.services.upload_files import IncomingFile
from catalog.services.uploads import stage_upload

OCTET_STREAM = "application/octet-stream"


@action(side_effect_free=False)
def package_create(data: dict[str, Any]) -> dict[str, Any]:
    """Create a dataset in a department the caller edits for.

    :param name: its URL name (lower-case letters, digits and '-')
    :param title: its title
    :param owner_org: the department's id or name
    :param private: true: only the department sees it (不予开放, 不予共享); false: open to
        all (无条件开放, 无条件共享). Needed unless the extras open_type and share_type say
        it precisely.
    :param notes, tags, groups, license_id, version, maintainer, maintainer_email: as CKAN
    :param extras: [{key, value}]; resource_code, open_type, share_type, update_frequency,
        share_method, release_date, temporal_start/end, spatial, provider... set the
        catalog's own fields, other keys are kept as they are
    :param state: "active" (default) or "draft"
    :param resources: links only ([{url, name, format}]); upload files with resource_create
    """
    session, actor = db(), current_actor()
    values = dataset_values(session, data, None, clear_missing=False)
    links = link_resources(data)
    try:
        dataset = create_dataset(session, actor, values)
    except InvalidInput as error:
        raise ckan_validation_error(error) from None
    for link in links:
        add_resource(session, actor, backends().object_store, dataset.slug, link)
    return package_dict(get_dataset(session, actor, dataset.id))


def _change(data: dict[str, Any], clear_missing: bool) -> dict[str, Any]:
    session, actor = db(), current_actor()
    identifier = params.text(data, "id").strip() or params.required_text(data, "name")
    dataset = get_dataset(session, actor, identifier)
    # Refuse those who may not edit before judging what they sent.
    require(actor, Action.EDIT, dataset)
    values = dataset_values(session, data, dataset, clear_missing=clear_missing)
    try:
        changed = update_dataset(session, actor, dataset.id, values)
    except InvalidInput as error:
        raise ckan_validation_error(error) from None
    return package_dict(get_dataset(session, actor, changed.id))


@action(side_effect_free=False)
def package_update(data: dict[str, Any]) -> dict[str, Any]:
    """Replace a dataset's metadata, as CKAN does: the CKAN fields left out (notes, tags,
    groups, license_id, version, maintainer, free extras) are emptied; use package_patch to
    change only some. The catalog's own fields in extras keep their values when left out.
    Resources are not changed here.

    :param id: the dataset's id or name
    Other parameters as for package_create.
    """
    return _change(data, clear_missing=True)


@action(side_effect_free=False)
def package_patch(data: dict[str, Any]) -> dict[str, Any]:
    """Change only the given fields of a dataset (extras, when given, replace the free
    extras; the catalog's own fields among them change one by one).

    :param id: the dataset's id or name
    Other parameters as for package_create.
    """
    return _change(data, clear_missing=False)


@action(side_effect_free=False)
def package_delete(data: dict[str, Any]) -> None:
    """Withdraw a dataset (撤回): it leaves the catalog (state "deleted"); its history and
    audit trail stay.

    :param id: the dataset's id or name
    """
    withdraw_dataset(db(), current_actor(), params.required_text(data, "id"))


def _file_name(upload: FileStorage) -> str:
    # Browsers on Windows send the whole path; only the last part names the file.
    return PurePosixPath((upload.filename or "").replace("\\", "/")).name or "data"


def _media_type(upload: FileStorage, file_name: str) -> str:
    if upload.mimetype and upload.mimetype != OCTET_STREAM:
        return upload.mimetype
    return mimetypes.guess_type(file_name)[0] or OCTET_STREAM


@action(side_effect_free=False)
def resource_create(data: dict[str, Any]) -> dict[str, Any]:
    """Add a resource to a dataset: a link (url) or a file (upload, sent as
    multipart/form-data), streamed to the object store.

    :param package_id: the dataset's id or name
    :param url: the link (http or https), when no file is uploaded
    :param upload: the file
    :param name: its name (optional, default: the file's name)
    :param format: e.g. CSV (optional, default: from the file name)
    :param mimetype: (optional, default: from the upload or the file name)
    :param description: (optional)
    """
    session, actor = db(), current_actor()
    dataset = get_dataset(session, actor, params.required_text(data, "package_id"))
    require(actor, Action.EDIT, dataset)
    upload = data.get("upload")
    if upload is not None and not isinstance(upload, FileStorage):
        if upload != "":
            raise params.invalid("upload", "Send the file as multipart/form-data.")
        upload = None
    if upload is None:
        values = resource_values(data, None, "")
        resource = add_resource(session, actor, backends().object_store, dataset.slug, values)
        return resource_dict(resource, resource.dataset)
    # The same way in as a steward's upload through REST or the portal form: programs
    # refused, tables read with their fields (sensitive ones flagged as proposed) and
    # loaded as records, nothing left behind when any of it fails.
    file_name = _file_name(upload)
    uploads = current_uploads()
    try:
        proposal = stage_upload(
            session,
            actor,
            uploads,
            dataset.slug,
            lambda: IncomingFile(upload.stream, file_name, _media_type(upload, file_name)),
        )
        confirmed = confirm_upload(
            session,
            actor,
            uploads,
            dataset.slug,
            Confirmation(
                token=proposal.token,
                name=params.text(data, "name") or None,
                description=params.text(data, "description") or None,
            ),
        )
    except InvalidInput as error:
        raise ckan_validation_error(error, CKAN_UPLOAD_NAMES) from None
    return resource_dict(confirmed.resource, confirmed.resource.dataset)
