"""Compose posts for X (Twitter), counted exactly like twitter-text v3.

Weights follow twitter-text v3 (the ``twitter_text`` package): most Latin text
counts 1 per code point, CJK and other wide characters 2, any emoji sequence 2,
any URL 23; a post may weigh at most 280.

The library's URL regex backtracks catastrophically on long dot-separated tokens
(``"a." * 1000`` takes seconds), so truncation never hands it unbounded text: the
input is scanned token by token, short tokens go through the library, long tokens
are only checked for a leading ``http(s)://`` URL with an anchored match, and
scanning stops as soon as the budget is exceeded. Every produced text is finally
verified with the library itself.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from twitter_text import extract_emojis_with_indices, extract_urls_with_indices, parse_tweet
from twitter_text.config import config as _TT_CONFIG
from twitter_text.extract_urls import is_valid_url
from twitter_text.get_character_weight import get_character_weight
from twitter_text.regexp.extract_url import extract_url as _TT_URL_RE

from bot.domain.telegram_text import (
    NEW_ISSUE,
    arxiv_label,
    clean_text,
    digest_labels,
    is_cluster_boundary,
    is_http_url,
    papers_line,
)

MAX_WEIGHT: Final = 280
URL_WEIGHT: Final = 23
ELLIPSIS: Final = "…"
DIGEST_TITLE_MAX: Final = 120
DIGEST_PICK_MAX: Final = 70
DIGEST_PICK_MIN: Final = 20
MAX_HASHTAGS: Final = 5
MAX_HASHTAG_CHARS: Final = 40
FALLBACK_TITLE_MAX: Final = 100
SOURCE_NAME_MAX: Final = 40

LinkMode = Literal["url", "arxiv_id", "none"]
LinkFallback = Literal["title", "url", "skip"]
AtomKind = Literal["url", "emoji", "char", "space"]

_OPTIONS: Final[dict[str, Any]] = _TT_CONFIG["defaults"]
_SCALE: Final[int] = _OPTIONS["scale"]
_EMOJI_WEIGHT: Final[int] = _OPTIONS["default_weight"]
_URL_SCALED: Final[int] = _OPTIONS["transformed_url_length"] * _SCALE
_MAX_URL_CHARS: Final = 4096 + len("https://")
_SHORT_TOKEN: Final = 256  # tokens up to this length go through the library's regexes
_PLAIN_CHUNK: Final = 512
_PROTOCOL_RE: Final = re.compile(r"https?://", re.IGNORECASE)
_PROTOCOL_LOOKAHEAD: Final = 16
_PIECE_RE: Final = re.compile(r"(?P<ws>\s+)|\S+")
_LINE_END_RE: Final = re.compile(r"\r\n|\r")
_SENTENCE_END_RE: Final = re.compile(r"[.!?][\"'”’)\]]*$")
_CJK_SENTENCE_END_RE: Final = re.compile(r"[。！？][」』”’）]*$")
_ABBREVIATIONS: Final = frozenset(
    {"e.g.", "i.e.", "etc.", "al.", "vs.", "fig.", "eq.", "cf.", "approx.", "resp.", "no."}
)
_STRIP_AT_CUT: Final = frozenset(",;:、，；：-–—")
_MIN_KEEP_FRACTION: Final = 0.5
_MAX_ATTEMPTS: Final = 24
_HASHTAG_JUNK_RE: Final = re.compile(r"\W+")
_URL_PUNCTUATION: Final = frozenset("-._~:/?#[]@!$&'()*+,;=%|")
# second-level labels under a country code (example.co.uk, example.com.cn): not a site's name
_SECOND_LEVEL: Final = frozenset({"ac", "co", "com", "edu", "go", "gov", "ne", "net", "or", "org"})
_HOST_PREFIXES: Final = ("www", "m")


# ---------------------------------------------------------------- counting


def weighted_length(text: str) -> int:
    """twitter-text v3 weighted length (URLs 23, emoji 2, CJK 2, most Latin 1)."""
    if len(text) <= _MEMO_MAX_CHARS:  # tweet-sized texts are measured often: remember them
        return _weighted_length_memo(text)
    return int(parse_tweet(text, _OPTIONS).weightedLength)


_MEMO_MAX_CHARS: Final = 1120


@lru_cache(maxsize=4096)
def _weighted_length_memo(text: str) -> int:
    return int(parse_tweet(text, _OPTIONS).weightedLength)


def is_valid_tweet(text: str) -> bool:
    """twitter-text v3 validity: non-empty, at most 280 weighted, no invalid characters."""
    return bool(parse_tweet(text, _OPTIONS).valid)


def _normalize(text: str) -> str:
    """What twitter-text counts: NFC, ``\\r\\n`` and ``\\r`` as ``\\n``."""
    return _LINE_END_RE.sub("\n", unicodedata.normalize("NFC", text))


# ---------------------------------------------------------------- scanning


@dataclass(frozen=True, slots=True)
class _Atom:
    """An indivisible run of the text with its weight (scaled by 100)."""

    start: int
    end: int
    weight: int
    kind: AtomKind


def _char_weight(char: str) -> int:
    return int(get_character_weight(char, _OPTIONS))


def _library_atoms(text: str, start: int, end: int) -> Iterator[_Atom]:
    """Atoms of a short token, exactly as ``parse_tweet`` walks it."""
    token = text[start:end]
    urls = {u["indices"][0]: u["indices"][1] for u in extract_urls_with_indices(token)}
    emojis = {e["indices"][0]: e["indices"][1] for e in extract_emojis_with_indices(token)}
    index = 0
    while index < len(token):
        if index in urls:
            atom = _Atom(start + index, start + urls[index], _URL_SCALED, "url")
        elif index in emojis:
            atom = _Atom(start + index, start + emojis[index], _EMOJI_WEIGHT, "emoji")
        else:
            atom = _Atom(start + index, start + index + 1, _char_weight(token[index]), "char")
        yield atom
        index = atom.end - start


def _plain_atoms(text: str, start: int, end: int) -> Iterator[_Atom]:
    """Atoms of a long token without URL detection, lazily, chunk by chunk."""
    position = start
    while position < end:
        chunk_end = min(end, position + _PLAIN_CHUNK)
        window = text[position : min(end, chunk_end + 32)]
        emojis = {
            e["indices"][0]: e["indices"][1]
            for e in extract_emojis_with_indices(window)
            if e["indices"][0] < chunk_end - position
        }
        offset = position
        while offset < chunk_end:
            if offset - position in emojis:
                stop = position + emojis[offset - position]
                atom = _Atom(offset, stop, _EMOJI_WEIGHT, "emoji")
            else:
                atom = _Atom(offset, offset + 1, _char_weight(text[offset]), "char")
            yield atom
            offset = atom.end
        position = offset


def _anchored_url_end(text: str, start: int, end: int) -> int | None:
    """End of the http(s) URL twitter-text would extract at *start*, or ``None``."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "@＠$#＃"):
        return None
    candidate = text[start : min(end, start + _MAX_URL_CHARS + 1)]
    match = _TT_URL_RE.match(candidate)
    if match is None or match.group(4) is None:
        return None
    url: str = match.group(3)
    if len(url) > _MAX_URL_CHARS or not is_valid_url(url, match.group(4), match.group(5)):
        return None
    found = extract_urls_with_indices(url)  # fast: the whole string is one URL
    if not found or found[0]["indices"] != [0, len(url)]:
        return None
    return start + len(url)


