"""Every subscriber command through the real PTB Application and the strict fake Bot API."""

from __future__ import annotations

from bot.app import Container
from bot.telegram.texts import EN, ZH
from tests.telegram.conftest import (
    DRIPPED_TEXT,
    HOSTILE_HEADLINE,
    USER,
    ZH_USER,
    Harness,
)


async def test_start_registers_the_user_and_welcomes_in_english(
    bot: Harness, archive: Container
) -> None:
    await bot.send("/start")
    [welcome] = bot.replies()
    assert welcome.parse_mode == "HTML"
    assert welcome.visible_text.startswith("Hi!")
    assert "/week — " in welcome.visible_text and "/settings — " in welcome.visible_text
    found = await archive.subscribers.get(USER)
    assert found is not None and found.state == "inactive" and found.language == "en"


async def test_start_follows_the_telegram_language(bot: Harness, archive: Container) -> None:
    await bot.send("/start", user=ZH_USER, lang="zh-hans")
    [welcome] = bot.replies(ZH_USER)
    assert welcome.visible_text.startswith("你好")
    assert "/week — 本周精选" in welcome.visible_text
    found = await archive.subscribers.get(ZH_USER)
    assert found is not None and found.language == "zh"


async def test_start_without_language_code_is_english(bot: Harness) -> None:
    await bot.send("/start", lang=None)
    assert bot.last().visible_text.startswith("Hi!")


async def test_deep_link_opens_a_week(bot: Harness) -> None:
    await bot.send("/start week-2026-08")
    [reply] = bot.replies()
    assert reply.visible_text.startswith("ML news 2026-W08")
    assert "Diffusion transformers get cheaper" in reply.visible_text
    assert bot.buttons(reply) == {"« 2026-W07": "1|w|2026-W07", "2026-W09 »": "1|w|2026-W09"}


async def test_deep_link_opens_a_paper(bot: Harness) -> None:
    await bot.send("/start paper-2009_05697")
    [reply] = bot.replies()
    assert "Wavelet pruning for tiny GPUs" in reply.visible_text
    assert "arXiv:2009.05697" in reply.visible_text


async def test_unknown_deep_link_payload_is_a_plain_welcome(bot: Harness) -> None:
    await bot.send("/start <b>&amp;")
    assert bot.last().visible_text.startswith("Hi!")


async def test_help_lists_every_command_in_both_languages(bot: Harness) -> None:
    await bot.send("/help")
    await bot.send("/help", user=ZH_USER, lang="zh")
    for reply, t in ((bot.last(), EN), (bot.last(ZH_USER), ZH)):
        for command, description in t.commands:
            assert f"/{command} — {description}" in reply.visible_text


async def test_week_shows_picks_and_this_weeks_drip(bot: Harness) -> None:
    await bot.send("/week")
    [reply] = bot.replies()
    text = reply.visible_text
    assert text.startswith("ML news 2026-W09")
    assert HOSTILE_HEADLINE in text  # shown as text, not parsed as markup
    assert "&lt;script&gt;" in reply.text and "<script>" not in reply.text
    assert "Wavelet pruning for tiny GPUs" in text
    assert "Not a pick at all" not in text
    assert text.index("Posted this week") < text.index(DRIPPED_TEXT)
    links = [e["url"] for e in reply.entities if e["type"] == "text_link"]
    assert "https://medium.com/@demo/ml-news-2026-w09" in links
    assert "https://arxiv.org/abs/2603.09999" in links
    assert bot.buttons(reply) == {"« 2026-W08": "1|w|2026-W08"}


async def test_week_and_issue_take_any_spelling_of_a_key(bot: Harness) -> None:
    for command in ("/week 2026-08", "/week 2026-w08", "/issue 2026-W08", "/issue 2026-8"):
        await bot.send(command)
        assert bot.last().visible_text.startswith("ML news 2026-W08"), command
    assert "Posted this week" in bot.last().visible_text
    assert DRIPPED_TEXT not in bot.last().visible_text  # only the latest issue lists the drip


async def test_week_prefers_the_users_language(bot: Harness) -> None:
    await bot.send("/week", user=ZH_USER, lang="zh-TW")
    reply = bot.last(ZH_USER)
    assert reply.visible_text.startswith("机器学习周报 2026-W09")
    assert "稀疏专家模型的扩展" in reply.visible_text and "编辑精选" in reply.visible_text


async def test_malformed_arguments_get_usage(bot: Harness) -> None:
    await bot.send("/issue")
    assert bot.last().visible_text == EN.usage_issue
    await bot.send("/week 2026 08 extra")
    assert bot.last().visible_text == EN.usage_week
    await bot.send("/search")
    assert bot.last().visible_text == EN.usage_search
    await bot.send("/search   ", user=ZH_USER, lang="zh")
    assert bot.last(ZH_USER).visible_text == ZH.usage_search


