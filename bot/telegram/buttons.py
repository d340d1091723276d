"""Inline keyboard presses: week navigation, search paging, settings."""

from __future__ import annotations

from typing import cast

from telegram import CallbackQuery, Message, Update

from bot.services.subscribers import Language, Receive, Subscriber
from bot.telegram import keyboards, render
from bot.telegram.context import Context, remember_language, user_texts
from bot.telegram.keyboards import QUIET_PRESETS, SearchNav, SettingChoice, WeekNav
from bot.telegram.replies import edit
from bot.telegram.texts import Texts, texts


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None:
        return
    t = await user_texts(update, context)
    action = keyboards.decode(query.data)
    if query.message is None or action is None:
        await query.answer(t.stale_button)
    elif isinstance(action, WeekNav):
        await _week(query, context, t, action)
    elif isinstance(action, SearchNav):
        await _search(query, context, t, action)
    else:
        await _setting(query, context, action)


async def _week(query: CallbackQuery, context: Context, t: Texts, action: WeekNav) -> None:
    view = await context.bot_data.browse.week(action.key, language=t.lang)
    await edit(query, render.week(view, t), keyboards.week_keyboard(view.prev_key, view.next_key))
    await query.answer()


async def _search(query: CallbackQuery, context: Context, t: Texts, action: SearchNav) -> None:
    store = context.chat_data if context.chat_data is not None else {}
    text = action.query or keyboards.kept_query(store, action.token or "")
    if text is None:
        await query.answer(t.stale_button)
        return
    page = await context.bot_data.browse.search_page(text, action.page)
    markup = keyboards.search_keyboard(text, page.page, page.has_prev, page.has_next, t, store)
    await edit(query, render.search(page, t), markup)
    await query.answer()


async def _apply(context: Context, user_id: int, choice: SettingChoice) -> Subscriber:
    subscribers = context.bot_data.subscribers
    if choice.field == "subscribed":
        if choice.value == "on":
            return await subscribers.subscribe(user_id)
        return await subscribers.unsubscribe(user_id)
    if choice.field == "receive":
        return await subscribers.update(user_id, receive=cast(Receive, choice.value))
    if choice.field == "language":
        return await subscribers.update(user_id, language=cast(Language, choice.value))
    period = QUIET_PRESETS[choice.value]
    if period is None:
        return await subscribers.update(user_id, clear_quiet=True)
    return await subscribers.update(user_id, quiet=period)


async def _setting(query: CallbackQuery, context: Context, choice: SettingChoice) -> None:
    found = await _apply(context, query.from_user.id, choice)
    remember_language(context, found.language)
    t = texts(found.language)
    markup = keyboards.subscriber_keyboard(t, found)
    unchanged = isinstance(query.message, Message) and query.message.reply_markup == markup
    if not unchanged:
        await edit(query, render.settings(found, t), markup)
    await query.answer(t.saved)
