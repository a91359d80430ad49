"""Steward uploads, step one: a file is staged and a proposal made for the steward to check.

    proposal = stage_upload(session, actor, uploads, "schools", receive)   # the bytes
    confirmed = confirm_upload(session, actor, uploads, "schools",          # step two
                               Confirmation(proposal.token, fields=edited))

Staging streams the file into the object store under ``uploads/`` (hashed and measured on
the way, cut off past the size limit, its checksum verified when the client sent one)
while a copy lands in a local temporary file; the copy is then read whole through the
harvesters' own tabular ingestion, storing nothing, so the proposal shows the format,
encoding, delimiter, fields (name, title, type, a guess at sensitive), the exact row
count, every ragged row and unfit value with its line, and the first rows converted. A
file whose name or type says it is a table must read as one; any other file (PDF, ZIP,
an old .xls) becomes a plain download with no records, and programs are refused.

Large files on S3 go straight from the client to the store in parts
(``start_multipart_upload``: presigned PUT URLs per part), and ``complete_multipart_upload``
reads the object once to verify it and make the same proposal.

Anything refused leaves nothing behind: the staged object is deleted and the dataset is
untouched (it changes only on confirm, catalog.services.upload_confirm). Staged uploads
nobody confirms are removed by ``remove_stale_uploads`` (``opendata uploads clean``).
"""

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import BinaryIO

from sqlalchemy.orm import Session

from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.interfaces import (
    MultipartUpload,
    NotATable,
    ObjectStore,
    RecordStore,
    TableLoad,
    TableLoader,
)
from catalog.models import Dataset, new_id
from catalog.policy import Action, Actor, require
from catalog.services.datasets import get_dataset
from catalog.services.upload_files import (
    CLEANUP_GRACE_SECONDS,
    EXECUTABLE_REFUSAL,
    HEAD_BYTES,
    RAGGED_LINES_KEPT,
    STAGED_SECONDS,
    STAGING_PREFIX,
    Checksums,
    FileTooLarge,
    IncomingFile,
    PendingMultipart,
    PreviewSink,
    SpoolingReader,
    StagedUpload,
    UploadTokens,
    check_sha256,
    claims_table,
    clean_file_name,
    is_executable,
    plain_format,
    plain_media_type,
    plain_value,
    spool_object,
    staging_key,
    table_media_type,
    too_large_message,
)

log = logging.getLogger(__name__)

# The part URLs of a multipart upload work this long: long enough for gigabytes on a slow
# line, short enough that a leaked URL soon stops working.
PART_URL_SECONDS = 3600
MAX_PARTS = 10_000


@dataclass(frozen=True)
class Uploads:
    """What the upload services work with: the stores, the tabular ingestion, the key
    that signs staged uploads and the size limit (settings.max_upload_bytes)."""

    object_store: ObjectStore
    record_store: RecordStore
    load_table: TableLoader
    secret_key: str
    max_bytes: int

    @cached_property
    def tokens(self) -> UploadTokens:
        return UploadTokens(self.secret_key)


@dataclass(frozen=True)
class Proposal:
    """A staged file and what the portal makes of it, for the steward to confirm."""

    token: str  # hand it to the confirm step
    expires_at: datetime
    file_name: str
    size: int
    sha256: str
    media_type: str
    format: str  # CSV, XLSX, JSON, GEOJSON; a plain file's extension (PDF, ZIP)
    table: TableLoad | None  # None for a plain file: it gets no records
    preview: list[dict]  # the first rows as they would be loaded, with "_id"

    @property
    def tabular(self) -> bool:
        return self.table is not None

    @property
    def ragged_lines(self) -> list[int]:
        """Lines of rows that do not have the header's number of values: left out."""
        if self.table is None:
            return []
        return [problem.line for problem in self.table.problems if problem.field is None]


@dataclass(frozen=True)
class MultipartStart:
    handle: str  # names the upload in the complete and abort calls
    upload: MultipartUpload