async def test_unknown_issue_is_one_short_line(bot: Harness) -> None:
    await bot.send("/week 1999-01")
    assert bot.last().visible_text == EN.unknown_issue.format(key="1999-W01")
    await bot.send("/issue no-such-thing", user=ZH_USER, lang="zh")
    assert bot.last(ZH_USER).visible_text == ZH.unknown_issue.format(key="no-such-thing")


async def test_latest_links_the_newest_digest(bot: Harness) -> None:
    await bot.send("/latest")
    reply = bot.last()
    assert reply.visible_text == "Newest digest\nML news 2026-W09"
    [link] = [e for e in reply.entities if e["type"] == "text_link"]
    assert link["url"] == "https://medium.com/@demo/ml-news-2026-w09"


async def test_picks_lists_recent_picks_across_issues(bot: Harness) -> None:
    await bot.send("/picks")
    text = bot.last().visible_text
    assert text.startswith("Recent editor's picks")
    for headline in ("Wavelet pruning", "Diffusion transformers", "Model number 1 learns"):
        assert headline in text
    assert text.index("Wavelet pruning") < text.index("Diffusion transformers")
    assert "2026-W08" in text  # the compact list names each entry's issue


async def test_search_lists_headline_issue_and_link(bot: Harness) -> None:
    await bot.send("/search diffusion")
    reply = bot.last()
    assert reply.visible_text.startswith("Results for diffusion · page 1")
    assert "Diffusion transformers get cheaper\n   2026-W08 · arXiv:2602.10001" in (
        reply.visible_text
    )
    assert reply.reply_markup is None  # one page only


async def test_plain_text_in_private_chat_searches(bot: Harness) -> None:
    await bot.send("retrieval")
    assert "A survey of retrieval" in bot.last().visible_text
    await bot.send("zebra quokka")
    assert bot.last().visible_text == "Nothing found for zebra quokka."


async def test_chinese_search(bot: Harness) -> None:
    await bot.send("/search 剪枝", user=ZH_USER, lang="zh")
    reply = bot.last(ZH_USER)
    assert reply.visible_text.startswith("剪枝 的搜索结果")
    assert "小波剪枝让小显卡也能跑" in reply.visible_text


async def test_subscribe_and_unsubscribe(bot: Harness, archive: Container) -> None:
    await bot.send("/subscribe")
    assert bot.last().visible_text == EN.subscribed
    found = await archive.subscribers.get(USER)
    assert found is not None and found.state == "active"
    await bot.send("/unsubscribe")
    assert bot.last().visible_text == EN.unsubscribed
    found = await archive.subscribers.get(USER)
    assert found is not None and found.state == "inactive"


async def test_settings_shows_the_current_choices(bot: Harness) -> None:
    await bot.send("/settings", user=ZH_USER, lang="zh")
    reply = bot.last(ZH_USER)
    assert reply.visible_text.startswith("设置 · 未订阅")
    assert "免打扰：关闭" in reply.visible_text.replace(": ", "：")
    buttons = bot.buttons(reply)
    assert buttons["✓ 论文 + 简报"] == "1|c|r|both"
    assert buttons["✓ 中文"] == "1|c|l|zh" and buttons["English"] == "1|c|l|en"
    assert buttons["订阅"] == "1|c|s|on"
    assert all(len(data.encode()) <= 64 for data in buttons.values())


async def test_unknown_command_gets_a_helpful_answer(bot: Harness) -> None:
    await bot.send("/frobnicate now")
    assert bot.last().visible_text == EN.unknown_command
    await bot.send("/frobnicate", user=ZH_USER, lang="zh")
    assert bot.last(ZH_USER).visible_text == ZH.unknown_command


async def test_a_sticker_gets_a_hint(bot: Harness) -> None:
    sticker = {
        "file_id": "s1",
        "file_unique_id": "u1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    await bot.send("", extra={"sticker": sticker})
    assert bot.last().visible_text == EN.usage_search


async def test_empty_archive_answers_politely(empty_bot: Harness) -> None:
    await empty_bot.send("/latest")
    assert empty_bot.last().visible_text == EN.empty_archive
    await empty_bot.send("/picks")
    assert empty_bot.last().visible_text == EN.no_picks
    await empty_bot.send("/week")
    assert empty_bot.last().visible_text.startswith("No issue")
    await empty_bot.send("/search anything")
    assert empty_bot.last().visible_text == "Nothing found for anything."


async def test_publish_commands_in_english_and_chinese(bot: Harness) -> None:
    from bot.telegram import publish_commands

    await publish_commands(bot.application.bot)
    assert [c["command"] for c in bot.state.commands] == [c for c, _ in EN.commands]
    zh = bot.state.scoped_commands[('{"type": "default"}', "zh")]
    assert [(c["command"], c["description"]) for c in zh] == list(ZH.commands)
