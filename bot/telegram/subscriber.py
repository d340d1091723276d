"""Subscriber commands: each parses, calls one service, formats the reply."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Final

from telegram import ChatMember, InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from bot.domain.quiet import UnknownTimezone
from bot.services.browse import SearchPage, WeekView
from bot.services.subscribers import Subscriber
from bot.telegram import keyboards, render, zones
from bot.telegram.context import Context, remember_language, user_texts
from bot.telegram.replies import reply
from bot.telegram.texts import Texts

RECENT_PICKS: Final = 10
_WEEK_LINK: Final = re.compile(r"week-(\d{4})-w?(\d{1,2})", re.IGNORECASE)
_PAPER_LINK: Final = re.compile(r"paper-(\d{4})_(\d{4,5})(?:v\d+)?", re.IGNORECASE)


def _private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def _argument_text(update: Update) -> str:
    """Everything after the command, whitespace normalised."""
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=1) if message else []
    return " ".join(parts[1].split()) if len(parts) > 1 else ""


def week_reply(
    context: Context, view: WeekView, t: Texts
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The HTML and keyboard of a week (kept beside the service's kept view)."""

    def make() -> tuple[str, InlineKeyboardMarkup | None]:
        return render.week(view, t), keyboards.week_keyboard(view.prev_key, view.next_key)

    return context.bot_data.replies.get(view, t.lang, "week", make)


def search_html(context: Context, page: SearchPage, t: Texts) -> str:
    """The HTML of a search page (its keyboard may keep the query in the chat: not kept)."""
    return context.bot_data.replies.get(page, t.lang, "search", lambda: render.search(page, t))


def settings_reply(
    context: Context, found: Subscriber, t: Texts, now: datetime
) -> tuple[str, InlineKeyboardMarkup]:
    """The settings HTML and keyboard, kept beside the subscriber's kept snapshot: ``now``
    only shows as the time zone's UTC offset, which is part of the key."""

    def make() -> tuple[str, InlineKeyboardMarkup]:
        return render.settings(found, t, now), keyboards.subscriber_keyboard(t, found, now)

    try:
        offset = zones.utc_offset(found.timezone, now)
    except UnknownTimezone:  # shown as stored, whatever the time
        offset = "?"
    return context.bot_data.replies.get(found, t.lang, f"settings {offset}", make)


async def send_week(update: Update, context: Context, t: Texts, key: str | None) -> None:
    view = await context.bot_data.browse.week(key, language=t.lang)
    await reply(update, *week_reply(context, view, t))


async def send_search(update: Update, context: Context, t: Texts, query: str) -> None:
    page = await context.bot_data.browse.search_page(query, 1)
    store = context.chat_data if context.chat_data is not None else {}
    markup = keyboards.search_keyboard(query, 1, page.has_prev, page.has_next, t, store)
    await reply(update, search_html(context, page, t), markup)


async def start(update: Update, context: Context) -> None:
    chat, user = update.effective_chat, update.effective_user
    if chat is not None and user is not None and chat.type == ChatType.PRIVATE:
        found = await context.bot_data.subscribers.start(chat.id, user.language_code)
        remember_language(context, found.language)
    t = await user_texts(update, context)
    payload = context.args[0] if context.args else ""
    if week := _WEEK_LINK.fullmatch(payload):
        await send_week(update, context, t, f"{week[1]}-W{int(week[2]):02d}")
    elif paper := _PAPER_LINK.fullmatch(payload):
        await send_search(update, context, t, f"{paper[1]}.{paper[2]}")
    elif payload == "help":
        await reply(update, _help(context, t))
    else:
        welcome = context.bot_data.replies.get(
            t, t.lang, "welcome", lambda: html.escape(t.welcome) + "\n\n" + render.help_text(t)
        )
        await reply(update, welcome)


def _help(context: Context, t: Texts) -> str:
    return context.bot_data.replies.get(t, t.lang, "help", lambda: render.help_text(t))


async def help_command(update: Update, context: Context) -> None:
    await reply(update, _help(context, await user_texts(update, context)))