def _token_atoms(text: str, start: int, end: int) -> Iterator[_Atom]:
    """Atoms of one whitespace-free token, never running the URL regex on long text.

    A long token is split only at leading ``http(s)://`` URLs (anchored match);
    whatever follows them without a leading URL is counted as plain text.
    """
    while end - start > _SHORT_TOKEN:
        protocol = _PROTOCOL_RE.search(text, start, min(end, start + _PROTOCOL_LOOKAHEAD))
        url_end = _anchored_url_end(text, protocol.start(), end) if protocol else None
        if protocol is None or url_end is None:
            yield from _plain_atoms(text, start, end)
            return
        yield from _library_atoms(text, start, protocol.start())
        yield _Atom(protocol.start(), url_end, _URL_SCALED, "url")
        start = url_end
    yield from _library_atoms(text, start, end)


def _raw_atoms(text: str) -> Iterator[_Atom]:
    for piece in _PIECE_RE.finditer(text):
        if piece.lastgroup == "ws":
            for index in range(piece.start(), piece.end()):
                yield _Atom(index, index + 1, _char_weight(text[index]), "space")
        else:
            yield from _token_atoms(text, piece.start(), piece.end())


def _scan(text: str, limit: int | None) -> tuple[list[_Atom], bool]:
    """Atoms of normalized *text*, glued into clusters, until the total exceeds *limit*.

    Returns the atoms and whether the whole text was scanned within the limit.
    """
    atoms: list[_Atom] = []
    total = 0
    for atom in _raw_atoms(text):
        if atoms and not is_cluster_boundary(text, atom.start):
            last = atoms[-1]
            atoms[-1] = _Atom(last.start, atom.end, last.weight + atom.weight, last.kind)
        else:
            atoms.append(atom)
        total += atom.weight
        if limit is not None and total > limit:
            return atoms, False
    return atoms, True


