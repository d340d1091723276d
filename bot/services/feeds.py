"""Feed use cases: watch RSS/Atom feeds, import the digests they carry, poll them from the
worker with back-off, tell the maintainer about new issues and about feeds that keep failing.

The CLI (``digestbot feeds``) and the worker call these same functions. A fetch never holds a
database transaction open: the feed's row is read, the network is used, then the outcome is
written in one short transaction.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import FeedsSettings
from bot.domain.model import ParsedIssue
from bot.publish.notify import Notifier
from bot.services.archive import ArchiveService, ImportReport
from bot.services.feed_source import (
    FeedEntry,
    FeedError,
    Fetched,
    check_feed_url,
    fetch_feed,
    parse_feed,
)
from bot.services.queue import EnqueueReport, QueueService
from bot.store import feeds as repo
from bot.store.models import Feed

logger = logging.getLogger(__name__)

EntryOutcome = Literal["added", "updated", "unchanged", "skipped"]
MAX_SEEN = 1000  # item ids remembered per feed (a feed lists its latest 10-50)
CheckStatus = Literal["ok", "not_modified", "failed"]


@dataclass(frozen=True, slots=True)
class FeedView:
    url: str
    enqueue: bool
    title: str | None
    checked_at: datetime | None
    ok_at: datetime | None
    failing_since: datetime | None
    failures: int
    last_error: str | None
    next_check_at: datetime | None
    etag: str | None = None
    last_modified: str | None = None
    seen: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What became of one feed item: imported (added/updated/unchanged) or skipped (why)."""

    title: str
    link: str | None
    outcome: EntryOutcome
    key: str | None = None
    language: str | None = None
    reason: str | None = None
    id: str | None = None  # the item's guid / Atom id
    new: bool = False  # not among the items read before (and not the first check)


@dataclass(slots=True)
class FeedCheck:
    url: str
    status: CheckStatus
    error: str | None = None
    entries: list[EntryResult] = field(default_factory=list)
    issues: list[ParsedIssue] = field(default_factory=list)  # added or updated
    enqueued: EnqueueReport | None = None
    queued_keys: list[str] = field(default_factory=list)  # the issues enqueue_issues was given
    baseline: bool = False  # the feed's first successful read: its items are the backlog

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def _view(feed: Feed) -> FeedView:
    return FeedView(
        feed.url,
        feed.enqueue,
        feed.title,
        feed.checked_at,
        feed.ok_at,
        feed.failing_since,
        feed.failures,
        feed.last_error,
        feed.next_check_at,
        feed.etag,
        feed.last_modified,
        tuple(feed.seen or ()),
    )


def entry_text(entry: FeedEntry) -> str:
    """The HTML imported for an item: its title as a heading (Medium's feed content often
    starts without it), the base its relative links resolve against, then its content."""
    head = f"<h1>{html.escape(entry.title)}</h1>\n" if entry.title else "<div></div>"
    if entry.base and entry.base.lower().startswith(("http://", "https://")):
        head += f'<base href="{html.escape(entry.base)}">\n'
    return head + entry.html


