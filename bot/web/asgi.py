"""``digestbot web``: Telegram's webhook, following python-telegram-bot's custom-webhook
example (Starlette + uvicorn), on the same composition root and handlers as ``digestbot run``.

* ``POST <path>``: refused with 403 unless ``X-Telegram-Bot-Api-Secret-Token`` matches
  ``telegram.webhook_secret`` (constant-time compare), 413 past ``web.max_body_bytes``, 400
  for a body that is not an Update; otherwise the update goes through ``process_update`` (the
  handlers ``bot.telegram.install`` put on the Application) and the answer is 200 once it was
  handled, so an update a crash interrupted is sent again by Telegram, never lost.
* ``GET /healthz``: ``{"ok", "telegram", "database"}``, 200 when both are up, else 503.
* Start: the platforms are connected as ``run`` does (Telegram retried with back-off), then
  ``setWebhook(url, secret_token, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)``.
  setWebhook is idempotent: several ``web`` processes behind one URL all set the same webhook,
  and none deletes it when it stops (the others still serve it).
* SIGTERM/SIGINT: uvicorn stops accepting, the updates being handled finish (at most
  ``web.shutdown_seconds``), then the Application stops and everything closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import Container, build, connect_publishers
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.errors import SettingsError
from bot.logs import redact

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_PATH = "/telegram"
DEFAULT_PORT = 8080
HEALTH_PATH = "/healthz"


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What ``digestbot web`` needs, checked: the public URL, the secret, where to listen."""

    url: str
    secret: str
    host: str
    port: int
    path: str
    max_body_bytes: int
    shutdown_seconds: float
    retry_seconds: float


def web_config(
    settings: Settings,
    environ: Mapping[str, str] = os.environ,
    *,
    host: str | None = None,
    port: int | None = None,
) -> WebConfig:
    """The settings ``web`` runs with, or a :class:`SettingsError` naming what to set.

    Listening: ``host``/``port`` (command line) > ``web.host``/``web.port`` > ``$PORT`` (a
    PaaS: then on every interface) > 127.0.0.1:8080. Path: ``web.path`` > the path of
    ``telegram.webhook_url`` > ``/telegram``."""
    tg, web = settings.telegram, settings.web
    missing = [
        name
        for name, value in (
            ("DIGESTBOT_TELEGRAM__TOKEN", tg.token),
            ("DIGESTBOT_TELEGRAM__WEBHOOK_URL", tg.webhook_url),
            ("DIGESTBOT_TELEGRAM__WEBHOOK_SECRET", tg.webhook_secret),
        )
        if value is None
    ]
    if missing:
        raise SettingsError(f"digestbot web needs {', '.join(missing)} (see README: Webhook mode)")
    assert tg.webhook_url is not None and tg.webhook_secret is not None
    env_port = environ.get("PORT", "").strip()
    if env_port and not (env_port.isdigit() and 1 <= int(env_port) <= 65535):
        raise SettingsError(f"PORT={env_port!r} is not a TCP port (1-65535)")
    chosen_port = port or web.port or (int(env_port) if env_port else DEFAULT_PORT)
    chosen_host = host or web.host or ("0.0.0.0" if env_port else "127.0.0.1")
    return WebConfig(
        url=tg.webhook_url,
        secret=tg.webhook_secret.get_secret_value(),
        host=chosen_host,
        port=chosen_port,
        path=web.path or urlsplit(tg.webhook_url).path.rstrip("/") or DEFAULT_PATH,
        max_body_bytes=web.max_body_bytes,
        shutdown_seconds=web.shutdown_seconds,
        retry_seconds=settings.delivery.poll_seconds,
    )


