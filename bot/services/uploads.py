"""``/import``: a digest sent as a document (.md/.txt) or a URL, then the follow-ups the
maintainer picks from the summary: enqueue the new papers, plan the weekly digest post."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ImporterSettings
from bot.domain.keys import normalize_key
from bot.errors import DigestbotError
from bot.services.archive import ArchiveService, ImportReport
from bot.services.audit import Actor
from bot.services.queue import EnqueueReport, QueueService
from bot.services.sources import is_web_url
from bot.store import maintainer as repo
from bot.store import queue as queue_repo

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt")
MAX_NAME_CHARS = 200


class UploadError(DigestbotError):
    """A document or URL that cannot be imported; the message says why."""


@dataclass(frozen=True, slots=True)
class NewPaper:
    paper: str  # identity
    title: str | None
    headline: str
    issue_key: str
    pick: bool


@dataclass(slots=True)
class ImportOutcome:
    report: ImportReport
    issue_keys: list[str] = field(default_factory=list)  # imported (added, updated, unchanged)
    new_papers: list[NewPaper] = field(default_factory=list)  # not queued or posted yet
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        r = self.report
        parts = [
            f"{len(r.added)} added",
            f"{len(r.updated)} updated",
            f"{len(r.unchanged)} unchanged",
        ]
        if r.failed:
            parts.append(f"{len(r.failed)} failed")
        line = "import: " + ", ".join(parts)
        if self.issue_keys:
            line += f" ({', '.join(self.issue_keys)})"
        return line + f"; {len(self.new_papers)} new papers"


class UploadService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        archive: ArchiveService,
        queue: QueueService,
        importer: ImporterSettings,
    ) -> None:
        self._sessions = sessions
        self._archive = archive
        self._queue = queue
        self._importer = importer

    async def import_document(self, data: bytes, filename: str) -> ImportOutcome:
        """A digest file sent as a document: .md, .markdown or .txt, UTF-8, at most
        ``importer.max_bytes``."""
        name = PurePath(" ".join(filename.split())[:MAX_NAME_CHARS] or "document").name
        if not name.lower().endswith(DOCUMENT_SUFFIXES):
            raise UploadError(
                f"{name!r} is not a digest file: send a .md or .txt document "
                f"({', '.join(DOCUMENT_SUFFIXES)})"
            )
        if len(data) > self._importer.max_bytes:
            raise UploadError(
                f"{name} is too large: {len(data):,} bytes (at most "
                f"{self._importer.max_bytes:,}, setting importer.max_bytes)"
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UploadError(f"{name} is not UTF-8 text") from None
        if "\x00" in text:
            raise UploadError(f"{name} is not a text file")
        return await self._outcome(await self._archive.import_texts([(name, text)]))

    async def import_url(self, url: str) -> ImportOutcome:
        target = url.strip()
        if len(target) > 2000 or not is_web_url(target):
            raise UploadError(f"not an http(s) URL: {target[:80]!r}")
        return await self._outcome(await self._archive.import_targets([target]))

    async def _outcome(self, report: ImportReport) -> ImportOutcome:
        outcome = ImportOutcome(report)
        outcome.issue_keys = list(dict.fromkeys(i.key for i in report.imported))
        outcome.warnings = [f"{key}: {warning}" for key, warning in report.warnings]
        outcome.warnings += [f"{source}: {reason}" for source, reason in report.failed]
        if outcome.issue_keys:
            outcome.new_papers = await self.new_papers(outcome.issue_keys)
        return outcome

    async def new_papers(self, keys: list[str]) -> list[NewPaper]:
        """Papers of these issues that are neither queued nor posted, each once."""
        async with self._sessions() as session:
            rows = await repo.items_of_keys(session, keys)
            identities = await repo.paper_identities(
                session, {i.paper_id for i, _ in rows if i.paper_id is not None}
            )
            live = await queue_repo.live_paper_ids(session)
        seen: set[str] = set()
        found = []
        for item, key in rows:
            identity = identities.get(item.paper_id or 0)
            if identity is None or identity in live or identity in seen:
                continue
            seen.add(identity)
            found.append(NewPaper(identity, item.title, item.headline, key, item.pick))
        return found

    async def _key(self, issue_key: str) -> str:
        canonical = normalize_key(issue_key)
        if canonical is None or not await self._archive.languages(canonical):
            raise UploadError(f"no issue {issue_key[:40]!r} in the archive")
        return canonical

    async def enqueue_new_papers(
        self, issue_key: str, *, actor: Actor | None = None
    ) -> EnqueueReport:
        """One post per paper of the issue that is not queued or posted yet."""
        key = await self._key(issue_key)
        return await self._queue.enqueue_issues([key], digests=False, actor=actor)

    async def plan_weekly_post(
        self, issue_key: str, *, actor: Actor | None = None
    ) -> EnqueueReport:
        """The issue's announcement in the next free weekly digest slot (none when it is
        announced or queued already: ``digests`` is then empty)."""
        key = await self._key(issue_key)
        return await self._queue.enqueue_issues([key], papers=False, actor=actor)
