"""Replies as Telegram HTML: every dynamic string cleaned, cut and escaped; at most 4096
visible UTF-16 units (lists are cut with "… and N more")."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol
from urllib.parse import urlsplit

from bot.domain.telegram_text import clean_text, is_http_url, truncate_units, visible_length
from bot.services.browse import SearchPage, WeekView
from bot.services.subscribers import Subscriber
from bot.telegram import zones
from bot.telegram.texts import LANGUAGE_NAMES, Texts

MAX_UNITS: Final = 4096
HEADLINE_UNITS: Final = 300
TITLE_UNITS: Final = 200
QUERY_UNITS: Final = 60
URL_CHARS: Final = 1024
INLINE_TITLE_UNITS: Final = 120
_ARXIV_PATH: Final = re.compile(r"/(?:abs|pdf)/(\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?")


class Listed(Protocol):
    """An archive entry or a search hit: what one line of a list shows."""

    @property
    def headline(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def issue(self) -> str: ...


def plain(text: str | None, units: int) -> str:
    """Untrusted text on one line: invisible/bidi characters removed, cut to ``units``."""
    return truncate_units(clean_text(text or "", keep_newlines=False), units)


@dataclass(slots=True)
class Html:
    """HTML built from parts while counting the visible length."""

    parts: list[str] = field(default_factory=list)
    units: int = 0

    def text(self, value: str) -> Html:
        self.parts.append(html.escape(value, quote=False))
        self.units += visible_length(value)
        return self

    def markup(self, value: str, visible: str) -> Html:
        """Fixed markup from texts.py (already HTML) with its visible text."""
        self.parts.append(value)
        self.units += visible_length(visible)
        return self

    def bold(self, value: str) -> Html:
        self.parts.append(f"<b>{html.escape(value, quote=False)}</b>")
        self.units += visible_length(value)
        return self

    def link(self, url: str | None, label: str) -> Html:
        if url and len(url) <= URL_CHARS and is_http_url(url):
            label_html = html.escape(label, quote=False)
            self.parts.append(f'<a href="{html.escape(url, quote=True)}">{label_html}</a>')
            self.units += visible_length(label)
            return self
        return self.text(label)

    def extend(self, other: Html) -> Html:
        self.parts.extend(other.parts)
        self.units += other.units
        return self

    def render(self) -> str:
        return "".join(self.parts)


def _fill(out: Html, lines: Sequence[Html], t: Texts) -> None:
    """Append lines while they fit, then "… and N more"."""
    reserve = 40
    for index, line in enumerate(lines):
        if out.units + line.units + 1 > MAX_UNITS - reserve:
            out.text("\n" + t.more.format(count=len(lines) - index))
            return
        out.text("\n").extend(line)


def _entry(number: int, entry: Listed, *, show_issue: bool) -> Html:
    line = Html().text(f"{number}. ").text(plain(entry.headline, HEADLINE_UNITS) or "—")
    title = plain(entry.title, TITLE_UNITS)
    details = [title] if title else []
    if show_issue:
        details.append(plain(entry.issue, 20))
    if details:
        line.text("\n   " + " · ".join(details))
    if entry.url and is_http_url(entry.url):
        line.text(" · ").link(entry.url, link_label(entry.url))
    return line


def link_label(url: str) -> str:
    """``arXiv:2009.05697`` for arXiv links, else the host (``example.org``)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    if host == "arxiv.org" and (ident := _ARXIV_PATH.fullmatch(parts.path)):
        return f"arXiv:{ident[1]}"
    return host or "link"


def _fixed(out: Html, template: str, **values: str) -> None:
    """A texts.py string with ``<b>`` markup and untrusted values."""
    visible = template.replace("<b>", "").replace("</b>", "").format(**values)
    escaped = {k: html.escape(v, quote=False) for k, v in values.items()}
    out.markup(template.format(**escaped), visible)


