"""Steward uploads, step two: a staged file (catalog.services.uploads) confirmed as a new
resource of its dataset or as a new version of one, its records loaded with the fields the
steward confirmed; and the change of a resource's name, description and fields.

A confirm copies the staged object to the resource's key for the version (inside the
store), loads the records, then writes the resource, its ResourceVersion row, the audit
event and the search outbox entry in one commit. Earlier versions keep their objects and
rows, downloadable as before. Whatever fails, the dataset stays as it was: the copy is
deleted, and records the load replaced are loaded again from the previous version's file
(the record stores have no transactions, so this is how the old rows come back).
"""

import logging
import tempfile
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.interfaces import NotATable, RecordField, StoredObject, TableLoad
from catalog.models import Dataset, Resource, ResourceVersion, new_id, utcnow
from catalog.policy import Actor
from catalog.services.audit import dataset_snapshot, record_dataset_change
from catalog.services.resources import object_key
from catalog.services.upload_files import StagedUpload, spool_object
from catalog.services.uploads import (
    CHANGED,
    GONE,
    Uploads,
    editable_dataset,
    forget_staged,
    staged_for,
)
from catalog.vocab import FieldType

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 500
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000


@dataclass(frozen=True)
class Confirmation:
    """The steward's answer to a proposal."""

    token: str
    name: str | None = None  # None: the file's name (a new resource), kept (a new version)
    description: str | None = None  # None: empty (a new resource), kept (a new version)
    # The proposal's fields with the steward's titles, types and sensitive flags; a field
    # left out is not loaded. None takes the proposal as it was.
    fields: list[dict[str, Any]] | None = None
    # Load a table with ragged rows without them; otherwise such a file is refused.
    skip_ragged_rows: bool = False


@dataclass(frozen=True)
class Confirmed:
    resource: Resource
    version: int
    table: TableLoad | None  # how the records were loaded; None for a plain file


@dataclass(frozen=True)
class ResourceChanges:
    """A change of a resource's metadata; what is None stays as it is."""

    name: str | None = None
    description: str | None = None
    # [{name, title?, sensitive?}] of existing fields; a type changes only with an upload.
    fields: list[dict[str, Any]] | None = None


