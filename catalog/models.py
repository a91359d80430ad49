"""The catalog's tables, as SQLAlchemy 2 typed models (SQLite and PostgreSQL alike)."""

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from catalog.vocab import DatasetState, Role

# Stable constraint names so Alembic migrations read the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# None is stored as SQL NULL, not as the JSON text null.
JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict[str, Any]: JsonType}


dataset_themes = Table(
    "dataset_themes",
    Base.metadata,
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("theme_id", ForeignKey("themes.id", ondelete="CASCADE"), primary_key=True),
)

dataset_tags = Table(
    "dataset_tags",
    Base.metadata,
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Department(Base):
    """A department (CKAN's organisation) that owns datasets."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    code: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    datasets: Mapped[list["Dataset"]] = relationship(back_populates="department")


class Theme(Base):
    """A theme (CKAN's group) datasets are filed under."""

    __tablename__ = "themes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class License(Base):
    __tablename__ = "licenses"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(500), default="")


class Dataset(Base):
    """A dataset (CKAN's package) with the core fields of the resource catalog as columns."""

    __tablename__ = "datasets"
    __table_args__ = (
        Index("ix_datasets_department_state", "department_id", "state"),
        Index("ix_datasets_visibility", "state", "open_type", "share_type"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))
    license_id: Mapped[str | None] = mapped_column(ForeignKey("licenses.id"))
    # 信息资源代码 and the provider (提供方), which may differ from the owning department.
    resource_code: Mapped[str | None] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(200), default="")
    provider_code: Mapped[str] = mapped_column(String(50), default="")
    open_type: Mapped[str] = mapped_column(String(20))
    open_condition: Mapped[str] = mapped_column(Text, default="")
    share_type: Mapped[str] = mapped_column(String(20))
    share_condition: Mapped[str] = mapped_column(Text, default="")
    share_method: Mapped[str] = mapped_column(String(20), default="file")
    update_frequency: Mapped[str] = mapped_column(String(20), default="other")
    release_date: Mapped[date | None] = mapped_column(Date)
    related_resource_codes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    temporal_start: Mapped[date | None] = mapped_column(Date)
    temporal_end: Mapped[date | None] = mapped_column(Date)
    spatial: Mapped[str] = mapped_column(String(200), default="")
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    state: Mapped[str] = mapped_column(String(20), default=DatasetState.DRAFT.value)
    version: Mapped[str] = mapped_column(String(50), default="1.0")
    extras: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Bumped on every change; the ETag of the dataset's representations.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship(back_populates="datasets")
    license: Mapped[License | None] = relationship()
    themes: Mapped[list[Theme]] = relationship(secondary=dataset_themes, order_by=Theme.slug)
    tags: Mapped[list[Tag]] = relationship(secondary=dataset_tags, order_by=Tag.name)
    resources: Mapped[list["Resource"]] = relationship(
        back_populates="dataset",
        order_by="Resource.position",
        cascade="all, delete-orphan",
    )


class Resource(Base):
    """A file or API of a dataset: an external URL or an object in the object store."""

    __tablename__ = "resources"
    __table_args__ = (
        CheckConstraint("(url IS NULL) <> (storage_key IS NULL)", name="url_or_object"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(50), default="")
    media_type: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    storage_key: Mapped[str | None] = mapped_column(String(1000))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # 信息项: [{"name", "title", "type", "sensitive"}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    row_count: Mapped[int | None] = mapped_column(Integer)
    # The version of the stored file; each replacement keeps the earlier ones as
    # ResourceVersion rows, so their objects stay fetchable.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="resources")


class ResourceVersion(Base):
    """One stored version of a resource's file, the current one included."""

    __tablename__ = "resource_versions"

    resource_id: Mapped[str] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DownloadCount(Base):
    """Downloads of a resource's file (or exports of its records) on one day (UTC)."""

    __tablename__ = "download_counts"

    resource_id: Mapped[str] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(500))
    sysadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class Membership(Base):
    """A user's role in a department: member (reads), editor and admin (change datasets)."""

    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    department_id: Mapped[str] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), default=Role.MEMBER.value)

    user: Mapped[User] = relationship(back_populates="memberships")
    department: Mapped[Department] = relationship()


