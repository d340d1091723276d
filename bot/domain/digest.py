"""Parse one "Akira's ML news" digest (English or Chinese Markdown) into a ``ParsedIssue``.

The parser is line based.  The text is first cut into blocks (headings, link
cards, image lines, separators, text lines), then a small state machine walks
the blocks: preamble (title, source URL), editor's picks, navigation to past
issues, the four numbered sections whose headings are items, and the trailing
github/twitter blurbs.  Every regular expression is linear (no nested or
overlapping repetitions), so megabytes of junk are rejected quickly.

Messy input never loses an item: problems are reported in
``ParsedIssue.warnings`` (each naming the item headline).  Text that is not a
digest raises ``DigestFormatError`` saying what was missing.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Literal
from urllib.parse import unquote

from bot.domain.html_digest import html_to_markdown, looks_like_html
from bot.domain.keys import (  # the key rules live there
    TITLE_MAX_CHARS,
    IssueKey,
    key_from_text,
)
from bot.domain.model import (
    DigestFormatError,
    IssueKind,
    Language,
    ParsedIssue,
    ParsedItem,
    Section,
)
from bot.domain.papers import (
    is_paper_url,
    is_shortener,
    paper_identity,
    resolve_link,
)

MAX_CHARS = 1_500_000  # a real digest is 5-20 KB
MAX_LINES = 20_000  # a real digest has a few hundred lines
TITLE_SCAN_LINES = 8
CARD_MAX_LINES = 8
PLAIN_TITLE_MAX_CHARS = 300

# ---------------------------------------------------------------- regexes
_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)")
_SEPARATOR = re.compile(r"[—–\-_=*·•~ \t]+")
_CARD_START = re.compile(r"\[#{2,3}[ \t]")
_CARD_CLOSE = re.compile(r"\]\(([^()\s]*)\)")
_LEAD_LINK = re.compile(r"\[\]\(([^()\s]*)\)")
_INLINE = re.compile(
    r"!\[(?P<alt>[^\[\]\n]*)\]\((?P<src>[^()\s]*)\)"
    r"|\[(?P<text>[^\[\]\n]*)\]\((?P<href>(?:[^()\n]|\([^()\n]*\))*)\)"
    r"|<(?P<auto>https?://[^<>\s]+)>"
    r"|(?P<bare>https?://(?:[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]|\([A-Za-z0-9\-._~:/?#@!$&'*+,;=%]*\))+)"
)  # a bare URL keeps balanced parentheses (wiki/Foo_(bar)); a stray ")" ends it
_BULLET = re.compile(r"\s*(?:[*\-+•]|\d{1,2}[.)])\s+")
_SECTION_HEAD = re.compile(r"([1-9])\s*[.．、):：]\s*(\S.*)")
_WS = re.compile(r"\s+")
_CJK = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
_BOLD = re.compile(r"\*\*|__|~~")
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_EDGE_UNDERSCORE = re.compile(r"(?<!\w)_+|_+(?!\w)")
_BROKEN_URL_TAIL = re.compile(r"\s?\.\s")
_GLUE_PUNCT = ")]>.,;:\u3000 "
_PUNCT_ONLY = re.compile(r"[\s\W_]*")


# language: share of CJK characters among CJK characters and Latin letters (URLs left out)
CJK_SHARE = 0.25  # English digests quote a few Chinese words; Chinese ones quote paper titles
KANA_SHARE = 0.1  # Chinese text has no kana; Japanese text is full of it
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z]")
_URLISH = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)

_SECTION_WORDS: tuple[tuple[Section, tuple[str, ...]], ...] = (
    ("use_cases", ("用例", "use case", "use-case", "application", "应用")),
    ("papers", ("论文", "paper")),
    ("articles", ("文章", "article", "blog")),
    ("other", ("其他", "其它", "other", "misc")),
)
_PICKS_WORDS = ("编辑精选", "精选", "editor's pick", "editors' pick", "editor’s pick", "pickup")
_NAV_WORDS = ("过去的文章", "往期", "past articles", "previous articles", "past issues")
_TOC_WORDS = ("主题", "目录", "topics", "contents", "table of contents")
_TRAILER = re.compile(
    r"我的\s*github\s*上|推特[，,]\s*我|twitter[，,]\s*i post|one-sentence paper comment"
    r"|papers on my github",
    re.IGNORECASE,
)
_SOURCE_PREFIX = re.compile(r">|原文|来源|source|original", re.IGNORECASE)

Mode = Literal["preamble", "section", "picks", "nav", "skip"]
BlockKind = Literal["heading", "card", "images", "sep", "blank", "text"]
CandKind = Literal["head", "card", "plain"]
_Warn = Callable[[str], None]


# ---------------------------------------------------------------- blocks
@dataclass(slots=True)
class _Block:
    kind: BlockKind
    text: str = ""
    level: int = 0
    target: str | None = None  # link-card href


def _read_card(
    line: str, card: re.Match[str], lines: list[str], i: int
) -> tuple[_Block, int, str] | None:
    """A Medium link card opening at ``card`` in ``line``; ``lines[i:]`` follow it.

    Returns the block, the index of the first line after the card and the text left
    after the card's closing ``](href)`` on its last line.
    """
    lead = _LEAD_LINK.search(line, 0, card.start())
    first = line[card.end() :]
    following = lines[i : i + CARD_MAX_LINES - 1]
    for offset, chunk in enumerate([first, *following]):
        close = _CARD_CLOSE.search(chunk)
        if close is None:
            continue
        title = first if offset else first[: close.start()]
        title = title.split("###", 1)[0].strip()
        href = close.group(1) or (lead.group(1) if lead else "")
        return _Block("card", text=title, target=href), i + offset, chunk[close.end() :]
    return None


def _is_separator(stripped: str) -> bool:
    return bool(_SEPARATOR.fullmatch(stripped)) and any(c in "—–-_=*~" for c in stripped)


def _is_images_line(stripped: str) -> bool:
    pos = 0
    for match in _INLINE.finditer(stripped):
        if match.group("src") is None or stripped[pos : match.start()].strip():
            return False
        pos = match.end()
    return pos > 0 and not stripped[pos:].strip()


def _strip_closing_hashes(text: str) -> str:
    text = text.strip()
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1].isspace()):
        return bare.strip()
    return text


def _tokenize(lines: list[str]) -> list[_Block]:
    """Cut lines into blocks; link cards may span several lines."""
    blocks: list[_Block] = []
    carry: str | None = None
    i = 0
    while carry is not None or i < len(lines):
        if carry is not None:
            line, carry = carry, None
        else:
            line, i = lines[i], i + 1
        stripped = line.strip()
        heading = _HEADING.match(line)
        card = _CARD_START.search(line)
        if not stripped:
            blocks.append(_Block("blank"))
        elif _is_separator(stripped):
            blocks.append(_Block("sep"))
        elif heading:
            text = _strip_closing_hashes(line[heading.end() :])
            blocks.append(_Block("heading", text=text, level=len(heading.group(1))))
        elif card and (found := _read_card(line, card, lines, i)) is not None:
            block, i, rest = found
            blocks.append(block)
            carry = rest if rest.strip() else None
        elif _is_images_line(stripped):
            blocks.append(_Block("images", text=stripped))
        else:
            blocks.append(_Block("text", text=line))
    return blocks


# ---------------------------------------------------------------- inline
@dataclass(frozen=True, slots=True)
class _Seg:
    kind: Literal["text", "link", "image", "url"]
    text: str  # visible text (link text, or the raw url for bare/auto links)
    href: str = ""


def _segments(line: str) -> list[_Seg]:
    segs: list[_Seg] = []
    pos = 0
    for m in _INLINE.finditer(line):
        if m.start() > pos:
            segs.append(_Seg("text", line[pos : m.start()]))
        if m.group("src") is not None:
            segs.append(_Seg("image", m.group("alt"), m.group("src")))
        elif m.group("href") is not None:
            segs.append(_Seg("link", m.group("text"), m.group("href")))
        elif m.group("auto") is not None:
            url = m.group("auto").rstrip(".,;:!?'")
            segs.append(_Seg("url", url, url))
        else:
            bare = m.group("bare")
            url = autolink_end(bare)
            segs.append(_Seg("url", url, url))
            if len(url) < len(bare):
                segs.append(_Seg("text", bare[len(url) :]))
        pos = m.end()
    if pos < len(line):
        segs.append(_Seg("text", line[pos:]))
    return segs


def autolink_end(url: str) -> str:
    """``url`` without the trailing characters GitHub-flavoured Markdown leaves out of an
    extended autolink: ``?!.,:*_~'"``, a ``;`` (with the ``&name`` of an entity before it)
    and unbalanced closing parentheses (``.../Foo_(bar)`` keeps its own). Linear time."""
    end = len(url)
    opening, closing = url.count("("), url.count(")")
    while end > 0:
        last = url[end - 1]
        if last in "?!.,:*_~'\"":
            end -= 1
        elif last == ";":
            start = end - 2
            while start > 0 and url[start].isascii() and url[start].isalpha():
                start -= 1
            end = start if start < end - 2 and url[start] == "&" else end - 1
        elif last == ")" and closing > opening:
            closing -= 1
            end -= 1
        else:
            break
    return url[:end]


def _looks_like_url(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://", "www."))


def _strip_emphasis(text: str) -> str:
    text = _BOLD.sub("", text)
    text = _ITALIC_STAR.sub(r"\1", text)
    return _EDGE_UNDERSCORE.sub("", text.replace("*", ""))


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _plain(text: str) -> str:
    """Visible text of a Markdown fragment: links to their text, images dropped."""
    parts: list[str] = []
    for seg in _segments(text):
        if seg.kind != "image":
            parts.append(seg.text)
    return _collapse(_strip_emphasis("".join(parts)))


def _join_lines(lines: list[str]) -> str:
    """Join wrapped lines; no space is inserted between two CJK characters."""
    out = ""
    for line in (ln for ln in lines if ln):
        if out and not (_CJK.match(out[-1]) and _CJK.match(line[0])):
            out += " "
        out += line
    return out


# ---------------------------------------------------------------- key
def _key_from_source(source: str | None) -> IssueKey | None:
    if not source or len(source) > 2000:
        return None
    slug = unquote(source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
    return key_from_text(slug.replace("_", "-"))


def detect_language(texts: Iterable[str]) -> Language:
    """``zh``, ``ja`` or ``en`` from the share of CJK characters (links are not counted)."""
    han = kana = latin = 0
    for text in texts:
        text = _URLISH.sub(" ", text)
        han += len(_HAN.findall(text))
        kana += len(_KANA.findall(text))
        latin += len(_LATIN.findall(text))
    cjk = han + kana
    if cjk == 0 or cjk < CJK_SHARE * (cjk + latin):
        return "en"
    return "ja" if kana >= KANA_SHARE * cjk else "zh"


def _period(key: IssueKey) -> tuple[date, date]:
    if not 1990 <= key.year <= 2100:
        raise DigestFormatError(f"not a digest: implausible year {key.year}")
    if key.week is not None:
        try:
            start = date.fromisocalendar(key.year, key.week, 1)
        except ValueError as exc:
            raise DigestFormatError(
                f"not a digest: week {key.week} does not exist in {key.year}"
            ) from exc
        return start, start + timedelta(days=6)
    month = key.month or 0
    if not 1 <= month <= 12:
        raise DigestFormatError(f"not a digest: month {month} does not exist")
    last = calendar.monthrange(key.year, month)[1]
    return date(key.year, month, 1), date(key.year, month, last)


def _title_lines(lines: list[str]) -> list[str]:
    found: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        found.append(stripped)
        if len(found) >= TITLE_SCAN_LINES:
            break
    return found


def _clean_title(line: str) -> str:
    return _plain(line.lstrip("#").strip())


# ---------------------------------------------------------------- items
@dataclass(slots=True)
class _Cand:
    url: str
    kind: CandKind


@dataclass(slots=True)
class _Draft:
    section: Section
    headline: str
    blocks: list[_Block] = field(default_factory=list)


@dataclass(slots=True)
class _ItemBuilder:
    """Collects title, links, summary and images of one item, with warnings."""

    headline: str
    title: str | None = None
    plain_title: bool = False
    head: bool = True
    cands: list[_Cand] = field(default_factory=list)
    paragraphs: list[list[str]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    card_titles: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(f'item "{self.headline}": {message}')

    def add_link(self, seg: _Seg, kind: CandKind) -> None:
        url = _link_url(seg, self.warn)
        if url is not None:
            self.cands.append(_Cand(url, kind))

    def add_prose(self, text: str, new_paragraph: bool) -> None:
        text = _collapse(_strip_emphasis(text))
        if not text:
            return
        if new_paragraph or not self.paragraphs:
            self.paragraphs.append([])
        self.paragraphs[-1].append(text)


def _link_url(seg: _Seg, warn: _Warn) -> str | None:
    """The usable URL of a link segment; a URL-looking text beats a shortener or broken target."""
    target = resolve_link(seg.href) if seg.href else None
    text_is_url = seg.kind == "link" and _looks_like_url(seg.text)
    text_url = resolve_link(seg.text) if text_is_url else None
    if target is not None and is_shortener(target):
        if text_url is not None and not is_shortener(text_url):
            warn(f"shortened link {target} replaced by the URL in its text")
            return text_url
        warn(f"shortened link {target} ignored")
        return None
    if target is not None:
        if text_is_url and text_url is None:
            warn("link text is a URL broken by spaces; used the link target")
        return target
    if text_url is not None:
        return text_url
    if seg.href.startswith(("http", "/", "<", "www")) or seg.kind == "url":
        warn(f"unusable URL {seg.href[:80]!r} dropped")
    return None


def _split_italic(segs: list[_Seg]) -> tuple[list[_Seg], list[_Seg]] | None:
    """Split ``*Title [link](url)* rest`` into (title segments, rest); None if not italic."""
    if not segs or segs[0].kind != "text":
        return None
    first = segs[0].text.lstrip()
    marker = "**" if first.startswith("**") else first[:1]
    if marker not in ("*", "_", "**") or first[len(marker) : len(marker) + 1] in ("", " ", "*"):
        return None
    segs = [_Seg("text", first[len(marker) :]), *segs[1:]]
    for idx, seg in enumerate(segs):
        if seg.kind == "text" and marker in seg.text:
            before, after = seg.text.split(marker, 1)
            title = [*segs[:idx], _Seg("text", before)]
            rest = [_Seg("text", after), *segs[idx + 1 :]] if after else segs[idx + 1 :]
            return title, rest
    return None


def _is_linkish(seg: _Seg) -> bool:
    return seg.kind in ("link", "url")


def _only_links(segs: list[_Seg]) -> bool:
    return any(_is_linkish(s) for s in segs) and all(
        _is_linkish(s) or s.kind == "image" or _PUNCT_ONLY.fullmatch(s.text) for s in segs
    )


def _starts_with_link(segs: list[_Seg]) -> bool:
    rest = [s for s in segs if not (s.kind == "text" and not s.text.strip())]
    return bool(rest) and _is_linkish(rest[0])


def _broken_bare_url(segs: list[_Seg], idx: int) -> bool:
    seg = segs[idx]
    if seg.kind != "url":
        return False
    nxt = segs[idx + 1] if idx + 1 < len(segs) else None
    tail_broken = nxt is not None and nxt.kind == "text" and bool(_BROKEN_URL_TAIL.match(nxt.text))
    return tail_broken or resolve_link(seg.href) is None


def _head_links(b: _ItemBuilder, segs: list[_Seg], allow_title: bool) -> list[_Seg]:
    """Register the leading links of a head line; return the segments left after them."""
    idx = 0
    while idx < len(segs):
        seg = segs[idx]
        if seg.kind == "text" and not seg.text.strip():
            idx += 1
        elif _broken_bare_url(segs, idx):
            b.warn("URL broken by spaces dropped")
            idx += 1
            while idx < len(segs) and segs[idx].kind == "text":
                idx += 1
        elif _is_linkish(seg):
            b.add_link(seg, "head")
            text = _collapse(seg.text)
            if allow_title and b.title is None and seg.kind == "link" and text:
                b.title = None if _looks_like_url(text) else _plain(text)
            idx += 1
        elif seg.kind == "image":
            b.images.append(seg.href)
            idx += 1
        else:
            break
    return segs[idx:]


def _glued_rest(b: _ItemBuilder, rest: list[_Seg], new_paragraph: bool) -> None:
    """Text written right after a head link on the same line starts the summary."""
    text = _segs_text(b, rest)
    cleaned = text.lstrip(_GLUE_PUNCT)
    if not _PUNCT_ONLY.fullmatch(cleaned):
        b.warn("text glued to the end of a link; used as summary")
        b.head = False
        b.add_prose(cleaned, new_paragraph)


def _segs_text(b: _ItemBuilder, segs: list[_Seg]) -> str:
    """Visible text of segments; links count as candidates, images are collected."""
    parts: list[str] = []
    for seg in segs:
        if seg.kind == "image":
            b.images.append(seg.href)
        elif seg.kind == "text":
            parts.append(seg.text)
        else:
            b.add_link(seg, "plain")
            parts.append(seg.text)
    return "".join(parts)


def _italic_line(b: _ItemBuilder, title: list[_Seg], rest: list[_Seg], new_par: bool) -> None:
    words: list[str] = []
    for seg in title:
        if seg.kind == "text":
            words.append(seg.text)
        elif _is_linkish(seg):
            b.warn("link inside the italic title")
            b.add_link(seg, "head")
            if seg.kind == "link" and not _looks_like_url(seg.text):
                words.append(seg.text)
    b.title = _plain("".join(words)) or None
    remaining = _head_links(b, rest, allow_title=False)
    if remaining:
        _glued_rest(b, remaining, new_par)


def _head_line(b: _ItemBuilder, segs: list[_Seg], next_segs: list[_Seg] | None, new: bool) -> bool:
    """Handle one line of the item head; False when it is prose (the head is over)."""
    italic = _split_italic(segs) if b.title is None else None
    if italic is not None:
        _italic_line(b, *italic, new)
        return True
    if _starts_with_link(segs):
        first = next(s for s in segs if s.kind != "text" or s.text.strip())
        glued = len(segs) > 1 and segs[-1].kind == "text" and not segs[-1].text[:1].isspace()
        if _only_links(segs) or _looks_like_url(first.text) or not first.text or glued:
            remaining = _head_links(b, segs, allow_title=not glued)
            if remaining:
                _glued_rest(b, remaining, new)
            return True
        return False
    is_plain = not any(_is_linkish(s) for s in segs)
    if is_plain and b.title is None and next_segs is not None and _starts_with_link(next_segs):
        text = _plain("".join(s.text for s in segs))
        if 0 < len(text) <= PLAIN_TITLE_MAX_CHARS:
            b.title = text
            b.plain_title = True
            return True
    return False


def _paragraphs(blocks: list[_Block], b: _ItemBuilder) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for block in blocks:
        if block.kind == "text":
            paragraphs[-1].append(block.text)
            continue
        if block.kind == "card":
            b.card_titles.append(_plain(block.text))
            if block.target:
                b.add_link(_Seg("link", "", block.target), "card")
        elif block.kind == "images":
            b.images.extend(s.href for s in _segments(block.text) if s.kind == "image")
        if paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _build_item(draft: _Draft) -> tuple[_ItemBuilder, str]:
    """Fill a builder from the item's blocks; returns it with the summary text."""
    b = _ItemBuilder(headline=draft.headline)
    for paragraph in _paragraphs(draft.blocks, b):
        parsed = [_segments(line) for line in paragraph]
        new_par = True
        for idx, segs in enumerate(parsed):
            nxt = parsed[idx + 1] if idx + 1 < len(parsed) else None
            if b.head and _head_line(b, segs, nxt, new_par):
                continue
            b.head = False
            if _only_links(segs):
                _segs_text(b, segs)
                continue
            b.add_prose(_segs_text(b, segs), new_par)
            new_par = False
    summary = "\n\n".join(_join_lines(p) for p in b.paragraphs)
    if not summary and b.plain_title and b.title:
        summary = b.title
    if b.title is None and b.card_titles and b.card_titles[0]:
        b.title = b.card_titles[0]
    return b, summary


