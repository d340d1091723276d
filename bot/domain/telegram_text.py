"""Compose Telegram channel posts (HTML parse mode) from drip comments and digests.

Pure functions, no I/O. Every dynamic string is cleaned (control, zero-width and
bidi characters removed), truncated *before* escaping (so an escape sequence is
never cut) and then HTML-escaped; only ``<b>``, ``<i>`` and ``<a href>`` are
emitted and always balanced. Lengths are counted like Telegram does: UTF-16 code
units of the text after entity parsing, at most 4096.

The text helpers :func:`clean_text`, :func:`is_cluster_boundary` and
:func:`is_http_url` are shared with :mod:`bot.domain.x_text`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

MAX_MESSAGE_UNITS: Final = 4096
ELLIPSIS: Final = "…"
TITLE_MAX_UNITS: Final = 512
PICK_MAX_UNITS: Final = 300
MAX_URL_LENGTH: Final = 2048
PICKS_HEADING: Final = "Editor's picks"
PICKS_HEADING_ZH: Final = "编辑精选"
NEW_ISSUE: Final = "New issue"

_ZWJ: Final = "\u200d"
_EMOJI_CLASS: Final = "[\u2600-\u27bf\u2b00-\u2bff\ufe0f\U0001f000-\U0001faff]"
# Kept: emoji ZWJ glue and subdivision-flag tag sequences. Removed: C0/C1 controls
# (newline is handled before), zero-width, bidi, invisible operators, BOM,
# interlinear annotations, non-characters, stray tag characters.
_UNSAFE_RE: Final = re.compile(
    "(?P<keep>(?<=" + _EMOJI_CLASS + ")\u200d(?=" + _EMOJI_CLASS + ")"
    "|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f)"
    "|[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff\U000e0000-\U000e007f]"
)
_NEWLINES_RE: Final = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
_HSPACE_RE: Final = re.compile(r"[^\S\n]+")
_SPACE_RE: Final = re.compile(r"\s+")
_LINE_EDGE_RE: Final = re.compile(r" ?\n ?")
_MANY_NEWLINES_RE: Final = re.compile(r"\n{3,}")
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_TRAILING_JUNK: Final = " \n,;:、，；：-–—"
_ARXIV_NEW_RE: Final = re.compile(r"\d{4}\.\d{4,5}(?:v\d+)?")
_ARXIV_OLD_RE: Final = re.compile(r"([a-z]+(?:-[a-z]+)*)(?:\.[A-Za-z]{2})?/(\d{7}(?:v\d+)?)")
_CJK_RE: Final = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
_LANGUAGE_PROBE: Final = 4096  # a title's language shows in its first characters


@dataclass(frozen=True, slots=True)
class DigestLabels:
    """The fixed words of a digest announcement, in the issue's language."""

    language: str
    papers_many: str  # with {count}
    papers_one: str
    picks_heading: str
    read_button: str

    def papers(self, count: int) -> str:
        """``本期 12 篇论文`` / ``12 papers`` / ``1 paper``."""
        return self.papers_one if count == 1 else self.papers_many.format(count=count)


LABELS: Final = {
    "en": DigestLabels("en", "{count} papers", "1 paper", PICKS_HEADING, "Read the issue"),
    "zh": DigestLabels("zh", "本期 {count} 篇论文", "本期 1 篇论文", PICKS_HEADING_ZH, "阅读本期"),
    "ja": DigestLabels(
        "ja", "今号の論文 {count} 本", "今号の論文 1 本", "編集部のおすすめ", "今号を読む"
    ),
}


def digest_labels(title: str, language: str | None = None) -> DigestLabels:
    """Labels in the issue's *language* (``en``, ``zh``, ``ja``).

    Chinese for a ``zh`` issue, Japanese for ``ja``; otherwise (English or unknown)
    Chinese when the title has CJK characters, else English.
    """
    if language in ("zh", "ja"):
        return LABELS[language]
    return LABELS["zh"] if _CJK_RE.search(title, 0, _LANGUAGE_PROBE) else LABELS["en"]


def papers_line(count: int | None, labels: DigestLabels) -> str:
    """The paper-count line of a digest announcement ("" when the count is unknown or 0)."""
    return labels.papers(count) if count else ""


@dataclass(frozen=True)
class Button:
    """One inline-keyboard URL button."""

    text: str
    url: str


@dataclass(frozen=True)
class TelegramMessage:
    """A ready-to-send message: HTML text, link-preview options and inline buttons."""

    text: str
    parse_mode: Literal["HTML"] = "HTML"
    disable_preview: bool = False
    preview_url: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()


# ---------------------------------------------------------------- text helpers


def escape(text: str) -> str:
    """Escape ``& < > "`` for Telegram HTML (the only entities it needs)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def visible_length(text: str) -> int:
    """Length of plain *text* in UTF-16 code units, as Telegram counts it."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _join_surrogates(text: str) -> str:
    """Combine UTF-16 surrogate pairs into code points and drop lone surrogates."""
    if _SURROGATE_RE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")


