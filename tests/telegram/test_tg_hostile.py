"""Hostile input never errors: HTML specials, 4,000-character queries, FTS syntax, emoji, RTL
marks; every reply stays valid HTML within 4096 visible characters."""

from __future__ import annotations

import logging

import pytest

from bot.app import Container
from bot.telegram.texts import EN
from tests.builders import item, store, weekly
from tests.telegram.conftest import USER, Harness

HOSTILE = [
    '<b>bold</b> & <a href="javascript:x">x</a> &amp; &foo; "q" \'s',
    'model" OR "x* NEAR(a b) AND -gan : ^title',
    "😀👩‍💻 🇯🇵 model",
    "\u202emodel\u202c \u200f\u200etransformer",
    "模型 \u0000 \x1b[31m",
    "{query} {0} %s %(x)s",
    "a" * 199,
]


def assert_reply_is_sane(bot: Harness, chat_id: int = USER) -> str:
    reply = bot.last(chat_id)
    assert reply.parse_mode == "HTML"
    assert 0 < len(reply.visible_text.encode("utf-16-le")) // 2 <= 4096
    return reply.visible_text


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_queries_get_ordinary_replies(
    bot: Harness, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        await bot.send(f"/search {text}")
        first = assert_reply_is_sane(bot)
        await bot.send(text)  # plain text searches too
        second = assert_reply_is_sane(bot)
        answer = await bot.inline(text)
    assert first.startswith(("Results for", "Nothing found for"))
    assert second.startswith(("Results for", "Nothing found for"))
    assert isinstance(answer["results"], list)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_query_is_echoed_as_text_not_markup(bot: Harness) -> None:
    await bot.send("/search <i>zebra</i> & co")
    assert bot.last().visible_text == "Nothing found for <i>zebra</i> & co."


async def test_a_4000_character_query_is_one_line(bot: Harness) -> None:
    await bot.send("/search " + "x" * 4000)
    assert bot.last().visible_text == EN.query_too_long.format(limit=200)
    await bot.send("模" * 4000)
    assert bot.last().visible_text == EN.query_too_long.format(limit=200)
    answer = await bot.inline("y" * 4000)
    assert answer["results"] == []
    assert answer["button"]["text"] == EN.query_too_long.format(limit=200)[:64]


async def test_hostile_command_arguments(bot: Harness) -> None:
    for command in ("/week <b>", "/issue &amp;😀", "/week \u202e2026-08", "/start " + "z" * 64):
        await bot.send(command)
        assert_reply_is_sane(bot)


async def test_long_lists_are_cut_to_one_message(bot: Harness, archive: Container) -> None:
    headline = "Very long headline <&> " + "word " * 200
    picks = [item(i, f"{i} {headline}", arxiv=f"2401.{i:05d}", pick=True) for i in range(1, 41)]
    await store(archive, weekly("2026-W10", picks))
    await bot.send("/week 2026-W10")
    text = assert_reply_is_sane(bot)
    assert "… and " in text and text.rstrip().endswith("more")
    await bot.send("/picks")
    assert_reply_is_sane(bot)


async def test_invisible_and_bidi_characters_are_removed_from_archive_text(
    bot: Harness, archive: Container
) -> None:
    await store(
        archive,
        weekly(
            "2026-W10",
            [item(1, "Spoofed \u202ehcraeser\u202c paper", url="https://x.org/a", pick=True)],
        ),
    )
    await bot.send("/issue 2026-W10")
    text = bot.last().visible_text
    assert "Spoofed hcraeser paper" in text and "\u202e" not in text