def _choose_url(cands: list[_Cand]) -> str | None:
    for cand in cands:
        if is_paper_url(cand.url):
            return cand.url
    for kind in ("head", "card", "plain"):
        for cand in cands:
            if cand.kind == kind:
                return cand.url
    return None


# ---------------------------------------------------------------- issue
@dataclass(slots=True)
class _Pick:
    text: str
    url: str | None


@dataclass(slots=True)
class _State:
    mode: Mode = "preamble"
    section: Section | None = None
    drafts: list[_Draft] = field(default_factory=list)
    current: _Draft | None = None
    picks: list[_Pick] = field(default_factory=list)
    neighbours: list[str] = field(default_factory=list)
    source_url: str | None = None
    sections_seen: int = 0
    warnings: list[str] = field(default_factory=list)


def _section_of(text: str) -> Section | None:
    match = _SECTION_HEAD.fullmatch(text)
    if match is None:
        return None
    name = match.group(2).lower()
    for section, words in _SECTION_WORDS:
        if any(w in name for w in words):
            return section
    return None


def _special_mode(text: str) -> Mode | None:
    low = text.lstrip("—–-_=~ \t").lower()
    if any(w in low for w in _PICKS_WORDS):
        return "picks"
    if any(w in low for w in _NAV_WORDS):
        return "nav"
    if low.rstrip(":：") in _TOC_WORDS or _TRAILER.search(low):
        return "skip"
    return None


