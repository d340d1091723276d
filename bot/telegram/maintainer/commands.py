"""Maintainer commands: each parses its arguments, calls one service (the same one the CLI
calls) and formats the reply. Authorization happens before: see :mod:`.auth`.

Service errors (``DigestbotError``: unknown id, bad position, text too long, arXiv down, ...)
go to the one error handler, which replies with their one line.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import RetryAfter

from bot.errors import DigestbotError
from bot.services.arxiv import ArxivError
from bot.telegram.context import Context
from bot.telegram.maintainer import keyboards, views
from bot.telegram.maintainer.context import actor, services, texts_for
from bot.telegram.maintainer.texts import MaintTexts
from bot.telegram.render import Html
from bot.telegram.replies import NO_PREVIEW, reply

logger = logging.getLogger(__name__)
PAGE_SIZE: Final = 5
#: releases running beside the update handling (kept referenced until done)
BACKGROUND: Final[set[asyncio.Task[Any]]] = set()
MAX_WAIT: Final = 5.0
CHAT_PACE: Final = 1.05  # seconds between two messages in one chat
#: how a handler waits (tests move the fake Bot API's clock instead)
sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
MAX_AUDIT: Final = 100
MAX_IMPORT_BYTES: Final = 2 * 1024 * 1024
IMPORT_SUFFIXES: Final = (".md", ".markdown", ".txt")
PENDING_KEY: Final = "maintainer_pending_add"
PENDING_KEPT: Final = 16
_ID: Final = re.compile(r"#?([0-9]{1,12})")
_POSITION: Final = re.compile(r"[+-]?[0-9]{1,9}")
_TIME: Final = re.compile(r"\d{1,2}:\d{2}")
_COMMAND_WORD: Final = re.compile(r"^/\S+")


class Usage(Exception):
    """The arguments do not fit the command: answer with its usage line."""


def _rest(update: Update, words: int) -> list[str]:
    """The message split after the command into at most ``words`` parts (the last keeps its
    inner spaces; surrounding whitespace dropped)."""
    message = update.effective_message
    text = (message.text or message.caption or "") if message else ""
    rest = _COMMAND_WORD.sub("", text.strip(), count=1).strip()
    return rest.split(maxsplit=words - 1) if rest else []


def post_id(text: str) -> int:
    found = _ID.fullmatch(text.strip())
    if found is None or int(found[1]) < 1:
        raise Usage
    return int(found[1])


async def _usage(update: Update, t: MaintTexts, command: str) -> None:
    await reply(update, html.escape(t.usage[command]))


def _zone(context: Context) -> ZoneInfo:
    return ZoneInfo(context.bot_data.settings.schedule.timezone)


# --- /queue ---------------------------------------------------------------------------------


async def show_queue(context: Context, t: MaintTexts, page: int) -> tuple[str, Any]:
    """The text and keyboard of one page (the last page when ``page`` is past the end)."""
    queue = services(context).queue
    view = await queue.view(PAGE_SIZE, (page - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(view.total / PAGE_SIZE))
    if page > pages:
        page = pages
        view = await queue.view(PAGE_SIZE, (page - 1) * PAGE_SIZE)
    first = (page - 1) * PAGE_SIZE + 1
    text = views.queue(view, t, _zone(context), page, pages, first)
    entries = [(p.id, p.kind == "paper") for p in view.posts if p.state == "queued"]
    return text, keyboards.queue_keyboard(t, entries, page, pages)


async def queue(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    args = _rest(update, 2)
    try:
        page = post_id(args[0]) if args else 1
        if len(args) > 1:
            raise Usage
    except Usage:
        await _usage(update, t, "queue")
        return
    text, markup = await show_queue(context, t, min(page, keyboards.MAX_PAGE))
    await reply(update, text, markup)


# --- /add -----------------------------------------------------------------------------------


def keep_pending(store: MutableMapping[Any, Any], url: str, text: str) -> str:
    """A proposal waiting for its Add button, kept in this chat's data under a short token
    (a button pressed in another chat finds nothing)."""
    token = hashlib.sha256(f"{url}\n{text}".encode()).hexdigest()[:12]
    kept: dict[str, tuple[str, str]] = store.setdefault(PENDING_KEY, {})
    kept.pop(token, None)
    kept[token] = (url, text)
    while len(kept) > PENDING_KEPT:
        kept.pop(next(iter(kept)))
    return token


def take_pending(store: MutableMapping[Any, Any], token: str) -> tuple[str, str] | None:
    kept = store.get(PENDING_KEY)
    return kept.pop(token, None) if isinstance(kept, dict) else None


async def add(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    args = _rest(update, 2)
    if not args:
        await _usage(update, t, "add")
        return
    url, comment = args[0], (args[1] if len(args) > 1 else "")
    s = services(context)
    if comment:
        s.queue.check_text(comment, None, None)  # too long / empty: said before any lookup
    try:
        found = await s.proposals.propose(url)
    except ArxivError:
        if not comment:
            raise
        found = None  # a comment was given: arXiv is only needed to propose one
    if found is not None and found.blocked:
        out = Html().bold(t.refused)
        await reply(update, views.warnings(out, found.warnings, t).render())
        return
    if comment and (found is None or not found.warnings):
        new_id = await s.queue.add(url, comment, actor=actor(update))
        await reply(update, html.escape(t.added.format(id=new_id)))
        return
    assert found is not None
    text = comment or found.text
    if not text:
        await reply(update, views.proposal(found, t))
        return
    store = context.chat_data if context.chat_data is not None else {}
    token = keep_pending(store, found.url, text)
    await reply(update, views.proposal(found, t, comment or None), keyboards.add_keyboard(t, token))


# --- queue verbs with an id -----------------------------------------------------------------


async def _one_id(update: Update, t: MaintTexts, command: str) -> int | None:
    args = _rest(update, 2)
    try:
        if len(args) != 1:
            raise Usage
        return post_id(args[0])
    except Usage:
        await _usage(update, t, command)
        return None


async def edit(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    args = _rest(update, 2)
    try:
        if len(args) != 2:
            raise Usage
        target = post_id(args[0])
    except Usage:
        await _usage(update, t, "edit")
        return
    await services(context).queue.edit(target, args[1], actor=actor(update))
    await reply(update, html.escape(t.done))


async def drop(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    if (target := await _one_id(update, t, "drop")) is None:
        return
    await services(context).queue.remove(target, actor=actor(update))
    await reply(update, html.escape(t.dropped.format(id=target)))


async def move(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    args = _rest(update, 3)
    try:
        if len(args) != 2 or not _POSITION.fullmatch(args[1]):
            raise Usage
        target, position = post_id(args[0]), int(args[1])
    except Usage:
        await _usage(update, t, "move")
        return
    await services(context).queue.move(target, position, actor=actor(update))
    await reply(update, html.escape(t.moved.format(id=target, pos=position)))


async def top(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    if (target := await _one_id(update, t, "top")) is None:
        return
    await services(context).queue.top(target, actor=actor(update))
    await reply(update, html.escape(t.topped.format(id=target)))


async def shuffle(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    await services(context).queue.shuffle(actor=actor(update))
    await reply(update, html.escape(t.shuffled))


async def release_now(update: Update, context: Context, target: int, t: MaintTexts) -> str:
    """``now ID``: make due + connect + tick, the CLI's ``queue now``; the report as HTML."""
    done = await services(context).release.now(target, actor=actor(update))
    return views.report(t.release_lines.format(id=target), done.lines(), t)