def editable_dataset(session: Session, actor: Actor, dataset_slug: str) -> Dataset:
    """The dataset, if the actor may change it: editors and admins of its department."""
    dataset = get_dataset(session, actor, dataset_slug)
    require(actor, Action.EDIT, dataset)
    return dataset


def stage_upload(
    session: Session,
    actor: Actor,
    uploads: Uploads,
    dataset_slug: str,
    receive: Callable[[], IncomingFile],
    expected: Checksums = Checksums(),  # noqa: B008 - frozen, so sharing it is safe
) -> Proposal:
    """Stage a file for a dataset and propose how to take it in.

    ``receive`` hands over the request's file; it is called only once the policy has let
    the actor change the dataset, so a refused request reads no bytes. Raises FileTooLarge
    past ``uploads.max_bytes``, InvalidInput for an empty file, a checksum that does not
    match, a program, or a table that does not read as one; nothing stays staged then.
    """
    dataset = editable_dataset(session, actor, dataset_slug)
    incoming = receive()
    file_name = clean_file_name(incoming.file_name)
    expected_sha256 = check_sha256(expected.sha256)
    key = staging_key(dataset, file_name)
    store = uploads.object_store
    with tempfile.TemporaryFile() as spool:
        reader = SpoolingReader(
            incoming.stream, spool, uploads.max_bytes, md5=expected.md5 is not None
        )
        try:
            stored = store.put(key, reader, "application/octet-stream")
            _check_received(stored.size, stored.sha256, expected_sha256, expected.md5, reader)
            return _propose(
                uploads, actor, dataset, key, file_name, incoming.media_type, stored, spool
            )
        except BaseException:
            forget_staged(store, key)
            raise


def _check_received(
    size: int,
    sha256: str,
    expected_sha256: str | None,
    expected_md5: str | None,
    reader: SpoolingReader | None = None,
) -> None:
    if size == 0:
        raise InvalidInput({"file": ["The file is empty. 文件为空。"]}, "The file is empty.")
    if expected_sha256 is not None and sha256 != expected_sha256:
        message = (
            f"The file's SHA-256 is {sha256}, not the {expected_sha256} given: it changed on "
            "the way. Upload it again. 文件校验值不符，请重新上传。"
        )
        raise InvalidInput({"sha256": [message]}, message)
    if expected_md5 is not None and reader is not None and reader.md5 is not None:
        got = reader.md5.hexdigest()
        if got != expected_md5.lower():
            message = (
                f"The file's MD5 is {got}, not the {expected_md5} given (Content-MD5): it "
                "changed on the way. Upload it again. 文件校验值不符，请重新上传。"
            )
            raise InvalidInput({"Content-MD5": [message]}, message)


def _propose(
    uploads: Uploads,
    actor: Actor,
    dataset: Dataset,
    key: str,
    file_name: str,
    claimed_media_type: str,
    stored,
    spool: BinaryIO,
) -> Proposal:
    """Read the staged file's local copy and sign its token."""
    spool.flush()
    spool.seek(0)
    if is_executable(spool.read(HEAD_BYTES)):
        raise InvalidInput({"file": [EXECUTABLE_REFUSAL]}, EXECUTABLE_REFUSAL)
    spool.seek(0)
    table, preview = None, []
    if claims_table(file_name, claimed_media_type):
        sink = PreviewSink()
        try:
            table = uploads.load_table(
                spool, None, sink, new_id(), file_name=file_name, media_type=claimed_media_type
            )
        except NotATable as error:
            message = f"The file cannot be read as a table: {error.message} 文件无法作为表格读取。"
            raise InvalidInput({"file": [message]}, message) from None
        preview = [{name: plain_value(value) for name, value in row.items()} for row in sink.rows]
    staged = StagedUpload(
        key=key,
        size=stored.size,
        sha256=stored.sha256,
        dataset_id=dataset.id,
        user_id=actor.user_id or "",
        file_name=file_name,
        media_type=table_media_type(table) if table else plain_media_type(file_name),
        format=table.format.upper() if table else plain_format(file_name),
        tabular=table is not None,
        field_names=[f.name for f in table.fields] if table else [],
        ragged_lines=[p.line for p in table.problems if p.field is None][:RAGGED_LINES_KEPT]
        if table
        else [],
    )
    return Proposal(
        token=uploads.tokens.sign_staged(staged),
        expires_at=datetime.now(UTC) + timedelta(seconds=STAGED_SECONDS),
        file_name=file_name,
        size=staged.size,
        sha256=staged.sha256,
        media_type=staged.media_type,
        format=staged.format,
        table=table,
        preview=preview,
    )


