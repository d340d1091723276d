"""Authorization of every maintainer handler: enumerated from the Application itself, each
tried by a non-maintainer, plus edited, forwarded, channel, group and replayed updates."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import Settings
from bot.sandbox import TelegramState
from bot.sandbox.clock import FakeClock
from bot.telegram.maintainer import COMMANDS, handlers, keyboards
from bot.telegram.maintainer.auth import Denied, Guarded, check
from bot.telegram.maintainer.texts import MAINT_EN
from tests.telegram.conftest import GROUP
from tests.telegram.maint_support import (
    MAINTAINER,
    OUTSIDER,
    MaintHarness,
    audit_count,
    maint_harness,
    maint_settings,
    posts_snapshot,
)

NOT_ALLOWED = MAINT_EN.not_allowed


@pytest.fixture
def settings(db_url: str) -> Settings:
    return maint_settings(db_url)


@pytest.fixture
async def queued(archive: Container) -> Container:
    await archive.queue.enqueue_issues(["2026-W08", "2026-W09"])
    return archive


@pytest.fixture
async def maint(
    queued: Container, telegram_state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> AsyncIterator[MaintHarness]:
    async with maint_harness(queued, telegram_state, fake_clock, clock) as h:
        yield h


def _maintainer_handlers(application: Any) -> list[BaseHandler[Any, Any, Any]]:
    found = []
    for group in application.handlers.values():
        for handler in group:
            callback = handler.callback
            inner = callback.callback if isinstance(callback, Guarded) else callback
            if isinstance(callback, Guarded) or inner.__module__.startswith(
                "bot.telegram.maintainer"
            ):
                found.append(handler)
    return found


#: one argument list per command: enough to act if the check were missing
ARGS: dict[str, str] = {
    "queue": "",
    "add": "https://arxiv.org/abs/2604.00001 A comment",
    "edit": "1 New text",
    "drop": "1",
    "move": "1 2",
    "top": "2",
    "shuffle": "",
    "now": "1",
    "pause": "",
    "resume": "",
    "slots": "10:00",
    "undo": "",
    "preview": "1",
    "import": "https://example.org/digest.md",
    "status": "",
    "stats": "",
    "audit": "",
}
REGISTERED = sorted(
    name for h in handlers([MAINTAINER]) if isinstance(h, CommandHandler) for name in h.commands
)
BUTTONS = {
    "QueueAct": keyboards.queue_data("drop", 1, 1),
    "AddAct": keyboards.add_data("0123456789ab", True),
    "SlotsAct": keyboards.slots_data("reset"),
    "ImportAct": keyboards.import_data("enqueue", "2026-W09"),
    "ResumeAct": keyboards.resume_data("queue"),
    "AlertAct": keyboards.alert_data("skip", 1),
    "StatusAct": keyboards.STATUS_DATA,
}


async def test_every_maintainer_handler_is_behind_the_check(maint: MaintHarness) -> None:
    found = _maintainer_handlers(maint.application)
    assert found, "no maintainer handler registered"
    assert all(isinstance(h.callback, Guarded) for h in found)
    commands = {c for h in found if isinstance(h, CommandHandler) for c in h.commands}
    assert commands == set(COMMANDS) == set(REGISTERED)
    assert any(isinstance(h, CallbackQueryHandler) for h in found)
    assert any(isinstance(h, MessageHandler) for h in found)  # documents for /import
    assert set(ARGS) == set(REGISTERED)  # a new command needs its row here (and its test)


def test_every_button_kind_has_a_sample() -> None:
    kinds = {t.__name__ for t in typing.get_args(keyboards.Action)}
    assert set(BUTTONS) == kinds
    for name, data in BUTTONS.items():
        assert type(keyboards.decode(data)).__name__ == name


@pytest.mark.parametrize("command", REGISTERED)
async def test_a_non_maintainer_is_refused_every_command(
    maint: MaintHarness, queued: Container, command: str
) -> None:
    before, audited = await posts_snapshot(queued), await audit_count(queued)
    await maint.send(f"/{command} {ARGS[command]}".strip(), user=OUTSIDER)
    [answer] = maint.replies(OUTSIDER)
    assert answer.visible_text == NOT_ALLOWED
    assert await posts_snapshot(queued) == before
    assert await audit_count(queued) == audited
    assert maint.state.files == {} and "getFile" not in maint.state.calls


@pytest.mark.parametrize("kind", sorted(BUTTONS))
async def test_a_non_maintainer_is_refused_every_button(
    maint: MaintHarness, queued: Container, kind: str
) -> None:
    before, audited = await posts_snapshot(queued), await audit_count(queued)
    await maint.press_as(OUTSIDER, BUTTONS[kind], user=OUTSIDER)
    [answer] = maint.answers()
    assert answer["text"] == NOT_ALLOWED and answer["show_alert"] is True
    assert maint.replies(OUTSIDER) == []
    assert await posts_snapshot(queued) == before
    assert await audit_count(queued) == audited


@pytest.mark.parametrize("kind", sorted(BUTTONS))
async def test_a_button_replayed_from_another_chat_is_refused(
    maint: MaintHarness, queued: Container, kind: str
) -> None:
    """A maintainer's press on a message that is not in their own private chat."""
    before = await posts_snapshot(queued)
    await maint.press_as(GROUP, BUTTONS[kind], user=MAINTAINER)
    await maint.press_as(OUTSIDER, BUTTONS[kind], user=MAINTAINER)
    assert [a["text"] for a in maint.answers()] == [f"{NOT_ALLOWED}\n{MAINT_EN.hint_private}"] * 2
    assert await posts_snapshot(queued) == before