# ---------------------------------------------------------------- truncation


@dataclass(frozen=True, slots=True)
class _Cut:
    """Keep ``atoms[:count]``; *weight* is their scaled weight."""

    count: int
    weight: int
    kind: Literal["sentence", "word", "char"]


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _cut_kind(text: str, atoms: list[_Atom], count: int, token_start: int) -> _Cut | None:
    """Classify the cut after ``atoms[count - 1]`` (weight filled in by the caller)."""
    last, following = atoms[count - 1], atoms[count] if count < len(atoms) else None
    if last.kind == "space":
        return None
    token = text[token_start : last.end]
    if _CJK_SENTENCE_END_RE.search(token):
        return _Cut(count, 0, "sentence")
    if following is None or following.kind == "space":
        lowered = token.lower()
        is_sentence = (
            _SENTENCE_END_RE.search(token) is not None
            and lowered.rstrip("\"'”’)]") not in _ABBREVIATIONS
            and not re.fullmatch(r"\w\.", lowered)
        )
        return _Cut(count, 0, "sentence" if is_sentence else "word")
    if _is_wide(text[last.end - 1]) or _is_wide(text[following.start]):
        return _Cut(count, 0, "word")
    return _Cut(count, 0, "char")


def _cuts(text: str, atoms: list[_Atom], target: int) -> list[_Cut]:
    """Every cut whose kept atoms weigh at most *target*."""
    cuts: list[_Cut] = []
    weight, token_start = 0, 0
    for count, atom in enumerate(atoms, start=1):
        weight += atom.weight
        if weight > target:
            break
        if atom.kind == "space":
            token_start = atom.end
            continue
        cut = _cut_kind(text, atoms, count, token_start)
        if cut is not None:
            cuts.append(_Cut(count, weight, cut.kind))
    return cuts


def _preferred(cuts: list[_Cut], target: int) -> list[_Cut]:
    """Cuts in order of preference: a long-enough sentence, long-enough words, anything."""
    floor = target * _MIN_KEEP_FRACTION
    by_weight = sorted(cuts, key=lambda cut: cut.weight, reverse=True)
    sentences = [c for c in by_weight if c.kind == "sentence" and c.weight >= floor]
    words = [c for c in by_weight if c.kind != "char" and c.weight >= floor]
    seen: set[int] = set()
    ordered: list[_Cut] = []
    for cut in [*sentences[:1], *words, *by_weight]:
        if cut.count not in seen:
            seen.add(cut.count)
            ordered.append(cut)
    return ordered