def confirm_upload(
    session: Session,
    actor: Actor,
    uploads: Uploads,
    dataset_slug: str,
    confirmation: Confirmation,
    resource_id: str | None = None,
) -> Confirmed:
    """Take a staged upload as a new resource of the dataset, or, with ``resource_id``, as
    the next version of that resource (its earlier versions stay downloadable).

    InvalidInput for a token that is not this actor's for this dataset, expired or used,
    for fields the file has not, and for ragged rows without ``skip_ragged_rows``;
    Conflict for a link resource or a file the same as the current one. Nothing changes
    then, nor when the load or the commit fails."""
    dataset = editable_dataset(session, actor, dataset_slug)
    staged = staged_for(uploads, actor, dataset, confirmation.token)
    previous = locked_resource(session, dataset, resource_id) if resource_id else None
    if previous is not None:
        if previous.storage_key is None:
            raise Conflict(
                "This resource is a link, which has no file versions: add the file as a new "
                "resource. 外部链接资源不能上传新版本。"
            )
        if previous.sha256 == staged.sha256:
            raise Conflict(
                f"The file is the same as the current version (v{previous.version}): "
                "nothing to replace. 文件与当前版本相同。"
            )
    if staged.ragged_lines and not confirmation.skip_ragged_rows:
        lines = ", ".join(map(str, staged.ragged_lines))
        message = (
            f"Rows on lines {lines} do not have the header's number of values. Fix the file "
            "and upload it again, or confirm with skip_ragged_rows to load the other rows "
            f"without them. 第 {lines} 行的列数与表头不符。"
        )
        raise InvalidInput({"skip_ragged_rows": [message]}, message)
    fields = chosen_fields(confirmation.fields, staged) if staged.tabular else None
    name = _resource_name(confirmation.name, previous, staged)
    description = _description(confirmation.description)
    new_resource_id = previous.id if previous is not None else new_id()
    version = next_version(session, previous)
    key = object_key(dataset, new_resource_id, version, staged.file_name)
    undo = Undo(uploads, new_resource_id, previous)
    before = dataset_snapshot(dataset)
    with tempfile.TemporaryFile() as spool:
        try:
            undo.remember_records()
            if staged.tabular:
                _spool_staged(uploads, staged, spool)
            undo.keys.append(key)
            stored = _copy_staged(uploads, staged, key)
            table = None
            if staged.tabular:
                undo.records_touched = True
                table = uploads.load_table(
                    spool,
                    fields,
                    uploads.record_store,
                    new_resource_id,
                    file_name=staged.file_name,
                    media_type=staged.media_type,
                )
            elif undo.previous_fields is not None:
                # The new version is no table: the old version's records would lie.
                undo.records_touched = True
                uploads.record_store.drop(new_resource_id)
            resource = _write(session, dataset, previous, new_resource_id, name, stored, staged)
            resource.version = version
            if description is not None or previous is None:
                resource.description = description or ""
            resource.fields = field_dicts(table.fields) if table is not None else []
            resource.row_count = table.rows_loaded if table is not None else None
            dataset.revision += 1
            dataset.modified_at = resource.modified_at
            session.flush()
            session.add(
                ResourceVersion(
                    resource_id=resource.id,
                    version=version,
                    storage_key=stored.key,
                    size=stored.size,
                    sha256=stored.sha256,
                    media_type=staged.media_type,
                    created_by_id=actor.user_id,
                )
            )
            action = "resource.replace" if previous is not None else "resource.create"
            record_dataset_change(
                session, actor, action, dataset.id, before, dataset_snapshot(dataset)
            )
            session.commit()
        except BaseException as error:
            session.rollback()
            undo.run()
            _refuse_if_not_a_table(error)
            raise
    forget_staged(uploads.object_store, staged.key)
    return Confirmed(resource, version, table)


def _refuse_if_not_a_table(error: BaseException) -> None:
    # A file the proposal read whole cannot turn out no table; a load that still finds
    # it one is refused as the proposal would have been.
    if isinstance(error, NotATable):
        message = f"The file cannot be read as a table: {error.message} 文件无法作为表格读取。"
        raise InvalidInput({"file": [message]}, message) from None


def _write(
    session: Session,
    dataset: Dataset,
    previous: Resource | None,
    resource_id: str,
    name: str,
    stored: StoredObject,
    staged: StagedUpload,
) -> Resource:
    now = utcnow()
    resource = previous
    if resource is None:
        resource = Resource(id=resource_id, position=len(dataset.resources), created_at=now)
        dataset.resources.append(resource)
    resource.name = name
    resource.format = staged.format
    resource.media_type = staged.media_type
    resource.url = None
    resource.storage_key, resource.size, resource.sha256 = stored.key, stored.size, staged.sha256
    resource.modified_at = now
    return resource


def _spool_staged(uploads: Uploads, staged: StagedUpload, spool) -> None:
    try:
        got = spool_object(uploads.object_store, staged.key, spool)
    except KeyError:
        raise InvalidInput({"token": [GONE]}, GONE) from None
    if got != (staged.size, staged.sha256):
        raise InvalidInput({"token": [CHANGED]}, CHANGED)


def _copy_staged(uploads: Uploads, staged: StagedUpload, key: str) -> StoredObject:
    try:
        stored = uploads.object_store.copy(staged.key, key, staged.media_type, staged.sha256)
    except KeyError:
        raise InvalidInput({"token": [GONE]}, GONE) from None
    if (stored.size, stored.sha256) != (staged.size, staged.sha256):
        raise InvalidInput({"token": [CHANGED]}, CHANGED)
    return stored