class FeedService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: FeedsSettings,
        archive: ArchiveService,
        queue: QueueService,
        notifier: Callable[[], Notifier],
        http: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock  # measures back-off and failing time (the real clock)
        self._settings = settings
        self._archive = archive
        self._queue = queue
        self._notifier = notifier
        self._http = http or self._default_http

    def _default_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._settings.timeout_seconds,
            headers={"User-Agent": "digestbot (+https://github.com/digestbot)"},
        )

    # --- the list of feeds -------------------------------------------------------------------

    async def add(self, url: str, *, enqueue: bool = False) -> tuple[FeedView, bool]:
        """Watch ``url`` (its ``enqueue`` setting is updated when it is watched already);
        returns the feed and whether it is new."""
        url = check_feed_url(url)
        now = self._clock()
        async with self._sessions.begin() as session:
            feed = await repo.get_feed(session, url)
            if feed is not None:
                feed.enqueue, feed.updated_at = enqueue, now
                return _view(feed), False
            return _view(await repo.add_feed(session, url, enqueue=enqueue, now=now)), True

    async def feeds(self) -> list[FeedView]:
        async with self._sessions() as session:
            return [_view(f) for f in await repo.list_feeds(session)]

    async def remove(self, url: str) -> None:
        async with self._sessions.begin() as session:
            if not await repo.remove_feed(session, url.strip()):
                raise FeedError(f"{url.strip()!r} is not watched (see `digestbot feeds list`)")

    # --- checking ----------------------------------------------------------------------------

    async def check(
        self, urls: Sequence[str] = (), *, enqueue: bool | None = None, force: bool = False
    ) -> list[FeedCheck]:
        """Fetch every watched feed (or those of ``urls``) once, now, whatever its back-off.

        ``enqueue`` None: each feed's own setting (new items are queued, the backlog found by
        the first check is not); True: queue every issue the feed carries (like ``import
        --enqueue``; the feed is read in full); False: queue nothing. ``force``: an
        unconditional request (the whole feed is read even when unchanged)."""
        async with self._sessions() as session:
            feeds = [_view(f) for f in await repo.list_feeds(session)]
        if urls:
            wanted = {u.strip() for u in urls}
            unknown = wanted - {f.url for f in feeds}
            if unknown:
                missing = ", ".join(sorted(unknown))
                raise FeedError(f"not watched: {missing} (`digestbot feeds add URL` first)")
            feeds = [f for f in feeds if f.url in wanted]
        return await self._check_all(feeds, enqueue, force=force or enqueue is True)

    async def poll(self) -> list[FeedCheck]:
        """The worker's job: check the feeds whose back-off is over; tell the maintainer about
        new or edited issues."""
        async with self._sessions() as session:
            feeds = [_view(f) for f in await repo.due_feeds(session, self._clock())]
        checks = await self._check_all(feeds, None)
        for check in checks:
            if check.issues:
                keys = list(dict.fromkeys(i.key for i in check.issues))
                unqueued = [k for k in keys if k not in check.queued_keys]
                if check.baseline or not unqueued:  # nothing to decide: no buttons
                    await self._notifier().alert(new_issues_note(check), issue_keys=keys)
                else:  # Enqueue papers / Plan weekly post / Skip, per issue left unqueued
                    await self._notifier().alert(
                        new_issues_note(check), kind="issue", issue_keys=unqueued
                    )
        return checks

    async def _check_all(
        self, feeds: list[FeedView], enqueue: bool | None, *, force: bool = False
    ) -> list[FeedCheck]:
        if not feeds:
            return []
        client = self._http()
        try:
            return [await self._check_one(client, feed, enqueue, force) for feed in feeds]
        finally:
            await client.aclose()

    async def _check_one(
        self, client: httpx.AsyncClient, feed: FeedView, enqueue: bool | None, force: bool
    ) -> FeedCheck:
        s = self._settings
        try:
            fetched = await fetch_feed(
                client,
                feed.url,
                etag=None if force else feed.etag,
                last_modified=None if force else feed.last_modified,
                max_bytes=s.max_bytes,
                max_redirects=s.max_redirects,
                deadline_seconds=s.timeout_seconds,
            )
            if fetched.status == "not_modified":
                await self._succeeded(feed, fetched, None, [])
                return FeedCheck(feed.url, "not_modified")
            parsed = parse_feed(fetched.body, fetched.url, fetched.content_type)
        except FeedError as exc:
            return await self._failed(feed, str(exc))
        check = FeedCheck(feed.url, "ok", baseline=feed.ok_at is None)
        seen = set(feed.seen)
        texts: list[tuple[str, str]] = []
        names: dict[str, FeedEntry] = {}
        for entry in parsed.entries:
            if not entry.html.strip():
                reason = "the item has no content"
                check.entries.append(
                    EntryResult(entry.title, entry.link, "skipped", reason=reason, id=entry.id)
                )
                continue
            name = entry.link or entry.id
            names[name] = entry
            texts.append((name, entry_text(entry)))
        report = await self._archive.import_texts(texts) if texts else ImportReport()
        new = set() if check.baseline else {e.id for e in parsed.entries} - seen
        check.entries.extend(_results(report, names, new))
        check.issues = list(report.issues)
        keys = await self._keys_to_enqueue(feed, check, enqueue)
        if keys is not None:
            check.queued_keys = keys
            check.enqueued = (
                await self._queue.enqueue_issues(keys, skip_dropped=enqueue is None)
                if keys
                else EnqueueReport()
            )
        await self._succeeded(feed, fetched, parsed.title, [e.id for e in parsed.entries])
        return check

    async def _keys_to_enqueue(
        self, feed: FeedView, check: FeedCheck, enqueue: bool | None
    ) -> list[str] | None:
        """The issue keys to queue, None when this check queues nothing. By the feed's own
        setting: new items' issues, and edited items' issues that were queued before (their
        new papers); never the backlog the first check finds."""
        if enqueue is False or (enqueue is None and not feed.enqueue):
            return None
        found = [e for e in check.entries if e.key is not None]
        if enqueue:  # asked for: everything the feed carries
            return list(dict.fromkeys(e.key for e in found if e.key))
        if check.baseline:
            return None
        changed = [e for e in found if e.outcome in ("added", "updated")]
        edited = [e.key for e in changed if e.key and not e.new]
        queued_before: set[str] = set()
        if edited:
            async with self._sessions() as session:
                queued_before = await repo.keys_with_posts(session, edited)
        keys = [e.key for e in changed if e.key and (e.new or e.key in queued_before)]
        return list(dict.fromkeys(keys))

    async def _succeeded(
        self, feed: FeedView, fetched: Fetched, title: str | None, ids: list[str]
    ) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            row = await repo.get_feed(session, feed.url)
            if row is None:  # removed while it was being fetched
                return
            recovered = row.alerted
            row.checked_at = row.ok_at = row.updated_at = now
            row.etag, row.last_modified = fetched.etag, fetched.last_modified
            row.title = title or row.title
            if ids:  # remembered, newest last, at most MAX_SEEN
                known = [i for i in (row.seen or []) if i not in set(ids)]
                row.seen = [*known, *ids][-MAX_SEEN:]
            row.failures, row.failing_since, row.next_check_at = 0, None, None
            row.last_error, row.alerted = None, False
        if recovered:
            await self._notifier().alert(f"feed {feed.url} works again")

    async def _failed(self, feed: FeedView, error: str) -> FeedCheck:
        """Back off (poll interval doubled per failure, capped); after
        ``feeds.alert_after_hours`` of failures, alert the maintainer once."""
        s = self._settings
        now = self._clock()
        alert: str | None = None
        async with self._sessions.begin() as session:
            row = await repo.get_feed(session, feed.url)
            if row is None:
                return FeedCheck(feed.url, "failed", error)
            row.failures += 1
            row.failing_since = row.failing_since or now
            row.checked_at = row.updated_at = now
            row.last_error = error[:1000]
            wait = min(s.poll_minutes * 2 ** min(row.failures - 1, 20), s.backoff_cap_minutes)
            row.next_check_at = now + timedelta(minutes=wait)
            failing = now - row.failing_since
            if not row.alerted and failing >= timedelta(hours=s.alert_after_hours):
                row.alerted = True
                alert = (
                    f"feed {feed.url} has failed for {failing.total_seconds() / 3600:.0f} h "
                    f"({row.failures} tries): {error}"
                )
        logger.warning("feed %s failed: %s", feed.url, error)
        if alert is not None:
            await self._notifier().alert(alert)
        return FeedCheck(feed.url, "failed", error)