def _render(text: str, atoms: list[_Atom], cut: _Cut) -> tuple[int, str]:
    """(length of the kept prefix, candidate text with the ellipsis)."""
    kept = atoms[: cut.count]
    if cut.kind != "sentence":
        while kept and kept[-1].kind == "char" and text[kept[-1].start] in _STRIP_AT_CUT:
            kept.pop()
    if not kept:
        return 0, ""
    prefix = text[: kept[-1].end]
    ascii_sentence = cut.kind == "sentence" and not _CJK_SENTENCE_END_RE.search(prefix)
    separator = " " if ascii_sentence or kept[-1].kind == "url" else ""
    return len(prefix), prefix + separator + ELLIPSIS


def _ends_url(char: str) -> bool:
    """True for a character no URL can continue with."""
    return char.isspace() or not (char.isalnum() or char in _URL_PUNCTUATION)


def _first_broken_url(candidate: str, kept: int, atoms: list[_Atom]) -> int | None:
    """Start of a URL that *candidate* cuts (``None`` when every URL is whole).

    A URL is whole when the scan saw it as one, or when it ends inside the kept
    text right before a character that no URL can continue with.
    """
    whole = {(atom.start, atom.end) for atom in atoms if atom.kind == "url"}
    for found in extract_urls_with_indices(candidate):
        start, end = found["indices"]
        if (start, end) not in whole and not (end < kept and _ends_url(candidate[end])):
            return int(start)
    return None


def _truncate(text: str, atoms: list[_Atom], budget: int) -> str:
    """Best verified cut of normalized *text* (``""`` when none fits)."""
    target = budget * _SCALE - _char_weight(ELLIPSIS)
    if target <= 0:
        return ""
    ceiling, attempts = len(text), 0
    for cut in _preferred(_cuts(text, atoms, target), target):
        if atoms[cut.count - 1].end > ceiling:
            continue
        attempts += 1
        if attempts > _MAX_ATTEMPTS:
            break
        kept, candidate = _render(text, atoms, cut)
        if not candidate or weighted_length(candidate) > budget:
            continue
        broken = _first_broken_url(candidate, kept, atoms)
        if broken is None:
            return candidate
        ceiling = broken
    return ""


def truncate_for_x(text: str, budget: int) -> str:
    """Fit *text* into *budget* weighted characters, ending with ``…`` when cut.

    Prefers the last sentence end that keeps at least half of the budget, then
    the last word boundary (between CJK characters every boundary is one), then
    any character-cluster boundary; URLs are never cut (dropped whole instead).
    Returns *text* unchanged when it fits, ``""`` when nothing sensible fits.
    The result is NFC-normalized when cut.
    """
    if budget <= 0:
        return ""
    if len(text) <= _MEMO_MAX_CHARS and weighted_length(text) <= budget:
        return text  # the common case: it fits, no need to scan
    normalized = _normalize(text)
    atoms, complete = _scan(normalized, budget * _SCALE)
    if complete and weighted_length(text) <= budget:
        return text
    return _truncate(normalized, atoms, budget)


def contains_url(text: str) -> bool:
    """Whether twitter-text finds a URL in *text* (posts with URLs are priced higher).

    Tweet-sized texts go straight to the library; longer ones are scanned token
    by token so hostile input cannot trigger the regex's backtracking.
    """
    normalized = _normalize(text)
    if len(normalized) <= 4 * MAX_WEIGHT:
        return bool(extract_urls_with_indices(normalized))
    return any(atom.kind == "url" for atom in _raw_atoms(normalized))


# ---------------------------------------------------------------- composing


def _tweet_url(url: str | None) -> str | None:
    """*url* if it is an http(s) URL that twitter-text counts as one whole URL."""
    url = url.strip() if url else None
    if url is None or not is_http_url(url):
        return None
    return url if _anchored_url_end(url, 0, len(url)) == len(url) else None


def drip_link_text(link: LinkMode, url: str | None, paper: str | None) -> str:
    """The link part of a drip tweet for *link* mode ("" when there is none).

    ``"url"``: the http(s) URL if twitter-text counts it as one whole URL (23);
    ``"arxiv_id"``: plain-text ``arXiv:ID`` for ``arxiv:`` papers (never a URL);
    ``"none"``: nothing.
    """
    if link == "url":
        return _tweet_url(url) or ""
    if link == "arxiv_id":
        label = arxiv_label(paper)
        return label if label and not contains_url(label) else ""
    return ""