class ApiToken(Base):
    """An API token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so a user can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()


class Grant(Base):
    """Access to one dataset's data given to a department or a user, until it expires."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("(department_id IS NULL) <> (user_id IS NULL)", name="one_grantee"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[str | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE")
    )
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(Base):
    """Who did what, when, with the object before and after: one row per change."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(String(36))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(36))
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class SearchOutbox(Base):
    """A dataset whose search document must be rewritten (or removed).

    Written in the same transaction as the change, so no change can miss the index; a
    worker drains it and retries while the engine is down.
    """

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(36), index=True)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class SynonymSet(Base):
    """Words a search treats as the same (医保 / 医疗保险), edited by sysadmins."""

    __tablename__ = "synonym_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terms: Mapped[list[str]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HarvestSource(Base):
    """A department's source system the harvesters sync from (a CKAN portal, a DCAT
    catalog, a data.json, a file URL or folder, a SQL query, an S3 prefix)."""

    __tablename__ = "harvest_sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    department_id: Mapped[str] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # A registered source type (entry point group opendata.harvest_sources): ckan, dcat, ...
    kind: Mapped[str] = mapped_column(String(50))
    # The URL the source type reads: http(s)://, file:///folder, s3://bucket/prefix, or an
    # SQLAlchemy URL; credentials are never stored here (config names an env variable).
    url: Mapped[str] = mapped_column(String(2000))
    # Source-type options (a query, a page size, a sheet); checked by the source type.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Values given to the datasets it creates: open_type, share_type, state, themes, ...
    dataset_defaults: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Five-field cron expression in UTC (minute hour day month weekday); None: manual only.
    schedule: Mapped[str | None] = mapped_column(String(100))
    # What happens to a dataset whose object is gone from the source: withdraw or keep.
    on_missing: Mapped[str] = mapped_column(String(20), default="withdraw")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()


class HarvestJob(Base):
    """One run of a harvest source: its status, lease, counts and error."""

    __tablename__ = "harvest_jobs"
    __table_args__ = (
        # One job per source at a time, kept by the database itself.
        Index(
            "uq_harvest_jobs_active_source",
            "source_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(
        ForeignKey("harvest_sources.id", ondelete="CASCADE"), index=True
    )
    # queued, running, succeeded, failed, cancelled, lost (its worker stopped answering)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual, schedule
    triggered_by_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # The lease: the worker holding the job renews heartbeat_at and lease_expires_at while
    # it runs; a running job whose lease has expired is lost and may be taken again.
    worker: Mapped[str] = mapped_column(String(200), default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # Why the whole job failed (the source did not answer, ...); per-object errors are rows.
    error: Mapped[str] = mapped_column(Text, default="")

    source: Mapped[HarvestSource] = relationship()


class HarvestObject(Base):
    """What the harvester remembers of one object of a source: its identity, the dataset
    made from it and the hashes that tell an unchanged object from a changed one."""

    __tablename__ = "harvest_objects"
    __table_args__ = (UniqueConstraint("source_id", "remote_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(
        ForeignKey("harvest_sources.id", ondelete="CASCADE"), index=True
    )
    # The object's identity in the source (CKAN id, DCAT IRI, data.json identifier, URL).
    remote_id: Mapped[str] = mapped_column(String(1000))
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), index=True
    )
    # sha256 of the normalised metadata; per resource, its remote identity mapped to
    # {"resource_id", "sha256", "etag", "last_modified", "size"}.
    metadata_hash: Mapped[str] = mapped_column(String(64), default="")
    resources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column()


class HarvestError(Base):
    """One object a harvest job could not take, with the raw payload it could not take."""

    __tablename__ = "harvest_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        ForeignKey("harvest_jobs.id", ondelete="CASCADE"), index=True
    )
    remote_id: Mapped[str] = mapped_column(String(1000), default="")
    stage: Mapped[str] = mapped_column(String(20))  # gather, fetch, import
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ExportJob(Base):
    """A record export too big to stream in one request, written to the object store by a
    worker and handed to its requester by id. No foreign keys: the row outlives a deleted
    dataset so that the expiry sweep still finds and deletes its file."""

    __tablename__ = "export_jobs"

    # A random UUID: for an anonymous requester, holding the id is the only key.
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(String(36))
    resource_id: Mapped[str] = mapped_column(String(36))
    requested_by_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # The RecordQuery's q, filters and sort as JSON; the format's ExportOptions.
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    format: Mapped[str] = mapped_column(String(20))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # queued, running, succeeded, failed, expired (its file deleted)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    row_estimate: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    masked_fields: Mapped[list[str]] = mapped_column(JsonType, default=list)
    # The file holds sensitive fields in clear: only who may still see them gets it.
    sensitive_unmasked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    storage_key: Mapped[str | None] = mapped_column(String(1000))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text, default="")