def _on_heading(state: _State, block: _Block) -> None:
    text = _plain(block.text)
    state.current = None
    section = _section_of(text)
    if section is not None:
        state.mode, state.section = "section", section
        state.sections_seen += 1
        return
    special = _special_mode(text)
    if special is not None:
        state.mode = special
    elif state.mode == "section" and state.section is not None and text:
        state.current = _Draft(state.section, text)
        state.drafts.append(state.current)
    elif state.mode in ("picks", "nav"):
        state.mode = "skip"


def _line_links(line: str) -> list[_Seg]:
    return [s for s in _segments(line) if _is_linkish(s)]


def _is_source_line(line: str) -> bool:
    return bool(_SOURCE_PREFIX.match(line.strip()))


def _on_text(state: _State, block: _Block) -> None:
    line = block.text
    if state.mode == "section" and len(line) < 200 and _TRAILER.search(line):
        state.mode, state.current = "skip", None
    elif state.current is not None:
        state.current.blocks.append(block)
    elif state.mode == "picks":
        links = _line_links(line)
        bullet = _BULLET.match(line)
        if links:
            state.picks.append(_Pick(_plain(links[0].text), resolve_link(links[0].href)))
        elif bullet:
            state.picks.append(_Pick(_plain(line[bullet.end() :]), None))
    elif state.mode == "nav":
        for seg in _line_links(line):
            url = resolve_link(seg.href)
            if url is not None:
                state.neighbours.append(url)
    elif state.mode == "preamble" and state.source_url is None and _is_source_line(line):
        for seg in _line_links(line):
            url = resolve_link(seg.href)
            if url is not None:
                state.source_url = url
                break