def _results(
    report: ImportReport, names: dict[str, FeedEntry], new: set[str]
) -> list[EntryResult]:
    out: list[EntryResult] = []
    for imported in report.imported:
        entry = names.get(imported.source)
        out.append(
            EntryResult(
                entry.title if entry else imported.source,
                entry.link if entry else None,
                imported.outcome,
                imported.key,
                imported.language,
                id=entry.id if entry else None,
                new=entry is not None and entry.id in new,
            )
        )
    for source, reason in report.failed:
        entry = names.get(source)
        title = entry.title if entry else source
        ident = entry.id if entry else None
        link = entry.link if entry else None
        out.append(EntryResult(title, link, "skipped", reason=reason, id=ident))
    return out


def new_issues_note(check: FeedCheck) -> str:
    """The maintainer's message about the new or edited issues one check imported."""
    if check.baseline:
        keys = ", ".join(f"{i.key} ({i.language})" for i in check.issues)
        return (
            f"first check of {check.url}: imported {len(check.issues)} issues already on the "
            f"feed: {keys}; this backlog is not queued (`digestbot feeds check --enqueue "
            f"{check.url}` queues it); new items will be"
        )
    lines = []
    for issue in check.issues:
        ident = (issue.key, issue.language)
        entry = next((e for e in check.entries if (e.key, e.language) == ident), None)
        picks = sum(1 for i in issue.items if i.pick)
        lines.append(
            f"{'new' if entry is None or entry.new else 'edited'} digest {issue.key} "
            f"({issue.language}) from {check.url}: {issue.title}; {len(issue.items)} items, "
            f"{picks} picks, {len(issue.warnings)} warnings"
        )
    if check.enqueued is not None:
        lines.append(
            f"queued {len(check.enqueued.papers)} paper posts and {len(check.enqueued.digests)} "
            f"digest posts ({check.enqueued.already_known} already queued or posted)"
        )
    else:
        links = [e.link for e in check.entries if e.link and e.outcome in ("added", "updated")]
        target = links[0] if len(links) == 1 else "LINK"
        lines.append(f"not queued: `digestbot import --enqueue {target}` queues its papers")
    return "\n".join(lines)