def release_in_background(update: Update, context: Context, target: int, t: MaintTexts) -> None:
    """Run ``now ID`` beside the update handling (a post that goes to thousands of subscribers
    takes minutes; other updates must not wait) and send its report to the chat when done.
    PTB's ``Application.stop`` waits for it, so a shutdown finishes it first."""
    chat = update.effective_chat
    if chat is None:
        return
    chat_id = chat.id

    async def work() -> None:
        try:
            text = await release_now(update, context, target, t)
        except DigestbotError as exc:
            text = views.message(str(exc))
        except Exception:  # a bug: logged with its traceback; the maintainer hears of it
            logger.exception("now %s failed", target)
            text = views.message(t.failed.format(id=target))

        async def send() -> object:
            return await context.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
            )

        await second_message(send)  # after the "sending" answer in the same chat

    task = context.application.create_task(work(), update=update, name=f"now:{target}")
    BACKGROUND.add(task)
    task.add_done_callback(BACKGROUND.discard)


async def settle() -> None:
    """Wait for every background release (tests; ``Application.stop`` does it in ``run``)."""
    while BACKGROUND:
        await asyncio.gather(*BACKGROUND, return_exceptions=True)


async def now(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    if (target := await _one_id(update, t, "now")) is None:
        return
    await reply(update, html.escape(t.sending.format(id=target)))
    release_in_background(update, context, target, t)


async def pause(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    await services(context).queue.set_paused(True, actor=actor(update))
    await reply(update, html.escape(t.paused))


async def resume(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    await services(context).queue.set_paused(False, actor=actor(update))
    await reply(update, html.escape(t.resumed))


async def undo(update: Update, context: Context) -> None:
    done = await services(context).queue.undo(actor=actor(update))
    await reply(update, views.message(done.message))


# --- /slots ---------------------------------------------------------------------------------


async def slots(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    queue = services(context).queue
    args = _rest(update, 100)
    if not args:
        view = await queue.slots()
    elif args == ["reset"]:
        view = await queue.reset_slots(actor=actor(update))
    elif args[0] == "days" and len(args) > 1:
        current = await queue.slots()
        view = await queue.set_slots(current.times, args[1:], actor=actor(update))
    elif all(_TIME.fullmatch(a) for a in args) and len(args) <= 24:
        view = await queue.set_slots(args, None, actor=actor(update))
    else:
        await _usage(update, t, "slots")
        return
    await reply(update, views.slots(view, t), keyboards.slots_keyboard(t, view.days))


# --- /preview -------------------------------------------------------------------------------


async def preview(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    if (target := await _one_id(update, t, "preview")) is None:
        return
    found = await services(context).preview.post(target)
    await reply(update, views.preview_x(found, t))
    message = update.effective_message
    if message is not None:  # the exact Telegram message, as the channel will get it

        async def exact() -> object:
            return await message.reply_text(
                found.telegram_text, parse_mode=found.telegram_parse_mode
            )

        await second_message(exact)


async def second_message(send: Callable[[], Awaitable[object]]) -> None:
    """A second message in the same chat: Telegram allows about one per second per chat, so
    it waits that second first; a "retry after" anyway is waited out once (at most
    :data:`MAX_WAIT` seconds)."""
    await sleep(CHAT_PACE)
    try:
        await send()
    except RetryAfter as exc:
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        await sleep(min(seconds, MAX_WAIT))
        await send()


# --- /import --------------------------------------------------------------------------------


async def import_command(update: Update, context: Context) -> None:
    """``/import URL``; a document with the caption ``/import`` comes to :func:`document`."""
    t = await texts_for(update, context)
    message = update.effective_message
    if message is not None and message.document is not None:
        await document(update, context)
        return
    args = _rest(update, 2)
    if len(args) != 1:
        await reply(update, html.escape(t.import_prompt))
        return
    outcome = await services(context).uploads.import_url(args[0])
    markup = keyboards.import_keyboard(t, outcome.issue_keys)
    await reply(update, views.imported(outcome, t), markup)


async def document(update: Update, context: Context) -> None:
    """A digest file sent by a maintainer (.md/.txt): imported like ``digestbot import``."""
    t = await texts_for(update, context)
    message = update.effective_message
    found = message.document if message is not None else None
    if found is None:
        await reply(update, html.escape(t.import_prompt))
        return
    name = found.file_name or "file"
    if not name.lower().endswith(IMPORT_SUFFIXES):
        await reply(update, views.message(t.import_bad_file.format(name=name)))
        return
    if found.file_size is not None and found.file_size > MAX_IMPORT_BYTES:
        await reply(update, html.escape(t.import_too_big.format(limit=MAX_IMPORT_BYTES // 1024)))
        return
    file = await context.bot.get_file(found.file_id)
    data = bytes(await file.download_as_bytearray())
    if len(data) > MAX_IMPORT_BYTES:
        await reply(update, html.escape(t.import_too_big.format(limit=MAX_IMPORT_BYTES // 1024)))
        return
    outcome = await services(context).uploads.import_document(data, name)
    markup = keyboards.import_keyboard(t, outcome.issue_keys)
    await reply(update, views.imported(outcome, t), markup)


# --- /status /stats /audit ------------------------------------------------------------------


async def status_view(context: Context, t: MaintTexts) -> tuple[str, Any]:
    found = await services(context).status.status()
    paused = sorted({p.platform for p in found.pauses})
    return views.status(found, t), keyboards.status_keyboard(t, paused, found.queue_paused)


async def status(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    text, markup = await status_view(context, t)
    await reply(update, text, markup)


async def stats(update: Update, context: Context) -> None:
    """One message: the 12-week chart with the figures as its caption."""
    t = await texts_for(update, context)
    service = services(context).stats
    found = await service.stats()
    png = await service.png(found)  # matplotlib, in a thread
    message = update.effective_message
    if message is not None:
        caption = views.caption(t.stats_caption, found.lines())
        await message.reply_photo(png, caption=caption, parse_mode=ParseMode.HTML)


async def audit(update: Update, context: Context) -> None:
    t = await texts_for(update, context)
    args = _rest(update, 2)
    try:
        limit = post_id(args[0]) if args else 20
        if len(args) > 1 or limit > MAX_AUDIT:
            raise Usage
    except Usage:
        await _usage(update, t, "audit")
        return
    entries = await services(context).audit.recent(limit)
    await reply(update, views.audit(entries, t))
