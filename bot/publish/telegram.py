"""Telegram adapter: python-telegram-bot's Bot (with AIORateLimiter for the global limits)
plus our own per-chat pacing, which answers "wait N seconds" instead of sleeping.

Sends get a longer read timeout than other calls: a slow answer to ``sendMessage`` is a message
that probably arrived, and giving up on it early is what turns slowness into duplicates. An
answer from the API (even 5xx) means it was received; only a timeout or a dropped connection
after the request went out leaves the outcome unknown.

Requests go over aiohttp (:mod:`bot.publish.telegram_http`), a send through
``Bot.do_api_request`` without building the answer's Message: PTB still maps every Bot API
error, and paid broadcasts (up to 1,000 messages a second) leave CPU for the ledger.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, BaseRateLimiter
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.clock import Clock
from bot.config import Settings, TelegramSettings
from bot.domain.retry import ChatPacer
from bot.domain.telegram_text import TelegramMessage
from bot.errors import PlatformError
from bot.publish.base import (
    CHANNEL,
    LEDGER,
    ChatBusy,
    Migrated,
    Outgoing,
    Permanent,
    RateLimited,
    Sent,
    Transient,
    Unauthorized,
    Unreachable,
)
from bot.publish.telegram_http import AiohttpRequest, never_sent

TOKEN_SETTING = "DIGESTBOT_TELEGRAM__TOKEN"
URL_SETTING = "DIGESTBOT_TELEGRAM__API_BASE_URL"
CHANNEL_SETTING = "DIGESTBOT_TELEGRAM__CHANNEL_ID"
FREE_PER_SECOND = 30  # Telegram's overall limit without paid broadcasts
PREPARED = 64  # messages whose encoded parameters are kept (a broadcast sends one)
SEND_ADVICE = r"Please use 'Bot\.sendMessage' instead of 'Bot\.do_api_request"


def telegram_application(
    settings: Settings, rate_limiter: Callable[[], BaseRateLimiter[Any]] | None = None
) -> Application:  # type: ignore[type-arg]
    tg = settings.telegram
    assert tg.token is not None
    base = tg.api_base_url.rstrip("/")
    request = AiohttpRequest(
        connect_timeout=tg.connect_timeout_seconds, read_timeout=tg.read_timeout_seconds
    )
    # long polling keeps PTB's own request (one connection, a long read)
    polling = HTTPXRequest(
        connection_pool_size=1,
        connect_timeout=tg.connect_timeout_seconds,
        read_timeout=tg.read_timeout_seconds + 30,
    )
    return (
        ApplicationBuilder()
        .token(tg.token.get_secret_value())
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .rate_limiter(rate_limiter() if rate_limiter else AIORateLimiter(max_retries=0))
        .request(request)
        .get_updates_request(polling)
        .build()
    )


async def start_application(
    settings: Settings, rate_limiter: Callable[[], BaseRateLimiter[Any]] | None = None
) -> Application:  # type: ignore[type-arg]
    """Build and initialize (getMe): a rejected token or an unreachable API is one
    :class:`PlatformError` naming the setting to fix, never a traceback."""
    application = telegram_application(settings, rate_limiter)
    base = settings.telegram.api_base_url
    try:
        await application.initialize()
    except BaseException as exc:
        await application.bot.shutdown()  # close the HTTP pools the failed start opened
        if isinstance(exc, InvalidToken):
            raise PlatformError(
                f"Telegram rejected the bot token: check {TOKEN_SETTING} (and that {URL_SETTING}, "
                f"now {base}, is the API's root URL, without /bot)"
            ) from None
        if isinstance(exc, TimedOut | NetworkError):
            raise PlatformError(
                f"Telegram API unreachable at {base} ({_short(exc)}): check {URL_SETTING} "
                "and the network"
            ) from None
        if isinstance(exc, TelegramError):
            raise PlatformError(f"Telegram refused to start: {exc.message}") from None
        raise
    return application


async def check_channel(bot: Bot, channel_id: str) -> None:
    """The channel exists and the bot may post there, or a :class:`PlatformError`."""
    chat = chat_for(CHANNEL, channel_id)
    try:
        member = await bot.get_chat_member(chat, bot.id)
    except BadRequest as exc:
        if "not found" in exc.message.lower():
            raise PlatformError(
                f"Telegram channel {channel_id} not found: check {CHANNEL_SETTING} and that the "
                "bot was added to the channel"
            ) from None
        raise PlatformError(f"Telegram channel {channel_id}: {exc.message}") from None
    except Forbidden as exc:
        raise PlatformError(
            f"Telegram channel {channel_id} refused the bot ({exc.message}): add the bot to the "
            "channel as an administrator"
        ) from None
    except TelegramError as exc:
        raise PlatformError(
            f"could not check Telegram channel {channel_id} ({_short(exc)}); will try again"
        ) from None
    if member.status == ChatMemberStatus.OWNER:
        return
    can_post = getattr(member, "can_post_messages", None)
    if member.status != ChatMemberStatus.ADMINISTRATOR or can_post is False:
        raise PlatformError(
            f"the bot is not an administrator of Telegram channel {channel_id} with the right to "
            "post messages: add it in the channel's settings (Administrators)"
        )


def _short(exc: TelegramError) -> str:
    return f"{type(exc).__name__}: {exc.message}"[:200]


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

    def __init__(
        self,
        bot: Bot,
        channel_id: str | None,
        clock: Clock,
        settings: TelegramSettings | None = None,
    ) -> None:
        self._bot = bot
        self._channel_id = channel_id
        self._clock = clock
        self._pacer = ChatPacer()
        tg = settings or TelegramSettings()
        self._send_timeout = tg.send_timeout_seconds
        # more than Telegram's free 30 messages/s: paid broadcasts (Telegram Stars)
        self._paid = tg.messages_per_second > FREE_PER_SECOND
        self._prepared: dict[TelegramMessage, dict[str, object]] = {}
        # its slots were granted by the ledger's pace: a shared limiter (one that knows the
        # mark) lets its sends through uncounted; any other limiter gets no rate_limit_args
        # (PTB's AIORateLimiter reads them as its retry count)
        limiter = getattr(bot, "rate_limiter", None)
        marked = getattr(limiter, "knows_ledger_sends", False) is True
        self._ledger_mark: dict[str, Any] = {"rate_limit_args": LEDGER} if marked else {}
        # PTB advises Bot.send_message over do_api_request("sendMessage"); we want the raw
        # answer on purpose (see the module's docstring)
        warnings.filterwarnings("ignore", SEND_ADVICE, PTBUserWarning)

    async def send(self, destination: str, post: Outgoing) -> Sent:
        chat = chat_for(destination, self._channel_id)
        group = isinstance(chat, str) or chat < 0
        now = self._clock().timestamp()
        wait = self._pacer.wait(str(chat), now, group=group)
        if wait > 0:
            raise ChatBusy(f"pacing chat {chat}", wait)
        self._pacer.record(str(chat), now)
        try:
            # the answer's Message is not needed (only its id): the raw result spares building
            # it, which is a third of PTB's cost of a send
            sent = await self._bot.do_api_request(
                "sendMessage",
                self._parameters(chat, post.telegram),
                None,
                read_timeout=self._send_timeout,
                **self._ledger_mark,
            )
        except RetryAfter as exc:
            raise RateLimited(exc.message, _retry_after(exc)) from None
        except ChatMigrated as exc:
            raise Migrated(exc.message, exc.new_chat_id) from None
        except InvalidToken:
            raise Unauthorized(f"Telegram rejected the bot token: check {TOKEN_SETTING}") from None
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
        return Sent(str(sent["message_id"]))

    def _parameters(self, chat: int | str, message: TelegramMessage) -> dict[str, object]:
        """sendMessage's parameters, as ``Bot.send_message`` would send them. A broadcast sends
        one message to every subscriber: all but the chat are encoded once per message."""
        shared = self._prepared.get(message)
        if shared is None:
            if len(self._prepared) >= PREPARED:
                self._prepared.clear()
            shared = self._prepared[message] = _shared_parameters(message, paid=self._paid)
        return {"chat_id": chat, **shared}

    async def close(self) -> None:
        return None


def _shared_parameters(message: TelegramMessage, *, paid: bool) -> dict[str, object]:
    """Objects as the JSON text PTB would make of them (it sends a string as it is)."""
    preview = LinkPreviewOptions(is_disabled=message.disable_preview, url=message.preview_url)
    parameters: dict[str, object] = {
        "text": message.text,
        "parse_mode": ParseMode.HTML.value,
        "link_preview_options": _json(preview.to_dict()),
    }
    markup = reply_markup(message)
    if markup is not None:
        parameters["reply_markup"] = _json(markup.to_dict())
    if paid:
        parameters["allow_paid_broadcast"] = True
    return parameters


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _reached(exc: TelegramError) -> bool:
    """True when the request went out and no answer came back (timeout, dropped connection).

    An HTTP answer, even 5xx, means Telegram did not act on the request: PTB raises those
    without a cause. No connection made (connect/pool timeout) means it never left."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | TimeoutError):  # our request (telegram_http)
        return not never_sent(cause)
    if not isinstance(cause, httpx.HTTPError):  # PTB's own request (long polling, tests)
        return False
    unsent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    return not isinstance(cause, unsent)


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta later
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = exc.retry_after
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]
