"""``preview``: the exact tweet (with its weighted length) and the exact Telegram message of a
queued post or of a free text. Shared by ``digestbot preview`` and Telegram's /preview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.errors import DigestbotError
from bot.store.queue import MAX_ID

SKIPPED = "not posted to X (no arXiv id, twitter.link_fallback = skip)"
MAX_TEXT_CHARS = 10_000  # a preview of a text longer than any post would be noise


class PreviewError(DigestbotError):
    """Nothing to preview (an unknown post id, an empty text)."""


@dataclass(frozen=True, slots=True)
class Preview:
    x_text: str | None
    x_weight: int | None
    x_valid: bool | None
    x_skipped: str | None  # why it is not posted to X
    telegram_text: str
    telegram_parse_mode: str | None

    def as_json(self) -> dict[str, Any]:
        x: dict[str, Any] = (
            {"text": None, "skipped": self.x_skipped}
            if self.x_text is None
            else {"text": self.x_text, "weighted_length": self.x_weight, "valid": self.x_valid}
        )
        return {
            "x": x,
            "telegram": {"text": self.telegram_text, "parse_mode": self.telegram_parse_mode},
        }


def _x(x_text: str | None) -> tuple[int | None, bool | None, str | None]:
    if x_text is None:
        return None, None, SKIPPED
    from bot.domain.x_text import is_valid_tweet, weighted_length  # twitter-text: slow import

    return weighted_length(x_text), is_valid_tweet(x_text), None


class PreviewService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession] | None, settings: Settings
    ) -> None:
        self._sessions = sessions
        self._settings = settings

    @classmethod
    def for_text(cls, settings: Settings) -> PreviewService:
        """A service for :meth:`text` alone (no database is opened)."""
        return cls(None, settings)

    def text(self, text: str) -> Preview:
        """A free text as a drip post, without a link, buttons or link preview (those depend on
        the paper; the button and link settings are ignored here)."""
        if not text.strip():
            raise PreviewError("the text is empty: give the text of the post to preview", code=2)
        if len(text) > MAX_TEXT_CHARS:
            raise PreviewError(
                f"the text is too long to preview ({len(text):,} characters; a post has at "
                "most 280 weighted characters on X)",
                code=2,
            )
        from bot.domain.telegram_text import compose_drip_message

        tg = compose_drip_message(
            text, title=None, url=None, paper=None, digest_url=None, buttons=False, preview=False
        )
        weight, valid, skipped = _x(text)
        return Preview(text, weight, valid, skipped, tg.text, tg.parse_mode)

    async def post(self, post_id: int) -> Preview:
        """A queued (or sent) post exactly as the dispatcher would send it now."""
        if not 1 <= post_id <= MAX_ID:
            raise PreviewError(f"no post with id {post_id}")
        from bot.services.compose import compose_post

        if self._sessions is None:
            raise PreviewError("no database to read the post from")
        async with self._sessions() as session:
            outgoing = await compose_post(session, post_id, self._settings)
        if outgoing is None:
            raise PreviewError(f"no post with id {post_id}")
        weight, valid, skipped = _x(outgoing.x_text)
        tg = outgoing.telegram
        return Preview(outgoing.x_text, weight, valid, skipped, tg.text, tg.parse_mode)
