"""Maintainer button presses (``m|...`` callback data); the presser was checked by :mod:`.auth`.

Queue buttons act, then redraw the page they belong to; failure-alert buttons act on the
post the alert names; a stale or forged button gets a short answer and changes nothing.
"""

from __future__ import annotations

import html

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest

from bot.telegram.context import Context
from bot.telegram.maintainer import commands, keyboards, views
from bot.telegram.maintainer.context import actor, services, texts_for
from bot.telegram.maintainer.keyboards import (
    AddAct,
    AlertAct,
    ImportAct,
    QueueAct,
    ResumeAct,
    SlotsAct,
    StatusAct,
)
from bot.telegram.maintainer.texts import MaintTexts
from bot.telegram.replies import edit


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None:
        return
    t = await texts_for(update, context)
    action = keyboards.decode(query.data)
    if action is None or query.message is None:
        await query.answer(t.stale)
    elif isinstance(action, QueueAct):
        await _queue(update, query, context, t, action)
    elif isinstance(action, AddAct):
        await _add(update, query, context, t, action)
    elif isinstance(action, SlotsAct):
        await _slots(update, query, context, t, action)
    elif isinstance(action, ImportAct):
        await _import(update, query, context, t, action)
    elif isinstance(action, ResumeAct):
        await _resume(update, query, context, t, action)
    elif isinstance(action, AlertAct):
        await _alert(update, query, context, t, action)
    else:
        assert isinstance(action, StatusAct)
        text, markup = await commands.status_view(context, t)
        await _send(query, text, markup)
        await query.answer()


async def _send(query: CallbackQuery, text: str, markup: object = None) -> None:
    """A new message in the chat of the pressed button."""
    message = query.message
    if message is not None:
        await message.get_bot().send_message(
            message.chat.id,
            text,
            parse_mode="HTML",
            reply_markup=markup,  # type: ignore[arg-type]
            link_preview_options=None,
        )


async def _queue(
    update: Update, query: CallbackQuery, context: Context, t: MaintTexts, action: QueueAct
) -> None:
    queue = services(context).queue
    who = actor(update)
    note = t.done
    if action.verb == "edit":
        current = await queue.view(None)
        found = next((p for p in current.posts if p.id == action.post_id), None)
        if found is None:
            await query.answer(t.stale)
            return
        await _send(query, views.edit_hint(found.id, found.text, t))
        await query.answer()
        return
    if action.verb == "up":
        await queue.up(action.post_id, actor=who)
    elif action.verb == "down":
        await queue.down(action.post_id, actor=who)
    elif action.verb == "top":
        await queue.top(action.post_id, actor=who)
        note = t.topped.format(id=action.post_id)
    elif action.verb == "drop":
        await queue.remove(action.post_id, actor=who)
        note = t.dropped.format(id=action.post_id)
    elif action.verb == "now":  # the report follows when it is done; /queue redraws then
        commands.release_in_background(update, context, action.post_id, t)
        await query.answer(t.sending.format(id=action.post_id))
        return
    text, markup = await commands.show_queue(context, t, action.page)
    await edit(query, text, markup)
    await query.answer(note if action.verb != "page" else None)


async def _add(
    update: Update, query: CallbackQuery, context: Context, t: MaintTexts, action: AddAct
) -> None:
    store = context.chat_data if context.chat_data is not None else {}
    pending = commands.take_pending(store, action.token)
    if pending is None:
        await query.answer(t.stale)
        return
    if not action.confirm:
        await edit(query, html.escape(t.cancelled), None)
        await query.answer()
        return
    url, text = pending
    new_id = await services(context).queue.add(url, text, actor=actor(update))
    await edit(query, html.escape(t.added.format(id=new_id)), None)
    await query.answer(t.added.format(id=new_id))


async def _slots(
    update: Update, query: CallbackQuery, context: Context, t: MaintTexts, action: SlotsAct
) -> None:
    queue = services(context).queue
    who = actor(update)
    if action.kind == "reset":
        view = await queue.reset_slots(actor=who)
    else:
        current = await queue.slots()
        if action.kind == "preset":
            view = await queue.set_slots(keyboards.SLOT_PRESETS[int(action.value)], None, actor=who)
        else:
            days = [d for d in current.days if d != action.value]
            if action.value not in current.days:
                days.append(action.value)
            view = await queue.set_slots(current.times, days, actor=who)
    await edit(query, views.slots(view, t), keyboards.slots_keyboard(t, view.days))
    await query.answer(t.done)


async def _import(
    update: Update, query: CallbackQuery, context: Context, t: MaintTexts, action: ImportAct
) -> None:
    if action.kind == "skip":  # a feed's new issue stays unqueued: its buttons go away
        note = t.issue_skipped.format(key=action.key)
        message = query.message
        if message is not None and isinstance(message, Message):
            markup = keyboards.without_issue(message.reply_markup, action.key)
            if markup != message.reply_markup:
                try:
                    await query.edit_message_reply_markup(markup)
                except BadRequest as exc:  # pressed twice: already gone
                    if "not modified" not in str(exc).lower():
                        raise
        await query.answer(note[:200])
        return
    uploads = services(context).uploads
    who = actor(update)
    if action.kind == "enqueue":
        done = await uploads.enqueue_new_papers(action.key, actor=who)
    else:
        done = await uploads.plan_weekly_post(action.key, actor=who)
    note = t.enqueued.format(papers=len(done.papers), digests=len(done.digests))
    await _send(query, html.escape(note))
    await query.answer(note[:200])


async def _resume(
    update: Update, query: CallbackQuery, context: Context, t: MaintTexts, action: ResumeAct
) -> None:
    queue = services(context).queue
    if action.target == "queue":
        await queue.set_paused(False, actor=actor(update))
    else:
        await queue.resume_platform(action.target, actor=actor(update))
    text, markup = await commands.status_view(context, t)
    await edit(query, text, markup)
    await query.answer(t.resumed_platform.format(platform=action.target))


async def _alert(
    update: Update, query: CallbackQuery, context: Context, t: MaintTexts, action: AlertAct
) -> None:
    """Under a failure alert: Retry (send the unsent deliveries now), Reschedule (at the next
    slot), Edit (how to change the text), Skip (give the unsent deliveries up)."""
    s = services(context)
    who = actor(update)
    if action.verb == "retry":
        commands.release_in_background(update, context, action.post_id, t)
        await query.answer(t.retried.format(id=action.post_id))
    elif action.verb == "reschedule":
        when = await s.queue.reschedule(action.post_id, actor=who)
        shown = views.when(when, context.bot_data.settings.schedule.timezone)
        note = t.rescheduled.format(id=action.post_id, when=shown)
        await _send(query, html.escape(note))
        await query.answer(note[:200])
    elif action.verb == "skip":
        count = await s.queue.skip(action.post_id, actor=who)
        note = t.skipped.format(id=action.post_id, count=count)
        await _send(query, html.escape(note))
        await query.answer(note[:200])
    else:
        found = await s.preview.post(action.post_id)
        await _send(query, views.edit_hint(action.post_id, found.x_text or "", t))
        await query.answer()