def _hashtags(tags: Sequence[str]) -> list[str]:
    """``#Tag`` forms of *tags*: word characters only, not all digits, deduplicated.

    Tags longer than 40 characters are skipped; at most 5 are kept.
    """
    result: list[str] = []
    seen: set[str] = set()
    for tag in tags[: MAX_HASHTAGS * 4]:
        word = _HASHTAG_JUNK_RE.sub("", tag[: MAX_HASHTAG_CHARS * 4])
        usable = word and len(word) <= MAX_HASHTAG_CHARS and not word.isdigit()
        if usable and word.casefold() not in seen:
            seen.add(word.casefold())
            result.append(f"#{word}")
    return result[:MAX_HASHTAGS]


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _fit_with_suffix(body: str, suffix: str) -> tuple[str, bool]:
    """``body suffix`` within 280, cutting only the body; also whether body is whole.

    Returns ``("", False)`` when even the suffix alone does not fit.
    """
    budget = MAX_WEIGHT - (weighted_length(suffix) + 1 if suffix else 0)
    for _ in range(4):
        kept = truncate_for_x(body, budget) if body and budget > 0 else ""
        text = _join(kept, suffix)
        excess = weighted_length(text) - MAX_WEIGHT
        if excess <= 0:
            return text, kept == body
        budget -= excess
    return "", False


def source_name(url: str | None) -> str:
    """A short plain-text name of *url*'s site that X does not turn into a link.

    The host without ``www.``, its top-level domain (and a country's second level
    such as ``co.uk``), at most its last two labels: ``https://blog.example.org/x``
    gives ``blog.example``. A bare domain would be auto-linked by X (priced as a
    post with a URL), so labels are dropped from the left while twitter-text still
    sees a URL; a single label never is one. ``""`` for IP addresses and bad URLs.
    """
    url = url.strip() if url else None
    if url is None or not is_http_url(url):
        return ""
    host = (urlsplit(url).hostname or "").rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return ""
    labels = [label for label in host.split(".") if label]
    while len(labels) > 1 and labels[0] in _HOST_PREFIXES:
        labels.pop(0)
    if len(labels) > 1:
        labels.pop()  # the top-level domain
    if len(labels) > 1 and labels[-1] in _SECOND_LEVEL:
        labels.pop()
    labels = labels[-2:]
    while len(labels) > 1 and (
        contains_url(".".join(labels)) or len(".".join(labels)) > SOURCE_NAME_MAX
    ):
        labels.pop(0)
    name = clean_text(".".join(labels), keep_newlines=False)
    return truncate_for_x(name, SOURCE_NAME_MAX) if name else ""


def fallback_link_text(
    fallback: LinkFallback, *, url: str | None, title: str | None, with_title: bool = True
) -> str:
    """What points at an item that has no arXiv id ("" when there is nothing to show).

    ``"url"``: the http(s) URL (a post with a URL); when it is unusable, and for
    ``"title"``: ``(source: title)`` in plain text, with the site's name from
    :func:`source_name` and the title capped at 100 weighted characters (left out
    when *with_title* is false, e.g. because the post's body already is the title).
    ``"skip"`` is the caller's decision (the post is not sent to X): "" here.
    """
    if fallback == "skip":
        return ""
    if fallback == "url" and (whole := _tweet_url(url)):
        return whole
    source = source_name(url)
    name = clean_text(title or "", keep_newlines=False) if with_title else ""
    name = truncate_for_x(name, FALLBACK_TITLE_MAX) if name else ""
    inner = f"{source}: {name}" if source and name else source or name
    return f"({inner})" if inner else ""


def skips_x(link: LinkMode, fallback: LinkFallback, paper: str | None) -> bool:
    """True when a drip post is not sent to X: arXiv ids only, and this item has none."""
    return link == "arxiv_id" and fallback == "skip" and not drip_link_text(link, None, paper)