def review_upload(
    session: Session, actor: Actor, uploads: Uploads, dataset_slug: str, token: str
) -> Proposal:
    """The proposal of an upload staged earlier, read again from its staged object (for a
    confirm page shown again after a refused confirm)."""
    dataset = editable_dataset(session, actor, dataset_slug)
    staged = staged_for(uploads, actor, dataset, token)
    with tempfile.TemporaryFile() as spool:
        try:
            size, sha256 = spool_object(uploads.object_store, staged.key, spool)
        except KeyError:
            raise InvalidInput({"token": [GONE]}, GONE) from None
        if (size, sha256) != (staged.size, staged.sha256):
            raise InvalidInput({"token": [CHANGED]}, CHANGED)
        stored = _Received(size, sha256)
        return _propose(
            uploads, actor, dataset, staged.key, staged.file_name, staged.media_type, stored, spool
        )


GONE = "The staged file is gone (expired or already used): upload it again. 暂存文件已失效。"
CHANGED = "The staged file has changed since it was checked: upload it again."


@dataclass(frozen=True)
class _Received:
    size: int
    sha256: str


def staged_for(uploads: Uploads, actor: Actor, dataset: Dataset, token: str) -> StagedUpload:
    """The staged upload of a token, if it was staged for this dataset by this actor."""
    staged = uploads.tokens.read_staged(token)
    if staged.dataset_id != dataset.id or staged.user_id != (actor.user_id or ""):
        message = "This upload was staged for another dataset or by another user."
        raise InvalidInput({"token": [message]}, message)
    return staged


def discard_upload(
    session: Session, actor: Actor, uploads: Uploads, dataset_slug: str, token: str
) -> None:
    """Drop a staged upload the steward does not want."""
    dataset = editable_dataset(session, actor, dataset_slug)
    uploads.object_store.delete(staged_for(uploads, actor, dataset, token).key)


# -- multipart uploads straight to S3 ------------------------------------------------------


def start_multipart_upload(
    session: Session,
    actor: Actor,
    uploads: Uploads,
    dataset_slug: str,
    file_name: str,
    size: int,
    part_count: int = 0,
    sha256: str | None = None,
) -> MultipartStart:
    """Begin an upload whose parts the client PUTs straight to the store (S3), through
    presigned URLs valid PART_URL_SECONDS. Conflict where the store takes no such
    uploads (the local folder): send the file to the direct upload instead."""
    dataset = editable_dataset(session, actor, dataset_slug)
    file_name = clean_file_name(file_name)
    sha256 = check_sha256(sha256)
    if size <= 0:
        raise InvalidInput({"size": ["The file is empty. 文件为空。"]}, "The file is empty.")
    if size > uploads.max_bytes:
        raise FileTooLarge(too_large_message(uploads.max_bytes))
    if not 0 <= part_count <= MAX_PARTS:
        raise InvalidInput({"parts": [f"Ask for 1 to {MAX_PARTS} parts, or none."]})
    key = staging_key(dataset, file_name)
    try:
        upload = uploads.object_store.start_multipart_upload(
            key, "application/octet-stream", size, PART_URL_SECONDS, part_count
        )
    except ValueError as error:
        raise InvalidInput({"size": [str(error)]}) from None
    if upload is None:
        raise Conflict(
            "This portal keeps its files in a local folder, which takes no multipart "
            "uploads: send the file to POST /api/v1/datasets/<slug>/uploads (direct upload "
            "only). 本平台仅支持直接上传。"
        )
    pending = PendingMultipart(
        key=key,
        upload_id=upload.upload_id,
        size=size,
        dataset_id=dataset.id,
        user_id=actor.user_id or "",
        file_name=file_name,
        sha256=sha256,
    )
    return MultipartStart(uploads.tokens.sign_multipart(pending), upload)