def _walk(blocks: list[_Block]) -> _State:
    state = _State()
    for block in blocks:
        if block.kind == "heading":
            _on_heading(state, block)
        elif block.kind == "text":
            _on_text(state, block)
        elif state.current is not None:
            state.current.blocks.append(block)
    return state


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise DigestFormatError(f"not a digest: expected text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise DigestFormatError(
            f"not a digest: text too large ({len(text)} characters, limit {MAX_CHARS})"
        )
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DigestFormatError("not a digest: the text is empty")
    sample = text[:20_000]
    controls = sum(1 for c in sample if c < " " and c not in "\n\t")
    if "\x00" in sample or controls > len(sample) // 100:
        raise DigestFormatError("not a digest: the text looks binary (control characters)")
    return text.replace("\u00a0", " ")


def _find_key(
    lines: list[str], source: str | None, source_url: str | None
) -> tuple[IssueKey, str | None, list[str]]:
    """Key of the issue, its title line and warnings; title line first, then URLs, then intro."""
    head = [ln for ln in _title_lines(lines) if len(ln) <= TITLE_MAX_CHARS]
    titles = [ln for ln in head if ln.startswith("#")] or head[:1]
    warnings: list[str] = []
    from_source = _key_from_source(source) or _key_from_source(source_url)
    for line in [*titles, *head[:1]]:
        key = key_from_text(_clean_title(line))
        if key is not None:
            if from_source is not None and from_source != key:
                warnings.append(
                    f"title says {key.text} but the source says {from_source.text}; used the title"
                )
            return key, _clean_title(line), warnings
    if from_source is not None:
        return from_source, _clean_title(titles[0]) if titles else None, warnings
    for line in head:
        key = key_from_text(_clean_title(line))
        if key is not None:
            warnings.append(f"no title line with the issue key; found {key.text} in {line[:40]!r}")
            return key, _clean_title(titles[0]) if titles else None, warnings
    raise DigestFormatError(
        "not a digest: no title with a week or month "
        "(such as '# 2020 年第 39 周' or \"# Akira's ML news #Week 39, 2020\")"
    )