def compose_drip_tweet(
    comment: str,
    *,
    title: str | None,
    url: str | None,
    paper: str | None,
    link: LinkMode,
    fallback: LinkFallback = "title",
    hashtags: Sequence[str] = (),
) -> str | None:
    """The drip post: one-sentence comment, then the link, then hashtags that fit.

    *link* ``"url"`` appends the (http(s)) URL, ``"arxiv_id"`` appends plain text
    ``arXiv:ID`` for arXiv papers, ``"none"`` nothing (no link and no fallback: the
    author wants none). In ``"arxiv_id"`` mode an item without an arXiv id gets
    *fallback* (see :func:`fallback_link_text`), or, for ``"skip"``, no post at
    all: ``None``. The comment (or the title when the comment is empty) is cleaned
    to one line and truncated (sentence, then word boundaries) to make room for the
    link, never the link; hashtags are only added while the comment stays whole.
    Raises ``ValueError`` when nothing is left to post.
    """
    if skips_x(link, fallback, paper):
        return None
    comment_text = clean_text(comment, keep_newlines=False)
    body = comment_text or clean_text(title or "", keep_newlines=False)
    link_text = drip_link_text(link, url, paper)
    if link == "arxiv_id" and not link_text:
        link_text = fallback_link_text(
            fallback, url=url, title=title, with_title=bool(comment_text)
        )
    tags = _hashtags(hashtags)
    for count in range(len(tags), 0, -1):
        text, whole = _fit_with_suffix(body, _join(link_text, *tags[:count]))
        if whole:
            return text
    text, _ = _fit_with_suffix(body, link_text)
    if not text:
        raise ValueError("nothing to post: empty comment, title and link")
    return text


def _digest_layout(head: str, lines: Sequence[str], url: str) -> str:
    return "\n\n".join(part for part in (head, "\n".join(lines), url) if part)


def _fit_pick(head: str, lines: list[str], pick: str, url: str) -> str | None:
    """The bullet for *pick* (shortened if need be) that still fits, else ``None``.

    *lines* already holds the picks heading.
    """
    line = "• " + truncate_for_x(pick, DIGEST_PICK_MAX)
    excess = weighted_length(_digest_layout(head, [*lines, line], url)) - MAX_WEIGHT
    if excess <= 0:
        return line
    room = weighted_length(line) - 2 - excess
    if room < DIGEST_PICK_MIN:
        return None
    line = "• " + truncate_for_x(pick, room)
    fits = weighted_length(_digest_layout(head, [*lines, line], url)) <= MAX_WEIGHT
    return line if fits and line != "• " else None


def compose_digest_tweet(
    title: str,
    picks: Sequence[str],
    url: str,
    *,
    papers: int | None = None,
    language: str | None = None,
) -> str:
    """The weekly announcement: title, paper count, the editor's picks, the issue URL.

    ::

        2020 年第 39 周            ML news 2020-W39
        本期 12 篇论文              12 papers

        编辑精选                    Editor's picks
        • headline                 • headline

        https://...                https://...

    Labels are in the issue's *language* (see ``digest_labels``: a Chinese issue or
    a title with CJK characters gets Chinese ones, any other English ones); the
    count line is left out when *papers* is ``None`` or 0. The URL is always
    included when it is a usable http(s) URL (otherwise it is left out rather than
    posting a broken link) and never cut; the title is capped at 120 weighted, each
    pick at 70; picks that do not fit are shortened once and then dropped (the
    heading goes with the last of them).
    """
    issue_url = _tweet_url(url) or ""
    title_text = truncate_for_x(clean_text(title, keep_newlines=False), DIGEST_TITLE_MAX)
    title_text = title_text or NEW_ISSUE
    labels = digest_labels(title_text, language)
    head = "\n".join(part for part in (title_text, papers_line(papers, labels)) if part)
    lines: list[str] = [labels.picks_heading]
    for pick in picks:
        cleaned = clean_text(pick, keep_newlines=False)
        if not cleaned:
            continue
        line = _fit_pick(head, lines, cleaned, issue_url)
        if line is None:
            break
        lines.append(line)
    return _digest_layout(head, lines if len(lines) > 1 else [], issue_url)
