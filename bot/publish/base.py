"""What every adapter promises: send one composed post to one destination, or raise a classified
error. The dispatcher decides what each class means for the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain.telegram_text import TelegramMessage

CHANNEL = "telegram:channel"  # the destination name of the configured Telegram channel
#: PTB ``rate_limit_args`` of the ledger's own sends (``TelegramPublisher``): their slots were
#: granted by the ledger's pace (``bot.services.pace``), so the replies' shared limiter lets
#: them through uncounted. Passed only to a limiter whose ``knows_ledger_sends`` is True.
LEDGER = "ledger"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A post rendered for every platform; adapters pick their rendering."""

    post_id: int
    x_text: str | None  # None: not posted to X (see TwitterSettings.link_fallback)
    telegram: TelegramMessage


@dataclass(frozen=True, slots=True)
class Sent:
    remote_id: str | None
    duplicate: bool = False  # the platform said it already had this exact post


class PublishError(Exception):
    """Base class; ``str(exc)`` is the platform's own message."""


class RateLimited(PublishError):
    """429: wait ``retry_after`` seconds; not an attempt, and the whole platform pauses."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1.0, retry_after)


class ChatBusy(PublishError):
    """Our own pacing for one chat (1 message/s, 20/min for a channel): only this delivery
    waits ``wait`` seconds; the platform and every other chat go on."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = max(0.05, wait)


class Transient(PublishError):
    """5xx, timeouts, dropped connections: retry with backoff. ``maybe_sent`` when the request
    may have reached the platform (a timeout after sending)."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class Permanent(PublishError):
    """Another 4xx: the message itself is wrong. Fail it and tell the maintainer."""


class Unauthorized(PublishError):
    """The platform rejected our credentials: nothing can be sent until they are fixed. The
    platform pauses (not an attempt) and the maintainer is told; no post is failed for it."""


class Unreachable(PublishError):
    """403 blocked / chat not found: the destination cannot receive anything."""


class Migrated(PublishError):
    """The group became a supergroup: resend to ``new_chat_id``."""

    def __init__(self, message: str, new_chat_id: int) -> None:
        super().__init__(message)
        self.new_chat_id = new_chat_id


class Publisher(Protocol):
    """One platform. ``name`` is the destination prefix: "x", "telegram", "console"."""

    name: str

    async def send(self, destination: str, post: Outgoing) -> Sent: ...

    async def close(self) -> None: ...
