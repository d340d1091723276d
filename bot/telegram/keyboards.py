"""Inline keyboards and their callback data: versioned, at most 64 bytes, parsed strictly.

Callback data is ``1|kind|...`` (``1`` is the format version). Anything else (an old format, a
forged or truncated value) decodes to ``None`` and the handler answers with a short "expired".
A search query too long for a button is kept in the chat's data under a short token.
Time zone: ``1|z`` the regions, ``1|z|REGION|PAGE`` a page of its zones, ``1|c|z|ZONE`` sets
one (only zones of :mod:`bot.telegram.zones`), ``1|v`` back to the settings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.services.subscribers import Subscriber
from bot.telegram import zones
from bot.telegram.texts import LANGUAGE_NAMES, Texts

VERSION: Final = "1"
MAX_DATA_BYTES: Final = 64
MAX_PAGE: Final = 10_000
KEPT_QUERIES: Final = 32  # long queries remembered per chat for paging buttons
QUIET_PRESETS: Final[dict[str, tuple[str, str] | None]] = {
    "off": None,
    "22-07": ("22:00", "07:00"),
    "23-08": ("23:00", "08:00"),
    "00-09": ("00:00", "09:00"),
}
RECEIVE: Final = ("both", "drip", "digest")
LANGUAGES: Final = ("en", "zh")
_WEEK_KEY: Final = re.compile(r"\d{4}-W\d{2}")
_TOKEN: Final = re.compile(r"[0-9a-f]{12}")
_QUERIES_KEY: Final = "search_queries"

SettingField = Literal["receive", "quiet", "language", "subscribed", "timezone"]
_FIELDS: Final[dict[str, SettingField]] = {
    "r": "receive",
    "q": "quiet",
    "l": "language",
    "s": "subscribed",
    "z": "timezone",
}
_ALLOWED: Final[dict[SettingField, frozenset[str]]] = {
    "receive": frozenset(RECEIVE),
    "quiet": frozenset(QUIET_PRESETS),
    "language": frozenset(LANGUAGES),
    "subscribed": frozenset(("on", "off")),
    "timezone": zones.ZONES,
}


@dataclass(frozen=True, slots=True)
class WeekNav:
    key: str


@dataclass(frozen=True, slots=True)
class SearchNav:
    page: int
    query: str | None  # None: ``token`` names a query kept in the chat's data
    token: str | None = None


@dataclass(frozen=True, slots=True)
class SettingChoice:
    field: SettingField
    value: str


@dataclass(frozen=True, slots=True)
class ZoneMenu:
    """The time zone picker: ``region`` None lists the regions, else a page of its zones."""

    region: str | None
    page: int = 1


@dataclass(frozen=True, slots=True)
class SettingsMenu:
    """Back to the settings view."""


Action = WeekNav | SearchNav | SettingChoice | ZoneMenu | SettingsMenu


def _fits(data: str) -> bool:
    return len(data.encode("utf-8")) <= MAX_DATA_BYTES


def week_data(key: str) -> str:
    return f"{VERSION}|w|{key}"


def search_data(query: str, page: int, store: MutableMapping[Any, Any]) -> str:
    """The query itself when it fits in the button, else a token kept in ``store``."""
    data = f"{VERSION}|s|{page}|{query}"
    if _fits(data):
        return data
    token = hashlib.sha256(query.encode("utf-8")).hexdigest()[:12]
    kept: dict[str, str] = store.setdefault(_QUERIES_KEY, {})
    kept.pop(token, None)
    kept[token] = query  # newest last; the oldest are forgotten
    while len(kept) > KEPT_QUERIES:
        kept.pop(next(iter(kept)))
    return f"{VERSION}|t|{page}|{token}"


def kept_query(store: MutableMapping[Any, Any], token: str) -> str | None:
    kept = store.get(_QUERIES_KEY)
    return kept.get(token) if isinstance(kept, dict) else None


def setting_data(field: SettingField, value: str) -> str:
    code = next(c for c, f in _FIELDS.items() if f == field)
    return f"{VERSION}|c|{code}|{value}"


def zone_menu_data(region: str | None = None, page: int = 1) -> str:
    return f"{VERSION}|z" if region is None else f"{VERSION}|z|{region}|{page}"


SETTINGS_DATA: Final = f"{VERSION}|v"


def _page(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    page = int(text)
    return page if 1 <= page <= MAX_PAGE else None


def decode(data: str | None) -> Action | None:
    """The action a button stands for; None for anything this version did not make."""
    if not data or not _fits(data):
        return None
    version, _, rest = data.partition("|")
    kind, _, rest = rest.partition("|")
    if version != VERSION:
        return None
    if kind == "w":
        return WeekNav(rest) if _WEEK_KEY.fullmatch(rest) else None
    if kind in ("s", "t"):
        number, sep, value = rest.partition("|")
        page = _page(number)
        if page is None or not sep or not value.strip():
            return None
        if kind == "s":
            return SearchNav(page, value)
        return SearchNav(page, None, value) if _TOKEN.fullmatch(value) else None
    if kind == "z":
        return _zone_menu(rest, data)
    if kind == "v":
        return SettingsMenu() if data == SETTINGS_DATA else None
    if kind == "c":
        code, _, value = rest.partition("|")
        field = _FIELDS.get(code)
        if field is None or value not in _ALLOWED[field]:
            return None
        return SettingChoice(field, value)
    return None


def _zone_menu(rest: str, data: str) -> ZoneMenu | None:
    if data == zone_menu_data():
        return ZoneMenu(None)
    code, sep, number = rest.partition("|")
    region = zones.BY_CODE.get(code)
    page = _page(number) if sep else None
    if region is None or page is None or page > zones.pages(region):
        return None
    return ZoneMenu(code, page)


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data)


def week_keyboard(prev_key: str | None, next_key: str | None) -> InlineKeyboardMarkup | None:
    row = []
    if prev_key:
        row.append(_button(f"« {prev_key}", week_data(prev_key)))
    if next_key:
        row.append(_button(f"{next_key} »", week_data(next_key)))
    return InlineKeyboardMarkup([row]) if row else None


def search_keyboard(
    query: str,
    page: int,
    has_prev: bool,
    has_next: bool,
    t: Texts,
    store: MutableMapping[Any, Any],
) -> InlineKeyboardMarkup | None:
    row = []
    if has_prev and page > 1:
        row.append(_button(t.prev, search_data(query, page - 1, store)))
    if has_next and page < MAX_PAGE:
        row.append(_button(t.next, search_data(query, page + 1, store)))
    return InlineKeyboardMarkup([row]) if row else None


def _mark(label: str, chosen: bool) -> str:
    return f"✓ {label}" if chosen else label


def settings_keyboard(
    t: Texts,
    *,
    receive: str,
    quiet: str,
    language: str,
    subscribed: bool,
    timezone: str,
    now: datetime,
) -> InlineKeyboardMarkup:
    """``quiet`` is the preset name (``off``, ``22-07``, ...) or "" for a custom period;
    ``timezone`` (IANA) is shown with its offset at ``now``."""
    receive_row = [
        _button(_mark(t.receive[r], r == receive), setting_data("receive", r)) for r in RECEIVE
    ]
    quiet_row = [
        _button(
            _mark(t.quiet_off if name == "off" else name.replace("-", "–"), name == quiet),
            setting_data("quiet", name),
        )
        for name in QUIET_PRESETS
    ]
    language_row = [
        _button(_mark(LANGUAGE_NAMES[lang], lang == language), setting_data("language", lang))
        for lang in LANGUAGES
    ]
    toggle = (
        _button(t.unsubscribe_button, setting_data("subscribed", "off"))
        if subscribed
        else _button(t.subscribe_button, setting_data("subscribed", "on"))
    )
    zone_button = _button(
        t.timezone_button.format(zone=zones.label(timezone, t.lang, now)), zone_menu_data()
    )
    return InlineKeyboardMarkup([receive_row, quiet_row, [zone_button], language_row, [toggle]])


def _pairs(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def region_keyboard(t: Texts, current: str) -> InlineKeyboardMarkup:
    """Step 1 of the time zone: the regions, UTC itself, and back to the settings."""
    buttons = [
        _button(
            _mark(r.zh if t.lang == "zh" else r.en, zones.region_of(current) is r),
            zone_menu_data(r.code, 1),
        )
        for r in zones.REGIONS
    ]
    utc = zones.UTC_ZONE
    buttons.append(_button(_mark(utc, current == utc), setting_data("timezone", utc)))
    return InlineKeyboardMarkup([*_pairs(buttons), [_button(t.back, SETTINGS_DATA)]])


def zone_keyboard(
    t: Texts, region: zones.Region, page: int, current: str, now: datetime
) -> InlineKeyboardMarkup:
    """Step 2: one page of the region's zones (offsets at ``now``), paging, back."""
    buttons = [
        _button(_mark(zones.label(z, t.lang, now), z == current), setting_data("timezone", z))
        for z in zones.page_of(region, page)
    ]
    rows = _pairs(buttons)
    nav = []
    if page > 1:
        nav.append(_button(t.prev, zone_menu_data(region.code, page - 1)))
    if page < zones.pages(region):
        nav.append(_button(t.next, zone_menu_data(region.code, page + 1)))
    if nav:
        rows.append(nav)
    rows.append([_button(t.back, zone_menu_data())])
    return InlineKeyboardMarkup(rows)


def quiet_preset(start: str | None, end: str | None) -> str:
    """The preset name for a quiet period, "" when it is not one of the presets."""
    for name, period in QUIET_PRESETS.items():
        if period == ((start, end) if start and end else None):
            return name
    return ""


def subscriber_keyboard(t: Texts, sub: Subscriber, now: datetime) -> InlineKeyboardMarkup:
    """The /settings keyboard showing ``sub``'s current choices."""
    return settings_keyboard(
        t,
        receive=sub.receive,
        quiet=quiet_preset(sub.quiet_start, sub.quiet_end),
        language=sub.language,
        subscribed=sub.state == "active",
        timezone=sub.timezone,
        now=now,
    )
