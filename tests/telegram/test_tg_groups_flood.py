"""Group addressing, the per-user flood limit, my_chat_member updates and the error handler."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.app import Container
from bot.errors import DigestbotError
from bot.telegram.texts import EN, ZH
from tests.telegram.conftest import BOT_NAME, GROUP, USER, ZH_USER, Harness

GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "ML readers"}


async def test_groups_get_answers_only_to_commands_addressed_to_the_bot(bot: Harness) -> None:
    await bot.send("/week", chat=GROUP_CHAT)
    await bot.send("/week@some_other_bot", chat=GROUP_CHAT)
    await bot.send("model", chat=GROUP_CHAT)
    await bot.send("/frobnicate", chat=GROUP_CHAT)
    assert bot.replies(GROUP) == []
    await bot.send(f"/week@{BOT_NAME}", chat=GROUP_CHAT)
    [reply] = bot.replies(GROUP)
    assert reply.visible_text.startswith("ML news 2026-W09")
    await bot.send(f"/frobnicate@{BOT_NAME.upper()}", chat=GROUP_CHAT)
    assert bot.last(GROUP).visible_text == EN.unknown_command
    await bot.send(f"/search@{BOT_NAME} diffusion", chat=GROUP_CHAT)
    assert "Diffusion transformers" in bot.last(GROUP).visible_text


async def test_subscriptions_are_for_private_chats(bot: Harness, archive: Container) -> None:
    for command in ("subscribe", "unsubscribe", "settings"):
        await bot.send(f"/{command}@{BOT_NAME}", chat=GROUP_CHAT, user=ZH_USER, lang="zh")
        assert bot.last(GROUP).visible_text == ZH.private_only
    assert await archive.subscribers.get(GROUP) is None
    assert await archive.subscribers.get(ZH_USER) is None


async def test_a_flooding_user_is_slowed_down_without_affecting_others(bot: Harness) -> None:
    for _ in range(20):
        await bot.send("/help", advance=False)
    assert len(bot.replies()) == 20
    await bot.send("/help", advance=False)
    assert bot.last().visible_text == EN.slow_down
    for _ in range(5):
        await bot.send("/help", advance=False)
    assert len(bot.replies()) == 21  # one "slow down", then silence
    await bot.send("/help", user=ZH_USER, lang="zh", advance=False)
    assert bot.last(ZH_USER).visible_text.startswith("<b>") is False
    assert "/week — " in bot.last(ZH_USER).visible_text
    bot.clock.advance(seconds=60)
    await bot.send("/help", advance=False)
    assert len(bot.replies()) == 22 and "/week — " in bot.last().visible_text


async def test_flooding_buttons_get_a_quiet_answer(bot: Harness) -> None:
    await bot.send("/week", advance=False)
    message = bot.last()
    for _ in range(19):
        await bot.send("/help", advance=False)
    await bot.press(message, "1|w|2026-W08", advance=False)
    await bot.press(message, "1|w|2026-W08", advance=False)
    assert [a.get("text") for a in bot.state.callback_answers] == [EN.slow_down, None]
    assert message.edits == []


async def test_group_chatter_does_not_count_against_the_limit(bot: Harness) -> None:
    for _ in range(30):
        await bot.send("hello everyone", chat=GROUP_CHAT, advance=False)
    await bot.send("/help", advance=False)
    assert "/week — " in bot.last().visible_text


def member_update(chat: dict[str, Any], user: dict[str, Any], old: str, new: str) -> Any:
    bot_user = {"id": 7000000001, "is_bot": True, "first_name": "Digest Sandbox"}

    def member(status: str) -> dict[str, Any]:
        extra = {"until_date": 0} if status == "kicked" else {}
        return {"status": status, "user": bot_user, **extra}

    return {
        "my_chat_member": {
            "chat": chat,
            "from": user,
            "date": 1772438400,
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
    }


async def test_blocking_and_unblocking_keep_the_subscriber_in_sync(
    bot: Harness, archive: Container
) -> None:
    await bot.send("/subscribe")
    chat = {"id": USER, "type": "private", "first_name": "U"}
    user = bot.user(USER)
    await bot.feed(member_update(chat, user, "member", "kicked"))
    found = await archive.subscribers.get(USER)
    assert found is not None and found.state == "blocked"
    await bot.feed(member_update(chat, user, "kicked", "member"))
    found = await archive.subscribers.get(USER)
    assert found is not None and found.state == "active"  # subscribed before blocking
    assert len(bot.replies()) == 1  # nothing is sent for these updates


async def test_being_removed_from_a_group_touches_no_subscriber(
    bot: Harness, archive: Container
) -> None:
    await bot.feed(member_update(GROUP_CHAT, bot.user(USER), "member", "left"))
    assert await archive.subscribers.counts() == {"active": 0, "inactive": 0, "blocked": 0}


async def boom(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("database on fire")


async def test_an_unexpected_error_is_logged_and_answered_briefly(
    bot: Harness,
    archive: Container,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await bot.send("/week")  # the message whose button is pressed below
    monkeypatch.setattr(archive.browse, "latest", boom)
    monkeypatch.setattr(archive.browse, "week", boom)
    monkeypatch.setattr(archive.browse, "search_page", boom)
    with caplog.at_level(logging.ERROR):
        await bot.send("/latest")
        assert bot.last().visible_text == EN.oops
        await bot.send("/latest", user=ZH_USER, lang="zh")
        assert bot.last(ZH_USER).visible_text == ZH.oops
        await bot.press(bot.last(), "1|w|2026-W08")
        answer = await bot.inline("model")
    assert bot.state.callback_answers[-1]["text"] == EN.oops
    assert answer["results"] == [] and answer["button"]["text"] == EN.oops[:64]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4
    assert all(r.exc_info and "database on fire" in str(r.exc_info[1]) for r in errors)


async def test_a_digestbot_error_is_its_own_message(
    bot: Harness,
    archive: Container,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refuse(*args: object, **kwargs: object) -> Any:
        raise DigestbotError("the archive is being rebuilt <now>: try again in a minute")

    monkeypatch.setattr(archive.browse, "recent_picks", refuse)
    with caplog.at_level(logging.ERROR):
        await bot.send("/picks")
    assert bot.last().visible_text == "the archive is being rebuilt <now>: try again in a minute"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_reply_refused_with_429_is_sent_once_more(bot: Harness) -> None:
    """The chat just had a drip post (one message a second per chat) or a broadcast elsewhere
    took the second: Telegram refuses the reply with 429; it goes again after retry_after, so
    the user gets the answer once, late, instead of never."""
    from bot.sandbox import Fault, FaultKind

    bot.state.faults.push(Fault(FaultKind.RATE_LIMIT, method="sendMessage", retry_after=1))
    await bot.send("/help")
    assert [r.error_code for r in bot.state.rejected] == [429]
    [answer] = bot.replies()
    assert "/search" in answer.visible_text
    bot.state.rejected.clear()  # the harness checks at the end that nothing else was refused