def update_resource(
    session: Session,
    actor: Actor,
    uploads: Uploads,
    dataset_slug: str,
    resource_id: str,
    changes: ResourceChanges,
) -> Resource:
    """Change a resource's name, description, and its fields' titles and sensitive flags
    (editors and admins of the dataset's department). The records keep the fields too,
    and the flags decide what is masked, so changed fields load the records again from
    the current file; if that fails, nothing changes."""
    dataset = editable_dataset(session, actor, dataset_slug)
    resource = locked_resource(session, dataset, resource_id)
    before = dataset_snapshot(dataset)
    errors: dict[str, list[str]] = {}
    name = description = fields = None
    if changes.name is not None:
        name = changes.name.strip()
        if not name or len(name) > MAX_NAME_CHARS:
            errors["name"] = [f"A resource needs a name of 1 to {MAX_NAME_CHARS} characters."]
    try:
        description = _description(changes.description)
    except InvalidInput as error:
        errors.update(error.fields)
    if changes.fields is not None:
        try:
            fields = _edited_fields(resource.fields, changes.fields)
        except InvalidInput as error:
            errors.update(error.fields)
    if errors:
        raise InvalidInput(errors)
    undo = Undo(uploads, resource.id, resource)
    try:
        if fields is not None and fields != resource.fields:
            undo.remember_records()
            if undo.previous_fields is not None and resource.storage_key is not None:
                undo.records_touched = True
                table = _reload(uploads, resource, fields)
                resource.row_count = table.rows_loaded
            resource.fields = fields
        if name is not None:
            resource.name = name
        if description is not None:
            resource.description = description
        resource.modified_at = dataset.modified_at = utcnow()
        dataset.revision += 1
        record_dataset_change(
            session, actor, "resource.update", dataset.id, before, dataset_snapshot(dataset)
        )
        session.commit()
    except BaseException as error:
        session.rollback()
        undo.run()
        _refuse_if_not_a_table(error)
        raise
    return resource


def _reload(uploads: Uploads, resource: Resource, fields: list[dict]) -> TableLoad:
    with tempfile.TemporaryFile() as spool:
        try:
            spool_object(uploads.object_store, resource.storage_key, spool)
        except KeyError:
            raise NotFound("The file of this resource is missing from the store.") from None
        return uploads.load_table(
            spool,
            [RecordField(**f) for f in fields],
            uploads.record_store,
            resource.id,
            file_name=resource.storage_key.rsplit("/", 1)[-1],
            media_type=resource.media_type,
        )


# -- checking what the steward sent -----------------------------------------------------------


def chosen_fields(given: list[dict] | None, staged: StagedUpload) -> list[RecordField] | None:
    """The fields to load, from the proposal's as the steward edited them."""
    if given is None:
        return None
    problems: list[str] = []
    chosen: list[RecordField] = []
    known = set(staged.field_names)
    for position, spec in enumerate(given, start=1):
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or name not in known:
            problems.append(f"field {position}: {name!r} is not a column of the file")
            continue
        field_type = spec.get("type") or "text"
        if field_type not in FieldType.codes():
            problems.append(f"{name}: type {field_type!r} is not one of {FieldType.codes()}")
        title = _title(spec.get("title"), name, problems)
        chosen.append(RecordField(name, field_type, title, bool(spec.get("sensitive"))))
    names = [field.name for field in chosen]
    if len(set(names)) != len(names):
        problems.append("a field is given twice")
    if not given:
        problems.append("keep at least one field")
    if problems:
        raise InvalidInput({"fields": problems}, "The fields are not right: " + "; ".join(problems))
    return chosen


def _edited_fields(current: list[dict], given: list[dict]) -> list[dict]:
    by_name = {f["name"]: dict(f) for f in current}
    problems: list[str] = []
    for position, spec in enumerate(given, start=1):
        name = spec.get("name") if isinstance(spec, dict) else None
        if name not in by_name:
            problems.append(f"field {position}: {name!r} is not a field of this resource")
            continue
        field = by_name[name]
        if spec.get("type") not in (None, field.get("type", "text")):
            problems.append(
                f"{name}: a field's type changes with a new upload of the file, which reads "
                "its values again"
            )
        if "title" in spec:
            field["title"] = _title(spec["title"], name, problems)
        if "sensitive" in spec:
            field["sensitive"] = bool(spec["sensitive"])
    if problems:
        raise InvalidInput({"fields": problems})
    return [by_name[f["name"]] for f in current]


