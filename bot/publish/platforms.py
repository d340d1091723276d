"""The platforms a post can go to, and their connections.

Built once by the composition root. ``destinations`` are the *configured* ones (credentials
present) and never change while the process runs, so the ledger always records a delivery per
configured destination. ``connect()`` opens every configured platform that is not open yet;
one that cannot start (token rejected, API unreachable, channel not found, bot not an admin) is
reported in one line naming the setting to fix, tried again later with backoff, and its
deliveries wait (they are neither lost nor failed) while the other platform goes on.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.config import Settings
from bot.domain.retry import backoff_seconds
from bot.errors import PlatformError
from bot.publish.base import CHANNEL, Publisher
from bot.publish.notify import Alert, AlertKind, LogNotifier, Notifier

if TYPE_CHECKING:
    from telegram.ext import Application, BaseRateLimiter

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Link:
    """One platform's connection state."""

    name: str
    problem: str | None = None
    failures: int = 0
    next_try: datetime | None = None
    alerted: bool = False


class Platforms:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        dry_run: bool = False,
        telegram_rate_limiter: Callable[[], BaseRateLimiter[Any]] | None = None,
        telegram_setup: Callable[[Application], None] | None = None,  # type: ignore[type-arg]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.dry_run = dry_run
        self._rate_limiter = telegram_rate_limiter
        self._telegram_setup = telegram_setup  # installs the handlers on the Application
        self.polling = False
        self._webhook_noted = False  # webhook mode said once in the log
        self._rng = random.Random()
        self.publishers: dict[str, Publisher] = {}
        self.telegram: Application | None = None  # type: ignore[type-arg]
        self.notifier = _PlatformNotifier(self, settings.telegram.maintainer_ids)
        tg = settings.telegram
        self.destinations: list[str] = []
        if dry_run or settings.twitter.credentials_complete():
            self.destinations.append("x")
        if dry_run or (tg.token is not None and tg.channel_id):
            self.destinations.append(CHANNEL)
        self._links: dict[str, Link] = {}
        if "x" in self.destinations:
            self._links["x"] = Link("x")
        if tg.token is not None or dry_run:
            self._links["telegram"] = Link("telegram")

    def rehearse(self) -> None:
        """Switch to console publishers (a dry run) before anything is connected."""
        if self.publishers or self.telegram is not None:
            raise RuntimeError("a dry run must be chosen before connecting")
        self.dry_run = True
        self.destinations[:] = ["x", CHANNEL]
        self._links = {"x": Link("x"), "telegram": Link("telegram")}

    # --- state ---------------------------------------------------------------------------

    @property
    def telegram_configured(self) -> bool:
        """A bot token is set: subscribers' private chats can be reached (a dry run rehearses
        the channel and X only, not thousands of private chats)."""
        return not self.dry_run and "telegram" in self._links

    def disabled_notes(self) -> list[str]:
        """One line per platform that is off for lack of settings."""
        if self.dry_run:
            return []
        notes = []
        if not self._settings.twitter.credentials_complete():
            notes.append(
                "X disabled: set DIGESTBOT_TWITTER__CONSUMER_KEY, __CONSUMER_SECRET, "
                "__ACCESS_TOKEN and __ACCESS_TOKEN_SECRET to post there"
            )
        tg = self._settings.telegram
        if tg.token is None:
            notes.append("Telegram disabled: set DIGESTBOT_TELEGRAM__TOKEN to post there")
        elif not tg.channel_id:
            notes.append("Telegram channel disabled: set DIGESTBOT_TELEGRAM__CHANNEL_ID")
        return notes

    def problems(self) -> dict[str, str]:
        """Platform -> why it is not connected (only the configured ones that failed)."""
        return {n: link.problem for n, link in self._links.items() if link.problem}

    def waiting_reason(self, platform: str) -> str | None:
        """Why deliveries to a configured platform wait, or None when it can be used."""
        if platform in self.publishers:
            return None
        link = self._links.get(platform)
        if link is None:
            return None
        return link.problem or f"{platform} is not connected yet"

    # --- connecting ----------------------------------------------------------------------

    async def connect(self) -> list[str]:
        """Open every configured platform that is down and due for a try; returns the one-line
        problems of this attempt (empty when everything configured is connected)."""
        now = self._clock()
        problems: list[str] = []
        for name, link in self._links.items():
            if self._connected(name) or (link.next_try is not None and now < link.next_try):
                continue
            try:
                await self._open(name)
            except PlatformError as exc:
                problems.append(await self._failed(link, str(exc), now))
            else:
                if link.problem is not None:
                    await self.notifier.alert(f"{name} is connected again")
                link.problem, link.failures, link.next_try, link.alerted = None, 0, None, False
        return problems

    def _connected(self, name: str) -> bool:
        if name == "telegram":
            if self.dry_run:
                return "telegram" in self.publishers
            return self.telegram is not None and "telegram" in self.publishers
        return name in self.publishers

    async def _failed(self, link: Link, problem: str, now: datetime) -> str:
        link.failures += 1
        delivery = self._settings.delivery
        delay = backoff_seconds(
            link.failures,
            base=delivery.reconnect_base_seconds,
            cap=delivery.reconnect_cap_seconds,
            rng=self._rng,
        )
        link.problem, link.next_try = problem, now + timedelta(seconds=delay)
        if link.alerted:  # told once; later failures are routine lines in the log
            logger.info("%s (still; trying again in %.0f s)", problem, delay)
        else:
            link.alerted = True
            await self.notifier.alert(problem)  # logged, and sent to the maintainers
        return problem

    async def _open(self, name: str) -> None:
        if self.dry_run:
            from bot.publish.console import ConsolePublisher

            self.publishers[name] = ConsolePublisher(name)
            if name == "telegram":
                self.telegram = None
            return
        if name == "x":
            from bot.publish.x import XPublisher, make_client

            self.publishers["x"] = XPublisher(make_client(self._settings.twitter), self._clock)
            return
        await self._open_telegram()

    async def _open_telegram(self) -> None:
        from bot.publish.telegram import TelegramPublisher, check_channel, start_application

        tg = self._settings.telegram
        if self.telegram is None:
            application = await start_application(self._settings, self._rate_limiter)
            if self._telegram_setup is not None:
                self._telegram_setup(application)
            self.telegram = application
        if "telegram" not in self.publishers:
            if tg.channel_id:  # subscribers need no channel: check it only when there is one
                await check_channel(self.telegram.bot, tg.channel_id)
            self.publishers["telegram"] = TelegramPublisher(
                self.telegram.bot, tg.channel_id, self._clock, self._settings.telegram
            )

    async def start_polling(self) -> bool:
        """Receive updates (long polling) once Telegram is connected; True when polling.
        Called again after a reconnect, so a bot that could not start at first still does."""
        if self.polling or self.telegram is None or self._telegram_setup is None:
            return self.polling
        if self._settings.telegram.webhook_url is not None:  # `digestbot web` receives them
            if not self._webhook_noted:  # getUpdates would conflict with the webhook
                self._webhook_noted = True
                logger.info("Telegram: webhook mode (telegram.webhook_url): only sending here")
            return False
        from bot.telegram import ALLOWED_UPDATES, publish_commands

        application = self.telegram
        try:
            await publish_commands(application.bot, self._settings.telegram.maintainer_ids)
        except Exception as exc:  # the commands menu is a nicety: never stop the bot for it
            logger.warning("could not publish the command list: %s", type(exc).__name__)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        self.polling = True
        logger.info("Telegram: receiving updates (long polling)")
        return True

    async def stop_polling(self) -> None:
        if not self.polling or self.telegram is None:
            return
        application = self.telegram
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        self.polling = False

    async def aclose(self) -> None:
        await self.stop_polling()
        for publisher in self.publishers.values():
            await publisher.close()
        self.publishers.clear()
        if self.telegram is not None:
            await self.telegram.shutdown()
            self.telegram = None


