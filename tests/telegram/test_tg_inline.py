"""Inline mode: ``@bot query`` answers with archive articles; empty query: this week's picks."""

from __future__ import annotations

from typing import Any

from bot.app import Container
from bot.sandbox.telegram_html import parse_html
from tests.builders import item, store, weekly
from tests.telegram.conftest import DRIPPED_TEXT, HOSTILE_HEADLINE, ZH_USER, Harness


def inserted(result: dict[str, Any]) -> str:
    """The visible text an inline result inserts into the chat."""
    content = result["input_message_content"]
    assert content["parse_mode"] == "HTML"
    return parse_html(content["message_text"]).text


async def test_inline_query_returns_articles_with_headline_and_link(bot: Harness) -> None:
    answer = await bot.inline("diffusion")
    [result] = answer["results"]
    assert result["type"] == "article"
    assert result["title"] == "Diffusion transformers get cheaper"
    assert inserted(result) == (
        "Diffusion transformers get cheaper\nhttps://arxiv.org/abs/2602.10001"
    )
    assert "next_offset" not in answer or not answer["next_offset"]


async def test_empty_inline_query_shows_this_weeks_picks(bot: Harness) -> None:
    answer = await bot.inline("")
    titles = [r["title"] for r in answer["results"]]
    assert titles == [HOSTILE_HEADLINE, "Wavelet pruning for tiny GPUs", DRIPPED_TEXT]
    assert HOSTILE_HEADLINE in inserted(answer["results"][0])


async def test_empty_inline_query_in_chinese(bot: Harness) -> None:
    answer = await bot.inline("   ", user=ZH_USER, lang="zh")
    assert answer["results"][0]["title"] == "稀疏专家模型的扩展"


async def test_inline_results_stop_at_50_and_page_on(bot: Harness, archive: Container) -> None:
    many = [item(i, f"Gradient trick {i}", arxiv=f"2501.{i:05d}") for i in range(1, 61)]
    await store(archive, weekly("2025-W05", many))
    first = await bot.inline("gradient")
    assert len(first["results"]) == 50
    assert first["next_offset"] == "2"
    second = await bot.inline("gradient", offset=first["next_offset"])
    assert len(second["results"]) == 10
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 60
    titles = {r["title"] for r in first["results"] + second["results"]}
    assert titles == {f"Gradient trick {i}" for i in range(1, 61)}


async def test_inline_query_without_results_is_an_empty_answer(bot: Harness) -> None:
    answer = await bot.inline("zebra quokka")
    assert answer["results"] == []


async def test_inline_query_on_an_empty_archive_is_answered(empty_bot: Harness) -> None:
    answer = await empty_bot.inline("")
    assert answer["results"] == []
    assert answer["button"]["start_parameter"] == "help"