def _title(value: object, name: str, problems: list[str]) -> str:
    title = value if isinstance(value, str) else ""
    if len(title) > MAX_TITLE_CHARS:
        problems.append(f"{name}: a title has at most {MAX_TITLE_CHARS} characters")
    return title.strip()


def _resource_name(given: str | None, previous: Resource | None, staged: StagedUpload) -> str:
    if given is not None and given.strip():
        name = given.strip()
    elif previous is not None:
        name = previous.name
    else:
        stem, dot, _extension = staged.file_name.rpartition(".")
        name = stem if dot and stem else staged.file_name
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput({"name": [f"A name has at most {MAX_NAME_CHARS} characters."]})
    return name


def _description(given: str | None) -> str | None:
    if given is not None and len(given) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(
            {"description": [f"A description has at most {MAX_DESCRIPTION_CHARS} characters."]}
        )
    return given


def field_dicts(fields: list[RecordField]) -> list[dict]:
    """Fields (信息项) as Resource.fields keeps them."""
    return [
        {"name": f.name, "title": f.title, "type": f.type, "sensitive": f.sensitive} for f in fields
    ]


# -- the resource row and taking back -------------------------------------------------------


def locked_resource(session: Session, dataset: Dataset, resource_id: str) -> Resource:
    """The dataset's resource, locked (on PostgreSQL) until the commit, so that two
    replacements of one resource take their version numbers one after the other."""
    resource = session.scalar(
        select(Resource)
        .where(Resource.id == resource_id, Resource.dataset_id == dataset.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if resource is None:
        raise NotFound("Resource not found.")
    return resource


def next_version(session: Session, resource: Resource | None) -> int:
    if resource is None:
        return 1
    latest = session.scalar(
        select(func.max(ResourceVersion.version)).where(ResourceVersion.resource_id == resource.id)
    )
    return max(latest or 0, resource.version) + 1


class Undo:
    """What a confirm or change did outside the database, taken back when it fails: the
    objects it stored, and the records it replaced, loaded again from the file they came
    from (the version current before)."""

    def __init__(self, uploads: Uploads, resource_id: str, previous: Resource | None):
        self.uploads = uploads
        self.resource_id = resource_id
        self.keys: list[str] = []
        self.records_touched = False
        self.previous_fields: list[RecordField] | None = None
        # Read now: the row changes before anything can fail.
        self.previous_file = None
        if previous is not None and previous.storage_key is not None:
            self.previous_file = (previous.storage_key, previous.media_type)

    def remember_records(self) -> None:
        store = self.uploads.record_store
        if store.exists(self.resource_id):
            self.previous_fields = store.fields(self.resource_id)

    def run(self) -> None:
        for key in self.keys:
            forget_staged(self.uploads.object_store, key)
        if self.records_touched:
            self._restore_records()

    def _restore_records(self) -> None:
        store = self.uploads.record_store
        # The failure being undone is what the caller hears; one here is logged for the
        # operator, who can load the records again from the resource's current file.
        try:
            if self.previous_fields is None or self.previous_file is None:
                if store.exists(self.resource_id):
                    store.drop(self.resource_id)
                return
            key, media_type = self.previous_file
            with tempfile.TemporaryFile() as spool:
                spool_object(self.uploads.object_store, key, spool)
                self.uploads.load_table(
                    spool,
                    self.previous_fields,
                    store,
                    self.resource_id,
                    file_name=key.rsplit("/", 1)[-1],
                    media_type=media_type,
                )
        except Exception:  # see above
            log.exception("could not put back the records of resource %s", self.resource_id)