def _items(state: _State) -> tuple[list[_ItemBuilder], list[ParsedItem], list[str]]:
    builders: list[_ItemBuilder] = []
    items: list[ParsedItem] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    for position, draft in enumerate(state.drafts, start=1):
        b, summary = _build_item(draft)
        url = _choose_url(b.cands)
        paper = paper_identity(url) if url else None
        if url is None:
            b.warn("no usable link")
        if not summary:
            b.warn("no summary text")
        if paper is not None and paper in seen:
            b.warn(f"same paper as item {seen[paper]!r}")
        elif paper is not None:
            seen[paper] = draft.headline
        item = ParsedItem(
            position=position,
            section=draft.section,
            headline=draft.headline,
            title=b.title,
            url=url,
            paper=paper,
            summary=summary,
            images=tuple(dict.fromkeys(b.images)),
        )
        builders.append(b)
        items.append(item)
        warnings.extend(b.warnings)
    return builders, items, warnings


def _norm_label(text: str) -> str:
    return _collapse(text).rstrip("。.!！?？ ").lower()


def _match_pick(pick: _Pick, builders: list[_ItemBuilder], items: list[ParsedItem]) -> int | None:
    ident = paper_identity(pick.url) if pick.url else None
    if ident is not None:
        for idx, b in enumerate(builders):
            if ident in {paper_identity(c.url) for c in b.cands}:
                return idx
    label = _norm_label(pick.text)
    for idx, item in enumerate(items):
        if label and label in (_norm_label(item.headline), _norm_label(item.title or "")):
            return idx
    return None