def week(view: WeekView, t: Texts) -> str:
    out = Html()
    out.markup("<b>", "").link(view.url, plain(view.title, TITLE_UNITS) or view.key)
    out.markup("</b>", "")
    lines: list[Html] = [Html().text("\n").bold(f"⭐ {t.picks}")]
    lines += [_entry(n, e, show_issue=False) for n, e in enumerate(view.picks, 1)]
    if not view.picks:
        lines.append(Html().text(t.nothing_yet))
    lines.append(Html().text("\n").bold(f"📬 {t.dripped}"))
    lines += [_entry(n, e, show_issue=False) for n, e in enumerate(view.dripped, 1)]
    if not view.dripped:
        lines.append(Html().text(t.nothing_yet))
    _fill(out, lines, t)
    return out.render()


def latest(view: WeekView, t: Texts) -> str:
    out = Html().bold(t.latest).text("\n")
    out.link(view.url, plain(view.title, TITLE_UNITS) or view.key)
    return out.render()


def entries(heading: str, items: Sequence[Listed], t: Texts) -> str:
    out = Html().bold(heading)
    _fill(out, [_entry(n, e, show_issue=True) for n, e in enumerate(items, 1)], t)
    return out.render()


def search(page: SearchPage, t: Texts) -> str:
    query = plain(page.query, QUERY_UNITS)
    out = Html()
    if not page.hits:
        _fixed(out, t.no_results, query=query)
        return out.render()
    _fixed(out, t.results, query=query)
    out.text(f" · {t.page.format(page=page.page)}")
    if page.relaxed:
        out.text("\n" + t.relaxed)
    first = (page.page - 1) * page.per_page + 1
    lines = [_entry(n, hit, show_issue=True) for n, hit in enumerate(page.hits, first)]
    _fill(out, lines, t)
    return out.render()


def help_text(t: Texts) -> str:
    out = Html().markup(t.help_heading, t.help_heading.replace("<b>", "").replace("</b>", ""))
    for command, description in t.commands:
        out.text(f"\n/{command} — {description}")
    return out.render()


def settings(sub: Subscriber, t: Texts, now: datetime) -> str:
    heading = t.settings_heading.replace("<b>", "").replace("</b>", "")
    out = Html().markup(t.settings_heading, heading)
    state = t.state_active if sub.state == "active" else t.state_inactive
    out.text(f" · {state}")
    out.text(f"\n{t.receive_label}: {t.receive.get(sub.receive, sub.receive)}")
    if sub.quiet_start and sub.quiet_end:
        quiet = f"{sub.quiet_start}–{sub.quiet_end} ({t.quiet_zone.format(zone=sub.timezone)})"
    else:
        quiet = t.quiet_off
    out.text(f"\n{t.quiet_label}: {quiet}")
    out.text(f"\n{t.timezone_label}: {zones.describe(sub.timezone, now)}")
    name = LANGUAGE_NAMES.get("zh" if sub.language == "zh" else "en", sub.language)
    out.text(f"\n{t.language_label}: {name}")
    return out.render()


def choose_region(t: Texts) -> str:
    return Html().text(t.choose_region).render()


def choose_zone(region: zones.Region, t: Texts) -> str:
    return (
        Html()
        .text(t.choose_zone.format(region=region.zh if t.lang == "zh" else region.en))
        .render()
    )


def inline_title(entry: Listed) -> str:
    title = plain(entry.headline, INLINE_TITLE_UNITS) or plain(entry.title, INLINE_TITLE_UNITS)
    return title or plain(entry.issue, 20) or "—"


def inline_message(entry: Listed) -> str:
    """What an inline result inserts: the headline and its link."""
    text = plain(entry.headline, HEADLINE_UNITS) or plain(entry.title, TITLE_UNITS)
    out = Html().text(text or plain(entry.issue, 20) or "—")
    if entry.url and is_http_url(entry.url):
        out.text("\n").link(entry.url, plain(entry.url, 200))
    return out.render()
