"""Maintainer buttons: callback data ``m|kind|...`` (at most 64 bytes), parsed strictly.

Subscriber buttons start with ``1|``; anything that does not parse here is a stale or forged
button and gets a short answer. Who may press is checked by :mod:`.auth` before decoding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.maintainer.texts import MaintTexts

PREFIX: Final = "m"
PATTERN: Final = r"^m\|"  # the CallbackQueryHandler pattern for every maintainer button
MAX_DATA_BYTES: Final = 64
MAX_ID: Final = 10**12
MAX_PAGE: Final = 100_000
DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SLOT_PRESETS: Final[tuple[tuple[str, ...], ...]] = (
    ("09:00",),
    ("09:00", "17:00"),
    ("09:00", "13:00", "18:00"),
)
_ISSUE_KEY: Final = re.compile(r"\d{4}-W\d{2}")
_TOKEN: Final = re.compile(r"[0-9a-f]{12}")
_NUMBER: Final = re.compile(r"[0-9]{1,13}")

QueueVerb = Literal["edit", "up", "down", "top", "now", "drop", "page"]
AlertVerb = Literal["retry", "reschedule", "edit", "skip"]
_QUEUE_VERBS: Final[dict[str, QueueVerb]] = {
    "e": "edit",
    "u": "up",
    "d": "down",
    "t": "top",
    "n": "now",
    "x": "drop",
    "p": "page",
}
_ALERT_VERBS: Final[dict[str, AlertVerb]] = {
    "r": "retry",
    "s": "reschedule",
    "e": "edit",
    "k": "skip",
}
RESUMABLE: Final = ("queue", "x", "telegram")


@dataclass(frozen=True, slots=True)
class QueueAct:
    verb: QueueVerb
    post_id: int  # 0 for "page"
    page: int


@dataclass(frozen=True, slots=True)
class AddAct:
    token: str
    confirm: bool


@dataclass(frozen=True, slots=True)
class SlotsAct:
    kind: Literal["day", "preset", "reset"]
    value: str = ""


ImportKind = Literal["enqueue", "plan", "skip"]
_IMPORT_KINDS: Final[dict[str, ImportKind]] = {"e": "enqueue", "p": "plan", "s": "skip"}


@dataclass(frozen=True, slots=True)
class ImportAct:
    kind: ImportKind  # "skip": a feed's new issue is left unqueued (its buttons go away)
    key: str


@dataclass(frozen=True, slots=True)
class ResumeAct:
    target: str  # "queue" or a platform


@dataclass(frozen=True, slots=True)
class AlertAct:
    verb: AlertVerb
    post_id: int


@dataclass(frozen=True, slots=True)
class StatusAct:
    pass


Action = QueueAct | AddAct | SlotsAct | ImportAct | ResumeAct | AlertAct | StatusAct


def _key(verbs: Mapping[str, str], verb: str) -> str:
    return next(code for code, name in verbs.items() if name == verb)


def queue_data(verb: QueueVerb, post_id: int, page: int) -> str:
    return f"m|q|{_key(_QUEUE_VERBS, verb)}|{post_id}|{page}"


def add_data(token: str, confirm: bool) -> str:
    return f"m|a|{'y' if confirm else 'n'}|{token}"


def slots_data(kind: Literal["day", "preset", "reset"], value: str = "") -> str:
    return f"m|s|{kind[0]}|{value}"


def import_data(kind: ImportKind, key: str) -> str:
    return f"m|i|{_key(_IMPORT_KINDS, kind)}|{key}"


def resume_data(target: str) -> str:
    return f"m|r|{target}"


def alert_data(verb: AlertVerb, post_id: int) -> str:
    return f"m|f|{_key(_ALERT_VERBS, verb)}|{post_id}"


STATUS_DATA: Final = "m|st"


def _int(text: str, low: int, high: int) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def decode(data: str | None) -> Action | None:
    """The action a maintainer button stands for; None for anything we did not make."""
    if not data or len(data.encode("utf-8")) > MAX_DATA_BYTES:
        return None
    parts = data.split("|")
    if parts[0] != PREFIX or len(parts) < 2:
        return None
    kind, args = parts[1], parts[2:]
    if kind == "q" and len(args) == 3 and args[0] in _QUEUE_VERBS:
        post_id, page = _int(args[1], 0, MAX_ID), _int(args[2], 1, MAX_PAGE)
        if post_id is None or page is None or (post_id == 0) != (args[0] == "p"):
            return None
        return QueueAct(_QUEUE_VERBS[args[0]], post_id, page)
    if kind == "a" and len(args) == 2 and args[0] in ("y", "n") and _TOKEN.fullmatch(args[1]):
        return AddAct(args[1], args[0] == "y")
    if kind == "s" and len(args) == 2:
        return _slots(args[0], args[1])
    if kind == "i" and len(args) == 2 and args[0] in _IMPORT_KINDS:
        return ImportAct(_IMPORT_KINDS[args[0]], args[1]) if _ISSUE_KEY.fullmatch(args[1]) else None
    if kind == "r" and len(args) == 1 and args[0] in RESUMABLE:
        return ResumeAct(args[0])
    if kind == "f" and len(args) == 2 and args[0] in _ALERT_VERBS:
        post_id = _int(args[1], 1, MAX_ID)
        return None if post_id is None else AlertAct(_ALERT_VERBS[args[0]], post_id)
    if kind == "st" and not args:
        return StatusAct()
    return None


def _slots(code: str, value: str) -> SlotsAct | None:
    if code == "d" and value in DAYS:
        return SlotsAct("day", value)
    if code == "p" and _int(value, 0, len(SLOT_PRESETS) - 1) is not None:
        return SlotsAct("preset", value)
    if code == "r" and value == "":
        return SlotsAct("reset")
    return None


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data)


def queue_keyboard(
    t: MaintTexts, entries: Sequence[tuple[int, bool]], page: int, pages: int
) -> InlineKeyboardMarkup | None:
    """Per entry (post id, is a paper): Edit, Up, Down / Top, Now, Drop; then paging."""
    rows: list[list[InlineKeyboardButton]] = []
    for post_id, paper in entries:
        first = [_button(t.b_edit.format(id=post_id), queue_data("edit", post_id, page))]
        if paper:
            first += [
                _button(t.b_up, queue_data("up", post_id, page)),
                _button(t.b_down, queue_data("down", post_id, page)),
            ]
        second = [_button(t.b_top, queue_data("top", post_id, page))] if paper else []
        second += [
            _button(t.b_now, queue_data("now", post_id, page)),
            _button(t.b_drop, queue_data("drop", post_id, page)),
        ]
        rows += [first, second]
    nav = []
    if page > 1:
        nav.append(_button(t.b_prev, queue_data("page", 0, page - 1)))
    if page < pages:
        nav.append(_button(t.b_next, queue_data("page", 0, page + 1)))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows) if rows else None


def add_keyboard(t: MaintTexts, token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(t.b_add, add_data(token, True)), _button(t.b_cancel, add_data(token, False))]]
    )


def slots_keyboard(t: MaintTexts, days: Sequence[str]) -> InlineKeyboardMarkup:
    day_row = [_button(f"✓ {day}" if day in days else day, slots_data("day", day)) for day in DAYS]
    presets = [
        _button(" ".join(times), slots_data("preset", str(index)))
        for index, times in enumerate(SLOT_PRESETS)
    ]
    return InlineKeyboardMarkup(
        [day_row[:4], day_row[4:], presets, [_button(t.b_reset, slots_data("reset"))]]
    )


def import_keyboard(
    t: MaintTexts, keys: Sequence[str], *, skip: bool = False
) -> InlineKeyboardMarkup | None:
    """Per issue: Enqueue new papers, Plan weekly post (and Skip, under a feed's alert)."""
    rows = [
        [
            _button(t.b_enqueue.format(key=key), import_data("enqueue", key)),
            _button(t.b_plan.format(key=key), import_data("plan", key)),
            *([_button(t.b_skip_issue.format(key=key), import_data("skip", key))] if skip else []),
        ]
        for key in keys[:5]
        if _ISSUE_KEY.fullmatch(key)
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def issue_keyboard(t: MaintTexts, keys: Sequence[str]) -> InlineKeyboardMarkup | None:
    """Under the feed worker's message about issues it imported without queueing them."""
    return import_keyboard(t, keys, skip=True)


def without_issue(markup: InlineKeyboardMarkup | None, key: str) -> InlineKeyboardMarkup | None:
    """``markup`` less the buttons about ``key`` (None when nothing is left)."""
    if markup is None:
        return None
    rows = [
        list(row)
        for row in markup.inline_keyboard
        if not any(
            isinstance(b.callback_data, str) and b.callback_data.endswith(f"|{key}") for b in row
        )
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def status_keyboard(
    t: MaintTexts, paused_platforms: Sequence[str], queue_paused: bool
) -> InlineKeyboardMarkup | None:
    row = [
        _button(t.b_resume.format(platform=p), resume_data(p))
        for p in paused_platforms
        if p in RESUMABLE
    ]
    if queue_paused:
        row.insert(0, _button(t.b_resume_queue, resume_data("queue")))
    return InlineKeyboardMarkup([row]) if row else None


def alert_keyboard(t: MaintTexts, post_id: int | None) -> InlineKeyboardMarkup:
    """Under a failure alert: Retry, Reschedule, Edit, Skip for a post; else Status."""
    if post_id is None:
        return InlineKeyboardMarkup([[_button(t.b_status, STATUS_DATA)]])
    return InlineKeyboardMarkup(
        [
            [
                _button(t.b_retry, alert_data("retry", post_id)),
                _button(t.b_reschedule, alert_data("reschedule", post_id)),
            ],
            [
                _button(t.b_edit.format(id=post_id), alert_data("edit", post_id)),
                _button(t.b_skip, alert_data("skip", post_id)),
            ],
        ]
    )