def _pending_for(uploads: Uploads, actor: Actor, dataset: Dataset, handle: str):
    pending = uploads.tokens.read_multipart(handle)
    if pending.dataset_id != dataset.id or pending.user_id != (actor.user_id or ""):
        raise NotFound("No such multipart upload for this dataset.")
    return pending


def complete_multipart_upload(
    session: Session,
    actor: Actor,
    uploads: Uploads,
    dataset_slug: str,
    handle: str,
    parts: list[tuple[int, str]],
    sha256: str | None = None,
) -> Proposal:
    """Join the parts the client sent, read the object once (verifying its size and the
    sha256 given at the start or here) and propose as ``stage_upload`` does. A refused
    upload is deleted from the store."""
    dataset = editable_dataset(session, actor, dataset_slug)
    pending = _pending_for(uploads, actor, dataset, handle)
    expected = check_sha256(sha256) or pending.sha256
    numbers = [number for number, _etag in parts]
    if not parts or len(set(numbers)) != len(numbers) or not all(e for _n, e in parts):
        raise InvalidInput({"parts": ["Give each part once, with the ETag the store sent."]})
    store = uploads.object_store
    try:
        store.complete_multipart_upload(pending.key, pending.upload_id, parts)
    except KeyError:
        raise NotFound("No such multipart upload (finished, aborted or expired).") from None
    except ValueError as error:
        raise InvalidInput({"parts": [f"The store cannot join these parts: {error}"]}) from None
    with tempfile.TemporaryFile() as spool:
        try:
            size, digest = spool_object(store, pending.key, spool)
            if size != pending.size:
                message = f"The parts hold {size} bytes, not the {pending.size} announced."
                raise InvalidInput({"size": [message]}, message)
            _check_received(size, digest, expected, None)
            received = _Received(size, digest)
            return _propose(
                uploads, actor, dataset, pending.key, pending.file_name, "", received, spool
            )
        except BaseException:
            forget_staged(store, pending.key)
            raise


def abort_multipart_upload(
    session: Session, actor: Actor, uploads: Uploads, dataset_slug: str, handle: str
) -> None:
    """Abandon a multipart upload and whatever of it reached the store."""
    dataset = editable_dataset(session, actor, dataset_slug)
    pending = _pending_for(uploads, actor, dataset, handle)
    uploads.object_store.abort_multipart_upload(pending.key, pending.upload_id)
    uploads.object_store.delete(pending.key)


# -- housekeeping -----------------------------------------------------------------------------


def remove_stale_uploads(object_store: ObjectStore, now: datetime | None = None) -> int:
    """Delete staged uploads whose tokens have expired (and multipart uploads left
    unfinished as long); returns how many went. Run by ``opendata uploads clean``."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=STAGED_SECONDS + CLEANUP_GRACE_SECONDS)
    return object_store.remove_older(STAGING_PREFIX, cutoff)


def forget_staged(store: ObjectStore, key: str) -> None:
    """Delete a staged object, without raising: see below."""
    # The caller's own error is what must be heard; an object left behind here is one the
    # cleanup removes once its token has expired.
    try:
        store.delete(key)
    except Exception:  # see above
        log.warning("could not delete the staged upload %s", key, exc_info=True)
