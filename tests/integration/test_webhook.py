"""``digestbot web`` in process: the ASGI app (httpx over ASGITransport) with the real PTB
Application and handlers, against the strict fake Bot API."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Container, build, connect_publishers
from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.errors import SettingsError
from bot.sandbox import TelegramState
from bot.sandbox.faults import Fault, FaultKind
from bot.web.asgi import SECRET_HEADER, WebhookReceiver, make_asgi, web_config
from tests.builders import TELEGRAM_TOKEN

SECRET = "h7-webhook-Secret_0123456789"
URL = "https://bot.example.org/hook/telegram"
USER = 1001
_ids = itertools.count(1)


def webhook_settings(db_url: str, api: str, **telegram: Any) -> Settings:
    return load_settings(
        database_url=db_url,
        telegram={
            "token": TELEGRAM_TOKEN,
            "api_base_url": api,
            "webhook_url": URL,
            "webhook_secret": SECRET,
            **telegram,
        },
    )


def command(text: str, user: int = USER) -> dict[str, Any]:
    number = next(_ids)
    return {
        "update_id": 500 + number,
        "message": {
            "message_id": number,
            "date": 1772438400,
            "chat": {"id": user, "type": "private", "first_name": f"U{user}"},
            "from": {"id": user, "is_bot": False, "first_name": f"U{user}", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


class Web:
    def __init__(self, app: Container, receiver: WebhookReceiver, client: httpx.AsyncClient):
        self.app, self.receiver, self.client = app, receiver, client
        self.path = web_config(app.settings, {}).path

    async def post(
        self, body: Any, *, secret: str | None = SECRET, raw: bytes | None = None
    ) -> httpx.Response:
        headers = {} if secret is None else {SECRET_HEADER: secret}
        content = raw if raw is not None else json.dumps(body).encode()
        headers["content-type"] = "application/json"
        return await self.client.post(self.path, content=content, headers=headers)


@asynccontextmanager
async def web_app(
    settings: Settings, clock: FrozenClock, *, start: bool = True
) -> AsyncIterator[Web]:
    app = build(settings, clock)
    receiver = WebhookReceiver(app, web_config(settings, {}))
    asgi = make_asgi(receiver, web_config(settings, {}).path)
    transport = httpx.ASGITransport(app=asgi)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as client:
            if start:
                await receiver.start()
            try:
                yield Web(app, receiver, client)
            finally:
                await receiver.stop()
    finally:
        await app.aclose()


@pytest.fixture
def tg_state(telegram_state: TelegramState) -> TelegramState:
    telegram_state.limits_enabled = False  # pacing is tested elsewhere; here: the webhook
    telegram_state.start(USER, 1002)
    return telegram_state


@pytest.fixture
async def web(
    tg_state: TelegramState, telegram_base_url: str, db_url: str, clock: FrozenClock
) -> AsyncIterator[Web]:
    async with web_app(webhook_settings(db_url, telegram_base_url), clock) as running_web:
        yield running_web


def replies(state: TelegramState, chat: int = USER) -> list[str]:
    return [m.visible_text for m in state.messages(chat)]


async def test_start_sets_the_webhook_with_the_secret(web: Web, tg_state: TelegramState) -> None:
    assert web.receiver.ready
    assert tg_state.webhook_url == URL
    assert tg_state.webhook_secret == SECRET
    assert tg_state.webhook_allowed_updates == [
        "message",
        "callback_query",
        "inline_query",
        "my_chat_member",
    ]
    assert "setMyCommands" in tg_state.calls
    assert "getUpdates" not in tg_state.calls and "deleteWebhook" not in tg_state.calls
    assert not tg_state.rejected


async def test_an_update_with_the_secret_is_answered_by_the_handlers(
    web: Web, tg_state: TelegramState
) -> None:
    response = await web.post(command("/start"))
    assert response.status_code == 200
    assert len(replies(tg_state)) == 1  # answered before the 200 went back
    response = await web.post(command("/help"))
    assert response.status_code == 200
    assert len(replies(tg_state)) == 2
    assert "/search" in replies(tg_state)[-1]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x", SECRET[:-1]])
async def test_a_wrong_or_missing_secret_is_refused_and_nothing_runs(
    web: Web, tg_state: TelegramState, secret: str | None
) -> None:
    calls = len(tg_state.calls)
    response = await web.post(command("/start"), secret=secret)
    assert response.status_code == 403
    assert tg_state.sent == [] and len(tg_state.calls) == calls  # no handler ran
    assert SECRET not in response.text


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', b'{"message": {}}', b'{"update_id": "x"}', b"\xff\xfe"],
)
async def test_a_body_that_is_not_an_update_is_400(
    web: Web, tg_state: TelegramState, raw: bytes
) -> None:
    response = await web.post(None, raw=raw)
    assert response.status_code == 400
    assert tg_state.sent == []


async def test_an_oversize_body_is_413(web: Web, tg_state: TelegramState) -> None:
    cap = web.app.settings.web.max_body_bytes
    big = command("/start " + "x" * cap)
    response = await web.post(big)
    assert response.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream is counted
        for _ in range(cap // 1024 + 2):
            yield b" " * 1024

    response = await web.client.post(web.path, content=chunks(), headers={SECRET_HEADER: SECRET})
    assert response.status_code == 413
    assert tg_state.sent == []
    assert (await web.post(command("/start"))).status_code == 200  # still serving


async def test_healthz_reports_telegram_and_database(web: Web) -> None:
    response = await web.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "telegram": True, "database": True}
    assert (await web.client.post("/healthz")).status_code == 405
    assert (await web.client.get(web.path)).status_code == 405


async def test_before_telegram_is_connected_updates_wait_and_health_says_so(
    tg_state: TelegramState, telegram_base_url: str, db_url: str, clock: FrozenClock
) -> None:
    settings = webhook_settings(db_url, telegram_base_url)
    async with web_app(settings, clock, start=False) as web:
        health = await web.client.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {"ok": False, "telegram": False, "database": True}
        assert (await web.post(command("/start"))).status_code == 503  # Telegram resends
        assert (await web.post(command("/start"), secret="nope")).status_code == 403


async def test_healthz_says_when_the_database_is_unreachable(
    web: Web, db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    working = web.app.engine
    if make_url(db_url).get_backend_name() == "postgresql":  # nothing listens on port 9
        gone = create_async_engine("postgresql+psycopg://postgres@127.0.0.1:9/gone")
    else:
        gone = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'digestbot.db'}")
    web.app.engine = gone  # the database server went away
    try:
        health = await web.client.get("/healthz")
    finally:
        web.app.engine = working
        await gone.dispose()
    assert health.status_code == 503
    assert health.json() == {"ok": False, "telegram": True, "database": False}
    assert (await web.client.get("/healthz")).status_code == 200  # and back


async def test_two_web_processes_share_the_webhook_and_both_answer(
    tg_state: TelegramState, telegram_base_url: str, db_url: str, clock: FrozenClock
) -> None:
    settings = webhook_settings(db_url, telegram_base_url)
    async with web_app(settings, clock) as one, web_app(settings, clock) as two:
        assert tg_state.calls.count("setWebhook") == 2  # idempotent: same URL, same secret
        for index in range(4):
            target = one if index % 2 == 0 else two
            user = USER if index < 2 else 1002
            assert (await target.post(command("/help", user))).status_code == 200
        assert len(replies(tg_state, USER)) == 2 and len(replies(tg_state, 1002)) == 2
        await one.receiver.stop()  # one process leaves: the webhook stays for the other
        assert tg_state.webhook_url == URL and "deleteWebhook" not in tg_state.calls
        assert (await two.post(command("/help"))).status_code == 200
        assert (await one.post(command("/help"))).status_code == 503
    assert len(replies(tg_state, USER)) == 3


async def test_stop_lets_the_update_in_hand_finish(web: Web, tg_state: TelegramState) -> None:
    tg_state.faults.push(Fault(FaultKind.SLOW, method="sendMessage", delay=0.3))
    request = asyncio.create_task(web.post(command("/help")))
    for _ in range(2000):  # until the update is being handled (bounded; no timing assumed)
        if web.receiver._in_flight:
            break
        await asyncio.sleep(0.005)
    assert web.receiver._in_flight == 1
    await web.receiver.stop()
    assert len(replies(tg_state)) == 1  # finished before the Application stopped
    assert web.app.telegram is not None and not web.app.telegram.running
    assert (await request).status_code == 200


async def test_run_with_a_webhook_url_does_not_long_poll(
    tg_state: TelegramState, telegram_base_url: str, db_url: str, clock: FrozenClock
) -> None:
    app = build(webhook_settings(db_url, telegram_base_url), clock)
    try:
        assert await connect_publishers(app) == []
        assert await app.platforms.start_polling() is False
        assert await app.platforms.start_polling() is False  # every worker tick asks again
        assert app.telegram is not None and not app.telegram.running
    finally:
        await app.aclose()
    assert "getUpdates" not in tg_state.calls and "setWebhook" not in tg_state.calls

    app = build(load_settings(database_url=db_url, telegram={"token": TELEGRAM_TOKEN,
                "api_base_url": telegram_base_url}), clock)  # fmt: skip
    try:  # the contrast: without webhook_url the same call starts long polling
        await connect_publishers(app)
        assert await app.platforms.start_polling() is True
    finally:
        await app.aclose()


def test_web_needs_its_settings_and_reads_port_from_the_environment(db_url: str) -> None:
    bare = load_settings(database_url=db_url, telegram={"token": TELEGRAM_TOKEN})
    with pytest.raises(SettingsError, match="WEBHOOK_URL.*WEBHOOK_SECRET"):
        web_config(bare, {})
    settings = webhook_settings(db_url, "http://127.0.0.1:9")
    local = web_config(settings, {})
    assert (local.host, local.port, local.path) == ("127.0.0.1", 8080, "/hook/telegram")
    paas = web_config(settings, {"PORT": "5000"})
    assert (paas.host, paas.port) == ("0.0.0.0", 5000)
    assert web_config(settings, {"PORT": "5000"}, host="::1", port=7).port == 7
    with pytest.raises(SettingsError, match="PORT"):
        web_config(settings, {"PORT": "http"})
    with pytest.raises(SettingsError, match="webhook_url"):
        webhook_settings(db_url, "http://127.0.0.1:9", webhook_url="http://insecure.example")
    with pytest.raises(SettingsError, match="webhook_secret"):
        webhook_settings(db_url, "http://127.0.0.1:9", webhook_secret="has spaces")


async def test_the_secret_is_never_logged(
    web: Web, tg_state: TelegramState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await web.post(command("/start"))
    await web.post(command("/start"), secret="wrong")
    await web.post(None, raw=b"{bad")
    await web.client.get("/healthz")
    await web.receiver.stop()
    assert tg_state.webhook_secret == SECRET  # it was used
    assert SECRET not in caplog.text


def test_config_masks_the_secret_and_logs_redact_it(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main
    from bot.logs import redact

    monkeypatch.setenv("DIGESTBOT_TELEGRAM__WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__WEBHOOK_URL", URL)
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr()
    shown = json.loads(out.out)
    assert shown["telegram"]["webhook_secret"] == "**********"
    assert shown["telegram"]["webhook_url"] == URL
    assert SECRET not in out.out + out.err
    assert redact(f"header was {SECRET}") == "header was <secret>"  # registered by main()


async def test_the_fake_checks_set_webhook_strictly(
    telegram_bot: Any, telegram_state: TelegramState
) -> None:
    from telegram.error import BadRequest

    with pytest.raises(BadRequest, match="secret token"):
        await telegram_bot.set_webhook(URL, secret_token="has spaces!")
    with pytest.raises(BadRequest, match="max_connections"):
        await telegram_bot.set_webhook(URL, max_connections=0)
    with pytest.raises(BadRequest, match="(?i)https url"):
        await telegram_bot.set_webhook("http://bot.example.org/telegram")
    assert telegram_state.webhook_url == ""
    assert await telegram_bot.set_webhook(URL, secret_token=SECRET, allowed_updates=["message"])
    info = await telegram_bot.get_webhook_info()
    assert (info.url, info.allowed_updates) == (URL, ("message",))
    assert await telegram_bot.delete_webhook()
    assert (telegram_state.webhook_url, telegram_state.webhook_secret) == ("", None)