async def test_a_forged_button_in_the_maintainers_chat_is_stale(
    maint: MaintHarness, queued: Container
) -> None:
    before = await posts_snapshot(queued)
    for data in ("m|q|x|abc|1", "m|q|x|0|1", "m|q|p|5|1", "m|zz", "m|s|d|funday", "m|f|k|-1"):
        await maint.press_as(MAINTAINER, data, user=MAINTAINER)
    assert [a.get("text") for a in maint.answers()] == [MAINT_EN.stale] * 6
    assert await posts_snapshot(queued) == before


async def test_an_edited_command_is_not_run(maint: MaintHarness, queued: Container) -> None:
    before = await posts_snapshot(queued)
    maint.state.start(MAINTAINER, OUTSIDER)  # they wrote to the bot before
    await maint.edited("/drop 1")
    await maint.edited("/drop 1", user=OUTSIDER)
    assert maint.texts() == [f"{NOT_ALLOWED}\n{MAINT_EN.hint_edited}"]
    assert maint.texts(OUTSIDER) == [NOT_ALLOWED]
    assert await posts_snapshot(queued) == before


async def test_a_forwarded_command_is_not_run(maint: MaintHarness, queued: Container) -> None:
    before = await posts_snapshot(queued)
    await maint.forwarded("/drop 1")  # the maintainer forwards their own old message
    await maint.forwarded("/drop 1", user=OUTSIDER, origin=MAINTAINER)
    assert maint.texts() == [f"{NOT_ALLOWED}\n{MAINT_EN.hint_forwarded}"]
    assert maint.texts(OUTSIDER) == [NOT_ALLOWED]
    assert await posts_snapshot(queued) == before


async def test_a_channel_post_is_ignored_silently(maint: MaintHarness, queued: Container) -> None:
    before = await posts_snapshot(queued)
    await maint.channel_post("/drop 1")
    await maint.channel_post("/pause")
    assert maint.state.sent == []
    assert await posts_snapshot(queued) == before
    assert (await queued.queue.view(1)).paused is False


async def test_group_commands_are_refused_even_for_a_maintainer(
    maint: MaintHarness, queued: Container
) -> None:
    before = await posts_snapshot(queued)
    group = maint.state.chat_object(GROUP)
    await maint.send("/drop@digest_sandbox_bot 1", user=MAINTAINER, chat=group)
    await maint.send("/drop 1", user=MAINTAINER, chat=group)  # not addressed: not ours
    [answer] = maint.replies(GROUP)
    assert answer.visible_text == f"{NOT_ALLOWED}\n{MAINT_EN.hint_private}"
    assert await posts_snapshot(queued) == before


async def test_an_upload_with_the_import_caption_from_a_non_maintainer_is_refused(
    maint: MaintHarness,
) -> None:
    await maint.upload(b"# ML news 2026-W10\n", "digest.md", user=OUTSIDER, caption="/import")
    assert maint.texts(OUTSIDER) == [NOT_ALLOWED]
    assert "getFile" not in maint.state.calls


async def test_subscribers_keep_their_handlers(maint: MaintHarness) -> None:
    """A subscriber's own document and commands still reach the subscriber handlers."""
    await maint.upload(b"hello", "notes.txt", user=OUTSIDER)
    await maint.send("/help", user=OUTSIDER)
    first, second = maint.texts(OUTSIDER)
    assert NOT_ALLOWED not in first and "/search" in first
    assert "/week" in second
    assert "/queue" not in second  # subscribers' help lists no maintainer command


async def test_nobody_is_a_maintainer_when_the_list_is_empty(
    queued: Container, telegram_state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> None:
    telegram = queued.settings.telegram.model_copy(update={"maintainer_ids": []})
    queued.settings = queued.settings.model_copy(update={"telegram": telegram})
    before = await posts_snapshot(queued)
    async with maint_harness(queued, telegram_state, fake_clock, clock) as maint:
        await maint.maint("/drop 1")
        await maint.maint("/pause")
        await maint.press_as(MAINTAINER, keyboards.queue_data("drop", 1, 1), user=MAINTAINER)
        assert maint.texts() == [NOT_ALLOWED] * 2
        assert [a["text"] for a in maint.answers()] == [NOT_ALLOWED]
    assert await posts_snapshot(queued) == before


def _update(data: dict[str, Any]) -> Update:
    return Update.de_json({"update_id": 1, **data}, None)


def test_check_is_fail_closed() -> None:
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": MAINTAINER, "type": "private"},
        "from": {"id": MAINTAINER, "is_bot": False, "first_name": "M"},
        "text": "/queue",
    }
    assert check(_update({"message": message}), {MAINTAINER}) is None
    assert check(_update({"message": message}), set()) == Denied("outsider")
    as_bot = {**message, "from": {"id": MAINTAINER, "is_bot": True, "first_name": "B"}}
    assert check(_update({"message": as_bot}), {MAINTAINER}) == Denied("outsider")
    via_bot = {**message, "via_bot": {"id": 9, "is_bot": True, "first_name": "B"}}
    assert check(_update({"message": via_bot}), {MAINTAINER}) == Denied("forwarded")
    assert check(_update({}), {MAINTAINER}) == Denied("silent")