class WebhookReceiver:
    """Connects Telegram, sets the webhook, hands each authentic update to the handlers."""

    def __init__(self, app: Container, config: WebConfig) -> None:
        self._app = app
        self._config = config
        self._secret = config.secret.encode()
        self.ready = False  # Telegram connected and the webhook set
        self._stopped = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._retry: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if await connect_publishers(self._app):  # each problem is alerted once
            logger.warning("digestbot web keeps running and tries again with back-off")
        if not await self._set_webhook():
            self._retry = asyncio.create_task(self._keep_trying())

    async def _keep_trying(self) -> None:
        while not await self._set_webhook():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._config.retry_seconds)
            if self._stopped.is_set():
                return

    async def _set_webhook(self) -> bool:
        """Telegram connected (platforms' back-off), the Application started, the webhook
        set: True when updates can be received."""
        from telegram.error import TelegramError

        from bot.telegram import ALLOWED_UPDATES, publish_commands

        await self._app.platforms.connect()
        application = self._app.telegram
        if application is None:
            return False
        try:
            if not application.running:
                try:
                    maintainers = self._app.settings.telegram.maintainer_ids
                    await publish_commands(application.bot, maintainers)
                except TelegramError as exc:  # the commands menu is a nicety
                    logger.warning("could not publish the command list: %s", type(exc).__name__)
                await application.start()
            await application.bot.set_webhook(
                self._config.url,
                secret_token=self._config.secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        except TelegramError as exc:
            logger.warning("could not set the Telegram webhook: %s", redact(str(exc)))
            return False
        self.ready = True
        logger.info("Telegram: receiving updates at %s (webhook)", self._config.url)
        return True

    async def stop(self) -> None:
        """No new update is taken; those being handled finish (bounded); the Application
        stops. The webhook stays set: other ``web`` processes may still be serving it."""
        self._stopped.set()
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        try:
            await asyncio.wait_for(self._idle.wait(), self._config.shutdown_seconds)
        except TimeoutError:
            logger.warning("stopping with %d update(s) still being handled", self._in_flight)
        application = self._app.telegram
        if application is not None and application.running:
            await application.stop()
        self.ready = False

    # --- requests ------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return PlainTextResponse("forbidden", status_code=403)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self._config.max_body_bytes:
            return PlainTextResponse("request too large", status_code=413)
        application = self._app.telegram
        if self._stopped.is_set() or not self.ready or application is None:
            return PlainTextResponse("not ready", status_code=503)  # Telegram sends it again
        body = await _read_capped(request, self._config.max_body_bytes)
        if body is None:
            return PlainTextResponse("request too large", status_code=413)
        update = _parse_update(body, application.bot)
        if update is None:
            return PlainTextResponse("not a Telegram update", status_code=400)
        self._in_flight += 1
        self._idle.clear()
        try:
            await application.process_update(update)
        except Exception:  # the error handler answered the user; Telegram must not resend
            logger.exception("update %s could not be handled", update.update_id)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        return Response(status_code=200)

    async def health(self, request: Request) -> JSONResponse:
        telegram = self.ready and self._app.telegram is not None
        database = await self._database_ok()
        ok = telegram and database
        body = {"ok": ok, "telegram": telegram, "database": database}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def _database_ok(self) -> bool:
        try:
            async with asyncio.timeout(5):
                async with self._app.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:  # the answer is "no", whatever the cause
            logger.warning("health check: database unreachable (%s)", type(exc).__name__)
            return False
        return True


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None once it grows past ``limit`` (a missing or false Content-Length)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_update(body: bytes, bot: Any) -> Any:
    """``Update.de_json`` of a JSON object, or None when the body is not one."""
    from telegram import Update

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError):
        return None


def make_asgi(receiver: WebhookReceiver, path: str = DEFAULT_PATH) -> Starlette:
    """The ASGI application; its lifespan starts and stops ``receiver``."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await receiver.start()
        try:
            yield
        finally:
            await receiver.stop()

    routes = [
        Route(path, receiver.webhook, methods=["POST"]),
        Route(HEALTH_PATH, receiver.health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


class _Server:
    """uvicorn's server with SIGTERM/SIGINT as a clean stop: uvicorn would re-raise the
    signal after its graceful shutdown, killing the process before the container closed."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                if threading.current_thread() is not threading.main_thread():
                    yield
                    return
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self.handle_exit, sig, None)
                try:
                    yield
                finally:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        loop.remove_signal_handler(sig)

        self.server = Server(config)


async def serve(config: WebConfig, settings: Settings, clock: Clock = system_clock) -> None:
    """Run ``digestbot web`` until SIGTERM/SIGINT."""
    import uvicorn

    app = build(settings, clock)
    receiver = WebhookReceiver(app, config)
    server_config = uvicorn.Config(
        make_asgi(receiver, config.path),
        host=config.host,
        port=config.port,
        log_config=None,  # our logging (secrets redacted) stays in charge
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(config.shutdown_seconds),
        server_header=False,
    )
    server = _Server(server_config).server
    logger.info("digestbot web listening on %s:%d%s", config.host, config.port, config.path)
    try:
        await server.serve()
    finally:
        await app.aclose()
        logger.info("digestbot web stopped")
