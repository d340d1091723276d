"""Inline keyboard buttons: week navigation, search paging, settings, stale and forged data."""

from __future__ import annotations

import pytest

from bot.app import Container
from bot.telegram.texts import EN, ZH
from tests.telegram.conftest import USER, ZH_USER, Harness


def answers(bot: Harness) -> list[dict[str, object]]:
    return bot.state.callback_answers


async def test_prev_and_next_week_edit_the_message(bot: Harness) -> None:
    await bot.send("/week")
    [message] = bot.replies()
    await bot.press(message, bot.buttons(message)["« 2026-W08"])
    assert [m.message_id for m in bot.replies()] == [message.message_id]  # edited, not sent
    assert message.visible_text.startswith("ML news 2026-W08")
    assert bot.buttons(message) == {"« 2026-W07": "1|w|2026-W07", "2026-W09 »": "1|w|2026-W09"}
    await bot.press(message, "1|w|2026-W07")
    assert message.visible_text.startswith("ML news 2026-W07")
    assert bot.buttons(message) == {"2026-W08 »": "1|w|2026-W08"}  # the oldest: no Prev
    assert len(answers(bot)) == 2 and all("text" not in a for a in answers(bot))


async def test_search_pages_through_every_result(bot: Harness) -> None:
    await bot.send("/search model")
    [message] = bot.replies()
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        lines = [ln for ln in message.visible_text.splitlines() if ln[:1].isdigit()]
        seen += [ln.split(". ", 1)[1] for ln in lines]
        assert lines[0].startswith(f"{(pages - 1) * 5 + 1}. ")  # numbering continues
        buttons = bot.buttons(message) if message.reply_markup else {}
        assert ("« Prev" in buttons) == (pages > 1)
        if "Next »" not in buttons:
            break
        await bot.press(message, buttons["Next »"])
    assert pages == 3
    assert sorted(seen) == sorted(f"Model number {i} learns faster" for i in range(1, 13))
    await bot.press(message, bot.buttons(message)["« Prev"])
    assert "page 2" in message.visible_text


async def test_a_query_too_long_for_a_button_pages_through_a_token(bot: Harness) -> None:
    query = "model learns faster " * 3 + "number"
    await bot.send(f"/search {query}")
    message = bot.last()
    data = bot.buttons(message)["Next »"]
    assert data.startswith("1|t|2|") and len(data.encode()) <= 64
    await bot.press(message, data)
    assert "page 2" in message.visible_text
    assert bot.buttons(message)["« Prev"].startswith("1|t|1|")


@pytest.mark.parametrize(
    "data",
    [
        "garbage",
        "",
        "0|w|2026-W08",  # an older format
        "2|w|2026-W08",  # a newer one
        "1|w|<b>",
        "1|w|2026-W08|extra",
        "1|s|0|model",
        "1|s|99999|model",
        "1|s|2|",
        "1|s|-1|model",
        "1|t|2|0123456789ab",  # a token this chat never got (or one forgotten at restart)
        "1|t|2|NOT-A-TOKEN",
        "1|c|r|everything",
        "1|c|q|21-06",
        "1|c|x|on",
        "1|c|l|fr",
    ],
)
async def test_stale_or_forged_buttons_get_a_short_answer(bot: Harness, data: str) -> None:
    await bot.send("/week")
    message = bot.last()
    before = message.visible_text
    await bot.press(message, data)
    [answer] = answers(bot)
    assert answer["text"] == EN.stale_button
    assert message.visible_text == before and message.edits == []


async def test_a_button_for_a_removed_issue_says_so(bot: Harness, archive: Container) -> None:
    await bot.send("/week")
    message = bot.last()
    await archive.archive.remove("2026-W08")
    await bot.press(message, "1|w|2026-W08", user=ZH_USER, lang="zh")
    [answer] = answers(bot)
    assert answer["text"] == ZH.unknown_issue.format(key="2026-W08")
    assert message.edits == []


async def test_settings_buttons_change_and_show_the_choice(
    bot: Harness, archive: Container
) -> None:
    await bot.send("/settings")
    message = bot.last()
    await bot.press(message, bot.buttons(message)["Papers"])
    assert "Receive: Papers\n" in message.visible_text
    assert "✓ Papers" in bot.buttons(message)
    await bot.press(message, bot.buttons(message)["22–07"])
    assert "Quiet hours: 22:00–07:00 (times in Asia/Tokyo)" in message.visible_text
    await bot.press(message, bot.buttons(message)["Subscribe"])
    assert message.visible_text.startswith("Settings · Subscribed")
    found = await archive.subscribers.get(USER)
    assert found is not None
    assert (found.receive, found.quiet_start, found.quiet_end, found.state) == (
        "drip",
        "22:00",
        "07:00",
        "active",
    )
    await bot.press(message, bot.buttons(message)["✓ 22–07"])  # the same choice again
    await bot.press(message, bot.buttons(message)["off"])
    found = await archive.subscribers.get(USER)
    assert found is not None and found.quiet_start is None
    await bot.press(message, bot.buttons(message)["Unsubscribe"])
    found = await archive.subscribers.get(USER)
    assert found is not None and found.state == "inactive"
    assert [a.get("text") for a in answers(bot)] == [EN.saved] * 6


async def test_switching_language_switches_every_reply(bot: Harness, archive: Container) -> None:
    await bot.send("/settings")
    message = bot.last()
    await bot.press(message, bot.buttons(message)["中文"])
    assert message.visible_text.startswith("设置")
    assert answers(bot)[-1]["text"] == ZH.saved
    await bot.send("/help")  # the user's Telegram language is still English
    assert "/week — 本周精选" in bot.last().visible_text
    found = await archive.subscribers.get(USER)
    assert found is not None and found.language == "zh"


async def test_a_settings_button_before_start_creates_the_subscriber(
    bot: Harness, archive: Container
) -> None:
    await bot.send("/week", user=ZH_USER)
    await bot.press(bot.last(ZH_USER), "1|c|r|digest", user=ZH_USER)
    found = await archive.subscribers.get(ZH_USER)
    assert found is not None and found.receive == "digest"