def _apply_picks(
    state: _State, builders: list[_ItemBuilder], items: list[ParsedItem]
) -> tuple[list[ParsedItem], list[str], list[str]]:
    picks: list[str] = []
    warnings: list[str] = []
    for pick in state.picks:
        idx = _match_pick(pick, builders, items)
        if idx is None:
            warnings.append(f'editor\'s pick "{pick.text}" matches no item')
            continue
        item = items[idx]
        items[idx] = replace(item, pick=True)
        if item.paper is None:
            warnings.append(f'editor\'s pick "{pick.text}" points to an item without a link')
        elif item.paper not in picks:
            picks.append(item.paper)
    return items, picks, warnings


def _neighbours(state: _State, own: str | None) -> tuple[str, ...]:
    own_id = paper_identity(own) if own else None
    seen: dict[str | None, str] = {}
    for url in state.neighbours:
        ident = paper_identity(url)
        if ident != own_id and ident not in seen:
            seen[ident] = url
    return tuple(seen.values())


def _source_as_url(source: str | None) -> str | None:
    if source and source.lower().startswith(("http://", "https://")):
        return resolve_link(source)
    return None


def parse_digest(text: str, source: str | None = None) -> ParsedIssue:
    """Parse a weekly or monthly digest; raise ``DigestFormatError`` when it is not one.

    ``source`` is the file name or URL the text came from; its slug may supply the
    key (``...-week-39-2020-...``) when the title line has none. HTML (a Medium page or a
    feed item) is read as the Markdown Medium exports for it; its canonical URL is the source.
    """
    if isinstance(text, str) and looks_like_html(text):
        page = html_to_markdown(text)
        text, source = page.markdown, page.canonical or source
    text = _check_text(text)
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        raise DigestFormatError(f"not a digest: too many lines ({len(lines)}, limit {MAX_LINES})")
    state = _walk(_tokenize(lines))
    url = state.source_url or _source_as_url(source)
    key, title, key_warnings = _find_key(lines, source, url)
    start, end = _period(key)
    if state.sections_seen == 0:
        raise DigestFormatError(
            "not a digest: no numbered section headings "
            "(such as '# 1. Machine Learning Papers' or '# 1.机器学习论文')"
        )
    if not state.drafts:
        raise DigestFormatError("not a digest: the sections contain no items")
    builders, items, item_warnings = _items(state)
    items, picks, pick_warnings = _apply_picks(state, builders, items)
    kind: IssueKind = "weekly" if key.week is not None else "monthly"
    texts = [title or "", *(t for it in items for t in (it.headline, it.title or "", it.summary))]
    return ParsedIssue(
        key=key.text,
        kind=kind,
        year=key.year,
        week=key.week,
        month=key.month,
        title=title or key.text,
        url=url,
        start=start,
        end=end,
        items=tuple(items),
        picks=tuple(picks),
        warnings=tuple([*key_warnings, *item_warnings, *pick_warnings]),
        neighbours=_neighbours(state, url),
        language=detect_language(texts),
    )
