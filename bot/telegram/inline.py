"""Inline mode: ``@bot query`` -> up to 50 archive results; empty query -> this week's picks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.constants import ParseMode

from bot.telegram import render
from bot.telegram.context import Context, user_texts
from bot.telegram.render import Listed

MAX_RESULTS: Final = 50
CACHE_SECONDS: Final = 60


def _page(offset: str) -> int:
    return int(offset) if offset.isascii() and offset.isdigit() and 0 < int(offset) < 1000 else 1


def _articles(entries: Sequence[Listed], page: int) -> list[InlineQueryResultArticle]:
    return [
        InlineQueryResultArticle(
            id=f"{page}-{number}",
            title=render.inline_title(entry),
            description=render.plain(" · ".join(filter(None, [entry.issue, entry.title])), 120),
            input_message_content=InputTextMessageContent(
                render.inline_message(entry), parse_mode=ParseMode.HTML
            ),
        )
        for number, entry in enumerate(entries[:MAX_RESULTS], 1)
    ]


async def on_inline_query(update: Update, context: Context) -> None:
    inline = update.inline_query
    if inline is None:
        return
    text = " ".join(inline.query.split())
    browse = context.bot_data.browse
    if not text:
        view = await browse.week(None, language=(await user_texts(update, context)).lang)
        results = _articles([*view.picks, *view.dripped], 1)
        await inline.answer(results, cache_time=CACHE_SECONDS, is_personal=True)  # language
        return
    page = await browse.search_page(text, _page(inline.offset), per_page=MAX_RESULTS)
    next_offset = str(page.page + 1) if page.has_next else None
    results = _articles(page.hits, page.page)
    await inline.answer(results, cache_time=CACHE_SECONDS, next_offset=next_offset)
