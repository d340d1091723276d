"""Subscriber use cases: /start, /subscribe, /unsubscribe, settings, blocked and migrated chats.

Every call is one unit of work (one session, committed here) and returns a frozen snapshot.
Snapshots read by ``get`` are kept until the database changes (``bot.services.read_cache``):
a returning user's /start or /settings reads nothing, and /start writes only when it changes
something (a new chat, a blocked one back). With ``quiet_writes`` (SQLite: the change signal
the browsing answers are kept under), a subscriber's own changes are written on that signal's
connection, in one worker-thread hop: they do not empty the archive's kept answers (which
never read subscribers), while every other connection and process sees them at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Literal, cast, get_args

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import ScheduleSettings
from bot.domain.quiet import BadQuietTime, UnknownTimezone, normalize_hhmm, zone
from bot.errors import DigestbotError
from bot.services.read_cache import ReadCache
from bot.store import subscribers as repo
from bot.store.data_version import DataVersion, SqliteDataVersion, data_version
from bot.store.models import Subscriber as SubscriberRow

logger = logging.getLogger(__name__)

Receive = Literal["drip", "digest", "both"]
Language = Literal["en", "zh"]
State = Literal["active", "inactive", "blocked"]
RECEIVE: tuple[Receive, ...] = get_args(Receive)
LANGUAGES: tuple[Language, ...] = get_args(Language)
KEPT_SUBSCRIBERS = 4096  # snapshots kept until the database changes


class InvalidSetting(DigestbotError):
    """A setting the user chose cannot be used (a time like 25:00, an unknown time zone)."""


@dataclass(frozen=True, slots=True)
class Subscriber:
    chat_id: int
    language: Language
    receive: Receive
    quiet_start: str | None  # "HH:MM" in ``timezone``; None: no quiet hours
    quiet_end: str | None
    timezone: str  # IANA
    state: str  # "active" (subscribed) | "inactive" (started or unsubscribed) | "blocked"


def language_from_code(language_code: str | None) -> Language:
    """Telegram's ``language_code`` (``zh-hans``, ``en-US``, None) -> the bot's language."""
    return "zh" if (language_code or "").strip().lower().startswith("zh") else "en"


def _snapshot(row: SubscriberRow) -> Subscriber:
    return Subscriber(
        chat_id=row.chat_id,
        language=cast(Language, row.language),
        receive=cast(Receive, row.receive),
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        timezone=row.timezone,
        state=row.state,
    )


def _reachable(row: SubscriberRow) -> None:
    """The chat talks to us, so it is not blocked: back to its subscription choice."""
    if row.state == "blocked":
        row.state = "active" if row.subscribed else "inactive"


class SubscriberService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        schedule: ScheduleSettings,
        *,
        version: DataVersion | None = None,
        quiet_writes: DataVersion | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._schedule = schedule
        self._quiet = quiet_writes if isinstance(quiet_writes, SqliteDataVersion) else None
        if version is None:
            version = data_version(sessions.kw["bind"].sync_engine)
        self.cache: ReadCache[Subscriber | None] = ReadCache(version, KEPT_SUBSCRIBERS)

    @property
    def writes_quietly(self) -> bool:
        """Whether changes are written on the browsing answers' signal (``quiet_writes``)."""
        return self._quiet is not None

    async def get(self, chat_id: int) -> Subscriber | None:
        """The chat's settings and state (None: never seen), kept until the database
        changes."""
        return await self.cache.get(chat_id, lambda: self._read(chat_id))

    async def _read(self, chat_id: int) -> Subscriber | None:
        async with self._sessions() as session:
            row = await repo.find(session, chat_id)
            return _snapshot(row) if row is not None else None

    async def start(self, chat_id: int, language_code: str | None) -> Subscriber:
        """/start: a new chat is created inactive; a blocked one returns to its previous
        choice (active if it was subscribed). Settings are kept. A known chat that is not
        blocked is left as it is (nothing written)."""
        found = await self.get(chat_id)
        if found is not None and found.state != "blocked":
            return found
        return await self._change(chat_id, language_code, _reachable)

    async def subscribe(self, chat_id: int, language_code: str | None = None) -> Subscriber:
        found = await self.get(chat_id)
        if found is not None and found.state == "active":
            return found  # nothing to write (a second press of Subscribe)

        def subscribe(row: SubscriberRow) -> None:
            row.state, row.subscribed = "active", True

        return await self._change(chat_id, language_code, subscribe)

    async def unsubscribe(self, chat_id: int) -> Subscriber:
        found = await self.get(chat_id)
        if found is not None and found.state == "inactive":
            return found

        def unsubscribe(row: SubscriberRow) -> None:
            row.state, row.subscribed = "inactive", False

        return await self._change(chat_id, None, unsubscribe)

    async def update(
        self,
        chat_id: int,
        *,
        receive: Receive | None = None,
        language: Language | None = None,
        quiet: tuple[str, str] | None = None,
        clear_quiet: bool = False,
        timezone: str | None = None,
    ) -> Subscriber:
        """Change settings (only those given). Raises InvalidSetting with a message for the
        user; nothing is changed then. Settings already in effect (a button pressed twice)
        write nothing."""
        if receive is not None and receive not in RECEIVE:
            raise InvalidSetting(f"unknown choice {str(receive)[:20]!r}: drip, digest or both")
        if language is not None and language not in LANGUAGES:
            raise InvalidSetting(f"unknown language {str(language)[:20]!r}: en or zh")
        hours = _quiet_hours(quiet) if quiet is not None and not clear_quiet else None
        if timezone is not None:
            try:
                timezone = zone(timezone).key
            except UnknownTimezone as exc:
                hint = "use a name like Europe/Berlin or Asia/Shanghai"
                raise InvalidSetting(f"{exc} ({hint})") from exc

        found = await self.get(chat_id)
        if found is not None and found.state != "blocked":
            quiet_now = (found.quiet_start, found.quiet_end)
            if (
                (receive is None or receive == found.receive)
                and (language is None or language == found.language)
                and (timezone is None or timezone == found.timezone)
                and (quiet_now == (None, None) if clear_quiet else hours in (None, quiet_now))
            ):
                return found

        def change(row: SubscriberRow) -> None:
            _reachable(row)
            if receive is not None:
                row.receive = receive
            if language is not None:
                row.language = language
            if clear_quiet:
                row.quiet_start = row.quiet_end = None
            elif hours is not None:
                row.quiet_start, row.quiet_end = hours
            if timezone is not None:
                row.timezone = timezone

        return await self._change(chat_id, None, change)

    async def mark_blocked(self, chat_id: int) -> None:
        """403 blocked / deactivated / chat not found, or a my_chat_member "kicked": never sent
        to again until /start. Unknown chats are ignored. Silent: only logged."""
        async with self._sessions.begin() as session:
            changed = await repo.block(session, chat_id, self._clock())
        if changed:
            logger.info("chat %s blocked the bot: marked blocked", chat_id)

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """ChatMigrated: the chat's row (settings and state) moves to the new id."""
        if old_chat_id == new_chat_id:
            return
        async with self._sessions.begin() as session:
            await repo.rekey(session, old_chat_id, new_chat_id, self._clock())
        logger.info("chat %s migrated to %s", old_chat_id, new_chat_id)

    async def counts(self) -> dict[str, int]:
        """{"active": n, "inactive": n, "blocked": n}"""
        async with self._sessions() as session:
            return await repo.state_counts(session)

    async def _change(
        self,
        chat_id: int,
        language_code: str | None,
        change: Callable[[SubscriberRow], None],
    ) -> Subscriber:
        """Load (creating it when unknown) and change one subscriber, then commit. Two first
        messages of a new chat at once: the loser of the insert race retries on the row."""
        for attempt in range(2):
            try:
                if self._quiet is not None:
                    work = partial(self._change_sync, chat_id, language_code, change, self._clock())
                    return await asyncio.to_thread(self._quiet.write, work)
                return await self._change_async(chat_id, language_code, change)
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _change_async(
        self, chat_id: int, language_code: str | None, change: Callable[[SubscriberRow], None]
    ) -> Subscriber:
        async with self._sessions.begin() as session:
            now = self._clock()
            row = await repo.find(session, chat_id, for_update=True)
            if row is None:
                row = self._add(session, chat_id, language_code, now)
            change(row)
            row.updated_at = now
            await session.flush()
            return _snapshot(row)

    def _change_sync(
        self,
        chat_id: int,
        language_code: str | None,
        change: Callable[[SubscriberRow], None],
        now: datetime,
        session: Session,
    ) -> Subscriber:
        """The same on a synchronous session (``quiet_writes``: in a worker thread)."""
        row = repo.find_sync(session, chat_id, for_update=True)
        if row is None:
            row = self._add(session, chat_id, language_code, now)
        change(row)
        row.updated_at = now
        session.flush()
        return _snapshot(row)

    def _add(
        self,
        session: AsyncSession | Session,
        chat_id: int,
        language_code: str | None,
        now: datetime,
    ) -> SubscriberRow:
        return repo.add(
            session,
            chat_id,
            language=language_from_code(language_code),
            timezone=self._schedule.timezone,
            now=now,
        )


def _quiet_hours(quiet: tuple[str, str]) -> tuple[str, str]:
    try:
        start, end = normalize_hhmm(quiet[0]), normalize_hhmm(quiet[1])
    except BadQuietTime as exc:
        raise InvalidSetting(f"quiet hours: {exc}") from exc
    if start == end:
        raise InvalidSetting("quiet hours must start and end at different times")
    return start, end
