"""The arXiv API client (export.arxiv.org/api/query): a paper's title and abstract, for the
comment ``/add`` proposes. httpx with a timeout on every phase, a few retries with back-off on
timeouts, connection errors, 429 and 5xx; anything else is one clear :class:`ArxivError`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from bot.config import ArxivSettings
from bot.domain.arxiv_feed import ArxivEntry, FeedError, parse_entry
from bot.errors import DigestbotError

logger = logging.getLogger(__name__)
MAX_BYTES = 1_000_000  # one entry is a few KB
RETRY_STATUS = {429, 500, 502, 503, 504}


class ArxivError(DigestbotError):
    """arXiv cannot tell us about the paper now (unreachable, busy, odd answer)."""


Sleep = Callable[[float], Awaitable[None]]


class ArxivClient:
    def __init__(
        self,
        settings: ArxivSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        """``sleep``: how the client waits between attempts (tests pass one that returns)."""
        self._settings = settings
        self._transport = transport
        self._sleep = sleep or asyncio.sleep

    async def fetch(self, arxiv_id: str) -> ArxivEntry:
        url = f"{self._settings.api_base_url}/api/query"
        params = {"id_list": arxiv_id, "max_results": "1"}
        attempts = self._settings.retries + 1
        problem = "no answer"
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self._settings.timeout_seconds),
            transport=self._transport,
            headers={"User-Agent": "digestbot (+https://github.com/digestbot)"},
            follow_redirects=True,
        ) as client:
            for attempt in range(attempts):
                if attempt:
                    await self._sleep(min(8.0, 0.5 * 2**attempt))
                try:
                    response = await client.get(url, params=params)
                except httpx.TimeoutException:
                    problem = f"no answer within {self._settings.timeout_seconds:g} s"
                    continue
                except httpx.HTTPError as exc:
                    problem = f"unreachable ({type(exc).__name__})"
                    continue
                if response.status_code in RETRY_STATUS:
                    problem = f"busy (HTTP {response.status_code})"
                    continue
                if response.status_code != 200:
                    raise ArxivError(
                        f"arXiv answered HTTP {response.status_code} for {arxiv_id}; "
                        "give the comment yourself"
                    )
                if len(response.content) > MAX_BYTES:
                    raise ArxivError(f"arXiv's answer for {arxiv_id} is too large")
                try:
                    return parse_entry(response.content, arxiv_id)
                except FeedError as exc:
                    raise ArxivError(
                        f"arXiv's answer for {arxiv_id} cannot be used: {exc}; give the "
                        "comment yourself"
                    ) from None
        logger.info("arXiv lookup of %s failed: %s", arxiv_id, problem)
        raise ArxivError(
            f"arXiv is unreachable: {problem} after {attempts} "
            f"{'try' if attempts == 1 else 'tries'}; give the comment yourself or try later"
        )