async def week(update: Update, context: Context) -> None:
    t = await user_texts(update, context)
    args = context.args or []
    if len(args) > 1:
        await reply(update, html.escape(t.usage_week))
        return
    await send_week(update, context, t, args[0] if args else None)


async def issue(update: Update, context: Context) -> None:
    t = await user_texts(update, context)
    args = context.args or []
    if len(args) != 1:
        await reply(update, html.escape(t.usage_issue))
        return
    await send_week(update, context, t, args[0])


async def latest(update: Update, context: Context) -> None:
    t = await user_texts(update, context)
    view = await context.bot_data.browse.latest(language=t.lang)
    if view is None:
        await reply(update, html.escape(t.empty_archive))
        return
    text = context.bot_data.replies.get(view, t.lang, "latest", lambda: render.latest(view, t))
    await reply(update, text, preview=True)


async def picks(update: Update, context: Context) -> None:
    t = await user_texts(update, context)
    found = await context.bot_data.browse.recent_picks(RECENT_PICKS, language=t.lang)
    if not found:
        await reply(update, html.escape(t.no_picks))
        return
    text = context.bot_data.replies.get(
        found, t.lang, "picks", lambda: render.entries(t.recent_picks, found, t)
    )
    await reply(update, text)


async def search(update: Update, context: Context) -> None:
    t = await user_texts(update, context)
    query = _argument_text(update)
    if not query:
        await reply(update, html.escape(t.usage_search))
        return
    await send_search(update, context, t, query)


async def plain_text(update: Update, context: Context) -> None:
    """Private chat: any text is a search."""
    t = await user_texts(update, context)
    message = update.effective_message
    query = " ".join((message.text or "").split()) if message else ""
    if not query:
        await reply(update, html.escape(t.usage_search))
        return
    await send_search(update, context, t, query)


async def _private_only(update: Update, context: Context) -> int | None:
    """The user's chat id in a private chat; elsewhere a short answer and None."""
    if _private(update) and update.effective_user is not None:
        return update.effective_user.id
    await reply(update, html.escape((await user_texts(update, context)).private_only))
    return None


async def subscribe(update: Update, context: Context) -> None:
    if (chat_id := await _private_only(update, context)) is None:
        return
    code = update.effective_user.language_code if update.effective_user else None
    await context.bot_data.subscribers.subscribe(chat_id, code)
    await reply(update, html.escape((await user_texts(update, context)).subscribed))


async def unsubscribe(update: Update, context: Context) -> None:
    if (chat_id := await _private_only(update, context)) is None:
        return
    await context.bot_data.subscribers.unsubscribe(chat_id)
    await reply(update, html.escape((await user_texts(update, context)).unsubscribed))


async def settings(update: Update, context: Context) -> None:
    if (chat_id := await _private_only(update, context)) is None:
        return
    subscribers = context.bot_data.subscribers
    code = update.effective_user.language_code if update.effective_user else None
    found = await subscribers.get(chat_id) or await subscribers.start(chat_id, code)
    remember_language(context, found.language)
    t = await user_texts(update, context)
    await reply(update, *settings_reply(context, found, t, context.bot_data.clock()))


async def unknown(update: Update, context: Context) -> None:
    await reply(update, html.escape((await user_texts(update, context)).unknown_command))


async def not_text(update: Update, context: Context) -> None:
    """Stickers, photos, ...: say what the bot understands."""
    await reply(update, html.escape((await user_texts(update, context)).usage_search))


async def member_changed(update: Update, context: Context) -> None:
    """The user blocked the bot (or unblocked it): keep the subscriber's state in sync."""
    changed = update.my_chat_member
    if changed is None or changed.chat.type != ChatType.PRIVATE:
        return
    status = changed.new_chat_member.status
    subscribers = context.bot_data.subscribers
    if status in (ChatMember.BANNED, ChatMember.LEFT):
        await subscribers.mark_blocked(changed.chat.id)
    elif status == ChatMember.MEMBER:
        await subscribers.start(changed.chat.id, changed.from_user.language_code)
