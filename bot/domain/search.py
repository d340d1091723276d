"""Search queries built from user text: never FTS syntax, always a safe, bounded query.

Two indexes serve search (see ``bot.store.fts``). The word index answers every query: CJK runs
are stored as unigrams then bigrams (so 剪 and 剪枝 are tokens, and 剪枝方法 is the phrase of
its consecutive bigrams), other words whole (queried as prefixes: transform finds
transformers). The trigram index adds substring matches inside words (gan in BigGAN) when
the word index finds fewer results than asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

MAX_TERMS = 12
_CJK = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # han
    "\uac00-\ud7af"  # hangul
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W{_CJK}]+")
_SEGMENT = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+")
_SPLIT = re.compile(rf"([{_CJK}]+)|([^\W{_CJK}]+)")

Mode = Literal["words", "empty"]


class QueryTooLong(ValueError):
    """The query is longer than the configured maximum."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"query too long: {length} characters (at most {limit})")
        self.length = length
        self.limit = limit


@dataclass(frozen=True, slots=True)
class FtsQuery:
    """A user query turned into an FTS5 MATCH expression for one of the two indexes."""

    text: str  # the user's text, stripped
    terms: tuple[str, ...]  # the words to highlight
    mode: Mode
    match: str  # FTS5 expression for the word index ("" when mode == "empty")
    trigram: str | None = None  # FTS5 expression for the trigram index (terms of 3+ chars)


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def cjk_tokens(run: str) -> list[str]:
    """Unigrams and bigrams of a CJK run, in reading order."""
    tokens = list(run)
    tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


def short_index_text(*fields: str | None) -> str:
    """The text stored in the short index: words as they are, CJK runs as uni+bigrams."""
    out: list[str] = []
    for field in fields:
        if not field:
            continue
        for cjk, word in _SPLIT.findall(field):
            if word:
                out.append(word)
            elif len(cjk) == 1:
                out.append(cjk)
            else:
                out.append(" ".join(cjk))
                out.append(" ".join(map("".join, pairwise(cjk))))
    return " ".join(out)


def _short_term(term: str) -> list[str]:
    parts: list[str] = []
    for match in _SEGMENT.finditer(term):
        segment = match.group()
        if _CJK_RUN.fullmatch(segment):
            grams = [segment] if len(segment) <= 2 else cjk_tokens(segment)[len(segment) :]
            parts.append(_quote(" ".join(grams)))  # consecutive bigrams: an exact phrase
        else:
            parts.append(_quote(segment.lower()) + "*")
    return parts


def build_query(raw: str, max_chars: int) -> FtsQuery:
    """Turn user text into a safe FTS query; raises QueryTooLong over ``max_chars``."""
    text = " ".join(raw.split())
    if len(text) > max_chars:
        raise QueryTooLong(len(text), max_chars)
    terms = tuple(dict.fromkeys(t for t in text.split(" ") if _SEGMENT.search(t)))[:MAX_TERMS]
    if not terms:
        return FtsQuery(text, (), "empty", "")
    words = " AND ".join(p for t in terms for p in _short_term(t))
    trigram = " AND ".join(_quote(t) for t in terms) if all(len(t) >= 3 for t in terms) else None
    return FtsQuery(text, terms, "words", words, trigram)


class Highlighter:
    """Finds a query's terms in text (case-insensitive) and cuts « »-highlighted snippets."""

    def __init__(self, terms: tuple[str, ...], width: int = 120) -> None:
        pieces = sorted(
            {re.escape(m.group()) for t in terms for m in _SEGMENT.finditer(t)},
            key=len,
            reverse=True,
        )
        self._pattern = re.compile("|".join(pieces), re.IGNORECASE) if pieces else None
        self._width = width

    def matches(self, text: str | None) -> bool:
        return bool(text and self._pattern and self._pattern.search(text))

    def snippet(self, text: str) -> str:
        """A window of ``text`` around the first match, matches wrapped in « »."""
        if not text:
            return ""
        first = self._pattern.search(text) if self._pattern else None
        start = 0 if first is None else max(0, first.start() - self._width // 3)
        end = min(len(text), start + self._width)
        window = text[start:end]
        if self._pattern is not None:
            window = self._pattern.sub(lambda m: f"«{m.group()}»", window)
        return ("…" if start > 0 else "") + window + ("…" if end < len(text) else "")

    def best_snippet(self, *fields: str | None) -> str:
        """The snippet of the first field that contains a match, else of the first field."""
        present = [f for f in fields if f]
        if not present:
            return ""
        return self.snippet(next((f for f in present if self.matches(f)), present[0]))