def _drop_unsafe(match: re.Match[str]) -> str:
    return match.group("keep") or ""


def clean_text(text: str, *, keep_newlines: bool) -> str:
    """Remove control, zero-width and bidi characters and normalise whitespace.

    Tabs become spaces, every line-break flavour becomes ``\\n`` (or a space when
    *keep_newlines* is false), runs of spaces collapse to one, at most one blank
    line is kept, and the result is stripped. A zero-width joiner survives only
    between two emoji (it glues ZWJ sequences such as 👩‍💻). Linear time.
    """
    text = _join_surrogates(text)
    text = _NEWLINES_RE.sub("\n", text).replace("\t", " ")
    text = _UNSAFE_RE.sub(_drop_unsafe, text)
    if not keep_newlines:
        return _SPACE_RE.sub(" ", text).strip()
    text = _HSPACE_RE.sub(" ", text)
    text = _LINE_EDGE_RE.sub("\n", text)
    return _MANY_NEWLINES_RE.sub("\n\n", text).strip()


def _is_extender(char: str) -> bool:
    """True for code points that attach to the previous one (never cut before them)."""
    code = ord(char)
    return (
        char == _ZWJ
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1160 <= code <= 0x11FF
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _regional_run_is_odd(text: str, end: int) -> bool:
    """Whether the run of regional indicators ending at ``text[end]`` is odd."""
    count = 0
    while end >= 0 and _is_regional_indicator(text[end]):
        count += 1
        end -= 1
    return count % 2 == 1


def is_cluster_boundary(text: str, index: int) -> bool:
    """True when cutting *text* at *index* splits no surrogate pair or character cluster.

    Never cuts before a combining mark, variation selector, skin-tone modifier,
    tag character or ZWJ, nor after a ZWJ, nor inside a regional-indicator flag.
    """
    if index <= 0 or index >= len(text):
        return True
    prev, cur = text[index - 1], text[index]
    if "\ud800" <= prev <= "\udbff" and "\udc00" <= cur <= "\udfff":
        return False
    if prev == _ZWJ or _is_extender(cur):
        return False
    return not (
        _is_regional_indicator(prev)
        and _is_regional_indicator(cur)
        and _regional_run_is_odd(text, index - 1)
    )


def safe_cut(text: str, index: int) -> int:
    """The largest cluster boundary of *text* at or before *index*."""
    index = max(0, min(index, len(text)))
    while not is_cluster_boundary(text, index):
        index -= 1
    return index


def is_http_url(url: str | None) -> bool:
    """True for an absolute http(s) URL with a host and no whitespace or invisible characters."""
    if not url or len(url) > MAX_URL_LENGTH or clean_text(url, keep_newlines=False) != url:
        return False
    if " " in url or any(unicodedata.category(char) in ("Cc", "Cf", "Zs") for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def arxiv_label(paper: str | None) -> str | None:
    """``arXiv:2009.05697`` for a paper identity ``arxiv:2009.05697``, else ``None``.

    Old-style identifiers drop the subject class (``math.GT/0309136`` ->
    ``math/0309136``), which is arXiv's canonical form and cannot look like a domain.
    """
    if paper is None or paper[:6].lower() != "arxiv:":
        return None
    ident = paper[6:].strip()
    if _ARXIV_NEW_RE.fullmatch(ident):
        return f"arXiv:{ident}"
    old = _ARXIV_OLD_RE.fullmatch(ident)
    if old:
        return f"arXiv:{old.group(1)}/{old.group(2)}"
    return None


# ---------------------------------------------------------------- truncation


def _index_for_units(text: str, units: int) -> int:
    """Largest index *k* with ``visible_length(text[:k]) <= units`` (text is pre-sliced)."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return index
    return len(text)


def _word_cut(text: str, cut: int) -> int:
    """Move *cut* back to the last whitespace if that keeps at least half of the text."""
    if cut >= len(text) or text[cut] in " \n":
        return cut
    space = max(text.rfind(" ", 0, cut), text.rfind("\n", 0, cut))
    return space if space >= cut // 2 else cut


def truncate_units(text: str, limit: int) -> str:
    """Cut *text* to at most *limit* UTF-16 units, preferring a word boundary, adding ``…``.

    Never splits a surrogate pair or a character cluster. Unchanged when it fits.
    Linear time: only the first *limit* code points are ever walked.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit // 2 or visible_length(text) <= limit:
        return text
    head = text[:limit]
    cut = safe_cut(head, _index_for_units(head, limit - 1))
    cut = _word_cut(head, cut)
    return head[:cut].rstrip(_TRAILING_JUNK) + ELLIPSIS


# ---------------------------------------------------------------- composing


def _link(href: str, label: str) -> str:
    return f'<a href="{escape(href)}">{escape(label)}</a>'


def _host_label(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.") or "Link"


def _valid_or_none(url: str | None) -> str | None:
    url = url.strip() if url else None
    return url if is_http_url(url) else None


def _link_line(paper_url: str | None, label: str, digest_url: str | None) -> tuple[str, str]:
    """(visible text, html) of the links line; empty when there is nothing to link."""
    parts = []
    if paper_url:
        parts.append((paper_url, label))
    if digest_url:
        parts.append((digest_url, "Digest"))
    visible = " · ".join(text for _, text in parts)
    html = " · ".join(_link(href, text) for href, text in parts)
    return visible, html


def _drip_buttons(paper_url: str | None, digest_url: str | None) -> tuple[tuple[Button, ...], ...]:
    row = []
    if paper_url:
        row.append(Button("Paper", paper_url))
    if digest_url:
        row.append(Button("Digest", digest_url))
    return (tuple(row),) if row else ()


def compose_drip_message(
    comment: str,
    *,
    title: str | None,
    url: str | None,
    paper: str | None,
    digest_url: str | None,
    buttons: bool,
    preview: bool,
) -> TelegramMessage:
    """One drip post: comment, italic title, link line, optional Paper/Digest buttons.

    The link label is ``arXiv:ID`` for arXiv papers, else the URL's host. With
    *buttons* the digest link moves from the text into a "Digest" button. Only
    http(s) URLs are used. Raises ``ValueError`` when nothing is left to post.
    """
    paper_url = _valid_or_none(url)
    digest = _valid_or_none(digest_url)
    label = (arxiv_label(paper) if paper_url else None) or (
        _host_label(paper_url) if paper_url else ""
    )
    links_visible, links_html = _link_line(paper_url, label, None if buttons else digest)
    title_text = truncate_units(clean_text(title or "", keep_newlines=False), TITLE_MAX_UNITS)
    footer_visible = "\n".join(part for part in (title_text, links_visible) if part)
    footer_html = "\n".join(
        part for part in (f"<i>{escape(title_text)}</i>" if title_text else "", links_html) if part
    )
    room = MAX_MESSAGE_UNITS - visible_length(footer_visible) - (2 if footer_visible else 0)
    body = truncate_units(clean_text(comment, keep_newlines=True), room)
    text = "\n\n".join(part for part in (escape(body), footer_html) if part)
    if not text:
        raise ValueError("nothing to post: empty comment, title and link")
    return TelegramMessage(
        text=text,
        disable_preview=not (preview and paper_url),
        preview_url=paper_url if preview else None,
        buttons=_drip_buttons(paper_url, digest) if buttons else (),
    )


def _pick_line(headline: str, link: str | None) -> tuple[int, str]:
    """(visible length, html) of one editor's pick bullet ``• headline``."""
    text = truncate_units(clean_text(headline, keep_newlines=False), PICK_MAX_UNITS)
    href = _valid_or_none(link)
    html = _link(href, text) if href else escape(text)
    return visible_length(f"• {text}"), f"• {html}"


def _picks_block(picks: Sequence[tuple[str, str | None]], room: int, heading: str) -> str:
    """HTML of the picks block (*heading*, then bullets) within *room* visible units.

    Picks are taken in order while they fit; '' when none does.
    """
    used = len(heading)
    accepted: list[str] = []
    for headline, link in picks:
        size, html = _pick_line(headline, link)
        if size <= 2:  # headline empty after cleaning
            continue
        if used + 1 + size > room:
            break
        used += 1 + size
        accepted.append(html)
    return "\n".join([f"<b>{escape(heading)}</b>", *accepted]) if accepted else ""


def compose_digest_message(
    title: str,
    picks: Sequence[tuple[str, str | None]],
    url: str,
    *,
    buttons: bool,
    papers: int | None = None,
    language: str | None = None,
) -> TelegramMessage:
    """The weekly announcement: bold title linked to the issue, paper count, editor's picks.

    *picks* are ``(headline, link-or-None)``; a pick with an http(s) link becomes a
    link. Each headline is capped at 300 units and picks that do not fit in 4096
    units are dropped from the end. *papers* (the number of papers in the issue) is
    shown when positive. Labels follow :func:`digest_labels`: a Chinese issue (or
    a title with CJK characters) gets "本期 12 篇论文" and "编辑精选", an English one
    "12 papers" and "Editor's picks". With *buttons* a "Read the issue" button is
    attached.
    """
    issue_url = _valid_or_none(url)
    heading = truncate_units(clean_text(title, keep_newlines=False), TITLE_MAX_UNITS)
    heading = heading or NEW_ISSUE
    labels = digest_labels(heading, language)
    count = papers_line(papers, labels)
    inner = _link(issue_url, heading) if issue_url else escape(heading)
    head_html = "\n".join(part for part in (f"<b>{inner}</b>", escape(count)) if part)
    head_units = visible_length(heading) + (1 + visible_length(count) if count else 0)
    block = _picks_block(picks, MAX_MESSAGE_UNITS - head_units - 2, labels.picks_heading)
    button = Button(labels.read_button, issue_url) if buttons and issue_url else None
    return TelegramMessage(
        text="\n\n".join(part for part in (head_html, block) if part),
        disable_preview=issue_url is None,
        preview_url=issue_url,
        buttons=((button,),) if button else (),
    )
