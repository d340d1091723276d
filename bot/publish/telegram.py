"""Telegram adapter: python-telegram-bot's Bot (with AIORateLimiter for the global limits)
plus our own per-chat pacing, which answers "wait N seconds" instead of sleeping."""

from __future__ import annotations

import warnings

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.clock import Clock
from bot.domain.retry import ChatPacer
from bot.domain.telegram_text import TelegramMessage
from bot.publish.base import (
    CHANNEL,
    Migrated,
    Outgoing,
    Permanent,
    RateLimited,
    Sent,
    Transient,
    Unreachable,
)


def chat_for(destination: str, channel_id: str | None) -> str | int:
    if destination == CHANNEL:
        if not channel_id:
            raise Permanent("telegram.channel_id is not set")
        return int(channel_id) if channel_id.lstrip("-").isdigit() else channel_id
    return int(destination.split(":", 1)[1])


def reply_markup(message: TelegramMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, url=b.url) for b in row] for row in message.buttons]
    )


class TelegramPublisher:
    name = "telegram"

    def __init__(self, bot: Bot, channel_id: str | None, clock: Clock) -> None:
        self._bot = bot
        self._channel_id = channel_id
        self._clock = clock
        self._pacer = ChatPacer()

    async def send(self, destination: str, post: Outgoing) -> Sent:
        chat = chat_for(destination, self._channel_id)
        group = isinstance(chat, str) or chat < 0
        now = self._clock().timestamp()
        wait = self._pacer.wait(str(chat), now, group=group)
        if wait > 0:
            raise RateLimited(f"pacing chat {chat}", wait)
        message = post.telegram
        self._pacer.record(str(chat), now)
        try:
            sent = await self._bot.send_message(
                chat_id=chat,
                text=message.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(
                    is_disabled=message.disable_preview, url=message.preview_url
                ),
                reply_markup=reply_markup(message),
            )
        except RetryAfter as exc:
            raise RateLimited(exc.message, _retry_after(exc)) from None
        except ChatMigrated as exc:
            raise Migrated(exc.message, exc.new_chat_id) from None
        except Forbidden as exc:
            raise Unreachable(exc.message) from None
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                raise Unreachable(exc.message) from None
            raise Permanent(exc.message) from None
        except TimedOut as exc:
            raise Transient(f"timed out: {exc.message}", maybe_sent=_reached(exc)) from None
        except NetworkError as exc:
            raise Transient(exc.message, maybe_sent=_reached(exc)) from None
        except TelegramError as exc:
            raise Permanent(exc.message) from None
        return Sent(str(sent.message_id))

    async def close(self) -> None:
        return None


def _reached(exc: TelegramError) -> bool:
    """False when the request certainly never reached Telegram (no connection was made)."""
    never_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    return not isinstance(exc.__cause__, never_sent)


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta later
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = exc.retry_after
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]
