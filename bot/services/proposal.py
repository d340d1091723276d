"""``/add URL`` without a comment: propose one, and warn when the paper is already covered.

The proposal is the item's headline when the paper is in the archive, else the title and the
first sentence of its abstract from the arXiv API (arXiv papers only), cut to fit X.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ArxivSettings
from bot.domain.arxiv_feed import fit
from bot.domain.papers import arxiv_id, normalize_url, paper_identity
from bot.services.arxiv import ArxivClient
from bot.services.queue import MAX_X_WEIGHT, QueueError, QueueService
from bot.store import maintainer as repo

Source = Literal["archive", "arxiv", "none"]
MAX_URL_CHARS = 2000


@dataclass(slots=True)
class Proposal:
    url: str  # normalized
    paper: str  # identity: arxiv:<id> or the normalized URL
    text: str | None  # the proposed comment; None: the maintainer gives one
    source: Source
    warnings: list[str] = field(default_factory=list)
    blocked: bool = False  # already queued or posted: ``add`` would refuse it


class ProposalService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: QueueService,
        settings: ArxivSettings,
        *,
        client: Callable[[], ArxivClient] | None = None,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._client = client or (lambda: ArxivClient(settings))

    async def propose(self, url: str) -> Proposal:
        """QueueError for an unusable URL; ArxivError when arXiv is needed and cannot answer
        (the warnings about earlier coverage are then lost: they come again with the add)."""
        raw = url.strip()
        if len(raw) > MAX_URL_CHARS:
            raise QueueError(f"the URL is too long ({len(raw):,} characters)")
        normalized = normalize_url(raw)
        identity = paper_identity(raw) if normalized else None
        if normalized is None or identity is None:
            raise QueueError(f"not a usable http(s) URL: {raw[:80]!r}")
        proposal = Proposal(normalized, identity, None, "none")
        async with self._sessions() as session:
            headline = await self._coverage(session, proposal)
        if headline is not None:
            proposal.text, proposal.source = self._fit(headline, proposal), "archive"
            return proposal
        found = arxiv_id(normalized)
        if found is None:
            proposal.warnings.append(
                "not an arXiv paper and not in the archive: no comment to propose, write one"
            )
            return proposal
        entry = await self._client().fetch(found)
        text = f"{entry.title}: {entry.first_sentence}" if entry.first_sentence else entry.title
        proposal.text, proposal.source = self._fit(text, proposal), "arxiv"
        return proposal

    async def _coverage(self, session: AsyncSession, proposal: Proposal) -> str | None:
        """Warnings about earlier coverage; returns the newest headline in the archive."""
        items = await repo.paper_items(session, proposal.paper)
        keys = list(dict.fromkeys(issue.key for _, issue in items))
        if keys:
            proposal.warnings.append(f"already covered in {', '.join(keys)}")
        for post in await repo.paper_posts(session, proposal.paper):
            proposal.blocked = True
            if post.state == "queued":
                when = post.slot.strftime("%Y-%m-%d %H:%M UTC") if post.slot else "no slot"
                proposal.warnings.append(f"already queued as post {post.id} ({when})")
            elif post.state == "sending":
                proposal.warnings.append(f"being posted now (post {post.id})")
            else:
                proposal.warnings.append(f"already posted (post {post.id}, {post.state})")
        return items[0][0].headline if items else None

    def _fit(self, text: str, proposal: Proposal) -> str:
        def fits(candidate: str) -> bool:
            return bool(candidate) and (
                self._queue.x_weight(candidate, proposal.url, proposal.paper) <= MAX_X_WEIGHT
            )

        return fit(" ".join(text.split()), fits) or text[:100]
