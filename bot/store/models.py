"""SQLAlchemy 2 typed models. Alembic migrations in migrations/ must match these exactly."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Issue(Base):
    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))  # en, zh, ja: an issue is key + language
    kind: Mapped[str] = mapped_column(String(8))
    year: Mapped[int]
    week: Mapped[int | None]
    month: Mapped[int | None]
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    picks: Mapped[list[str]]
    warnings: Mapped[list[str]]
    neighbours: Mapped[list[str]]
    source: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    items: Mapped[list[Item]] = relationship(
        back_populates="issue", cascade="all, delete-orphan", order_by="Item.position"
    )

    __table_args__ = (
        CheckConstraint("kind IN ('weekly', 'monthly')", name="kind"),
        UniqueConstraint("key", "language", name="uq_issues_key_language"),
        Index("ix_issues_year", "year"),
        Index("ix_issues_content_hash", "content_hash"),
        Index("ix_issues_kind_start_date", "kind", "start_date"),  # prev/next week
        Index("ix_issues_kind_end_date", "kind", "end_date"),  # the newest issue
    )


class Paper(Base):
    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity: Mapped[str] = mapped_column(Text, unique=True)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime]


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    position: Mapped[int]
    section: Mapped[str] = mapped_column(String(16))
    headline: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    paper_id: Mapped[int | None] = mapped_column(ForeignKey("papers.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(Text)
    images: Mapped[list[str]]
    pick: Mapped[bool] = mapped_column(Boolean, default=False)

    issue: Mapped[Issue] = relationship(back_populates="items")
    paper: Mapped[Paper | None] = relationship()

    __table_args__ = (
        UniqueConstraint("issue_id", "position", name="uq_items_issue_position"),
        CheckConstraint("section IN ('papers', 'articles', 'use_cases', 'other')", name="section"),
        Index("ix_items_paper_id", "paper_id"),
    )


POST_STATES = ("queued", "sending", "sent", "failed", "cancelled")
DELIVERY_STATES = ("pending", "sending", "sent", "failed", "dead", "parked", "cancelled")


class Post(Base):
    """One queue entry: a paper comment or a weekly digest announcement."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    paper_id: Mapped[int | None] = mapped_column(ForeignKey("papers.id", ondelete="RESTRICT"))
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    rank: Mapped[int]
    slot: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(12), default="queued")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    paper: Mapped[Paper | None] = relationship()
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="post", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("kind IN ('paper', 'digest')", name="kind"),
        CheckConstraint(
            "state IN ('queued', 'sending', 'sent', 'failed', 'cancelled')", name="state"
        ),
        Index(
            "uq_posts_paper_live",
            "paper_id",
            unique=True,
            sqlite_where=sql_text("kind = 'paper' AND state != 'cancelled'"),
            postgresql_where=sql_text("kind = 'paper' AND state != 'cancelled'"),
        ),
        Index(  # a cancelled announcement does not block a new one
            "uq_posts_digest_issue",
            "issue_id",
            unique=True,
            sqlite_where=sql_text("kind = 'digest' AND state != 'cancelled'"),
            postgresql_where=sql_text("kind = 'digest' AND state != 'cancelled'"),
        ),
        Index("ix_posts_state_slot", "state", "slot"),
    )


class Delivery(Base):
    """One post to one destination: the ledger row that makes sending safe."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    destination: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    remote_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)  # unknown-outcome resends
    cost_usd: Mapped[float | None] = mapped_column(Float)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    post: Mapped[Post] = relationship(back_populates="deliveries")

    __table_args__ = (
        UniqueConstraint("post_id", "destination", name="uq_deliveries_post_destination"),
        CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'dead', 'parked', 'cancelled')",
            name="state",
        ),
        Index("ix_deliveries_state_due", "state", "due_at"),
        Index("ix_deliveries_sent_at", "sent_at"),  # the X budget and Telegram's pace
    )


class Setting(Base):
    """Small runtime state that must survive restarts (queue paused, platform pauses)."""

    __tablename__ = "runtime_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


SUBSCRIBER_STATES = ("active", "inactive", "blocked")
RECEIVE_CHOICES = ("drip", "digest", "both")


class Subscriber(Base):
    """A Telegram private chat that talks to the bot. ``state``: active (subscribed), inactive
    (started or unsubscribed), blocked (the bot cannot reach it); ``subscribed`` remembers the
    choice across a block, so /start after a block restores it."""

    __tablename__ = "subscribers"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(8))
    receive: Mapped[str] = mapped_column(String(8), default="both")
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # HH:MM in ``timezone``
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="inactive")
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("state IN ('active', 'inactive', 'blocked')", name="state"),
        CheckConstraint("receive IN ('drip', 'digest', 'both')", name="receive"),
        Index("ix_subscribers_state_receive", "state", "receive"),
    )


class AuditEntryRow(Base):
    """One maintainer change to the queue (issue 8): who, what, and the state before and after
    (JSON), written in the same transaction as the change. ``undone_by``: the id of the undo
    entry that reverted it. ``post_id`` is no foreign key: the log outlives what it describes."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    verb: Mapped[str] = mapped_column(String(16))
    post_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    undone_by: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class Feed(Base):
    """An RSS or Atom feed the worker polls for new digests (issue 9). ``etag`` and
    ``last_modified`` make the next request conditional; ``failing_since`` / ``failures`` /
    ``next_check_at`` are the back-off; ``alerted``: the maintainer was told of this streak;
    ``seen``: the item ids read so far (an item not among them is new, one among them edited)."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    enqueue: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None]
    ok_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    seen: Mapped[list[str]]  # ids of the items read so far (newest last, bounded)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# the reply stamps' table (bot.store.stamps: Telegram's shared budget) is part of the schema
from bot.store import stamps as _stamps  # noqa: E402,F401  (registers reply_stamps)