class _PlatformNotifier(LogNotifier):
    """Every alert is logged; while Telegram is connected it also goes to each maintainer."""

    def __init__(self, platforms: Platforms, maintainers: list[int]) -> None:
        super().__init__()
        self._platforms = platforms
        self._maintainers = list(maintainers)
        self._shown: dict[tuple[str, int], int] = {}  # (key, chat) -> message id to edit

    async def progress(self, key: str, text: str) -> None:
        """Logged; while Telegram is connected, one message per maintainer, edited in place."""
        previous = self.progress_notes.get(key)
        await super().progress(key, text)
        app = self._platforms.telegram
        if app is None or previous == text:
            return
        for chat_id in self._maintainers:
            try:
                shown = self._shown.get((key, chat_id))
                if shown is None:
                    message = await app.bot.send_message(chat_id, f"digestbot: {text}"[:4000])
                    self._shown[(key, chat_id)] = message.message_id
                else:
                    await app.bot.edit_message_text(
                        f"digestbot: {text}"[:4000], chat_id=chat_id, message_id=shown
                    )
            except Exception as exc:  # progress is a courtesy: never break dispatching
                logger.warning("could not show progress to %s: %s", chat_id, type(exc).__name__)

    async def alert(
        self,
        text: str,
        *,
        post_id: int | None = None,
        kind: AlertKind = "info",
        issue_keys: Sequence[str] = (),
    ) -> None:
        """Logged; while Telegram is connected, sent to each maintainer, with buttons that act
        on the post (Retry, Reschedule, Edit, Skip) when the alert names one, or on the issues
        a feed imported without queueing them (Enqueue papers, Plan weekly post, Skip)."""
        await super().alert(text, post_id=post_id, kind=kind, issue_keys=issue_keys)
        app = self._platforms.telegram
        if app is None:
            return
        markup = _alert_buttons(Alert(text, post_id, kind, tuple(issue_keys)))
        for chat_id in self._maintainers:
            try:
                await app.bot.send_message(
                    chat_id, f"digestbot: {text}"[:4000], reply_markup=markup
                )
            except Exception as exc:  # an alert must never break dispatching
                logger.warning("could not alert maintainer %s: %s", chat_id, type(exc).__name__)


def _alert_buttons(alert: Alert) -> Any:
    """The maintainer keyboard under an actionable alert (PTB is imported only here)."""
    if not alert.actionable:
        return None
    from bot.telegram.maintainer.keyboards import alert_keyboard, issue_keyboard
    from bot.telegram.maintainer.texts import MAINT_EN

    if alert.kind == "issue":
        return issue_keyboard(MAINT_EN, alert.issue_keys)
    return alert_keyboard(MAINT_EN, alert.post_id)


__all__ = ["Link", "Notifier", "Platforms"]
