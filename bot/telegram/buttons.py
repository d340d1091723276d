"""Inline keyboard presses: week navigation, search paging, settings, the time zone picker."""

from __future__ import annotations

from typing import cast

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update

from bot.services.subscribers import Language, Receive, Subscriber
from bot.telegram import keyboards, render, zones
from bot.telegram.context import Context, remember_language, user_texts
from bot.telegram.keyboards import (
    QUIET_PRESETS,
    SearchNav,
    SettingChoice,
    SettingsMenu,
    WeekNav,
    ZoneMenu,
)
from bot.telegram.replies import edit
from bot.telegram.subscriber import search_html, settings_reply, week_reply
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
    elif isinstance(action, ZoneMenu):
        await _zone_menu(query, context, t, action)
    elif isinstance(action, SettingsMenu):
        await _show_settings(query, context, await _current(context, query), saved=False)
    else:
        await _setting(query, context, action)


async def _week(query: CallbackQuery, context: Context, t: Texts, action: WeekNav) -> None:
    view = await context.bot_data.browse.week(action.key, language=t.lang)
    await edit(query, *week_reply(context, view, t))
    await query.answer()


async def _search(query: CallbackQuery, context: Context, t: Texts, action: SearchNav) -> None:
    store = context.chat_data if context.chat_data is not None else {}
    text = action.query or keyboards.kept_query(store, action.token or "")
    if text is None:
        await query.answer(t.stale_button)
        return
    page = await context.bot_data.browse.search_page(text, action.page)
    markup = keyboards.search_keyboard(text, page.page, page.has_prev, page.has_next, t, store)
    await edit(query, search_html(context, page, t), markup)
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
    if choice.field == "timezone":
        return await subscribers.update(user_id, timezone=choice.value)
    period = QUIET_PRESETS[choice.value]
    if period is None:
        return await subscribers.update(user_id, clear_quiet=True)
    return await subscribers.update(user_id, quiet=period)


async def _setting(query: CallbackQuery, context: Context, choice: SettingChoice) -> None:
    found = await _apply(context, query.from_user.id, choice)
    await _show_settings(query, context, found, saved=True)


async def _current(context: Context, query: CallbackQuery) -> Subscriber:
    """The presser's settings (a new subscriber when the bot never saw them)."""
    subscribers = context.bot_data.subscribers
    user = query.from_user
    return await subscribers.get(user.id) or await subscribers.start(user.id, user.language_code)


async def _show_settings(
    query: CallbackQuery, context: Context, found: Subscriber, *, saved: bool
) -> None:
    remember_language(context, found.language)
    t = texts(found.language)
    text, markup = settings_reply(context, found, t, context.bot_data.clock())
    await _edit_unless_same(query, text, markup)
    await query.answer(t.saved if saved else None)


async def _zone_menu(query: CallbackQuery, context: Context, t: Texts, menu: ZoneMenu) -> None:
    """Step 1 (regions) or step 2 (a page of one region's zones) of the time zone picker."""
    current = (await _current(context, query)).timezone
    region = zones.BY_CODE.get(menu.region or "")
    if region is None:
        await _edit_unless_same(
            query, render.choose_region(t), keyboards.region_keyboard(t, current)
        )
    else:
        now = context.bot_data.clock()
        markup = keyboards.zone_keyboard(t, region, menu.page, current, now)
        await _edit_unless_same(query, render.choose_zone(region, t), markup)
    await query.answer()


async def _edit_unless_same(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Pressing the button of the choice already shown changes nothing: no edit."""
    message = query.message
    if isinstance(message, Message) and message.reply_markup == markup:
        return
    await edit(query, text, markup)
