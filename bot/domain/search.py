"""Search queries built from user text: never FTS syntax, always a safe, bounded query.

Two indexes serve search (see ``bot.store.fts``). The word index answers every query: CJK runs
are stored as unigrams then bigrams (so 剪 and 剪枝 are tokens, and 剪枝方法 is the phrase of
its consecutive bigrams), other words whole (queried as prefixes: transform finds
transformers). The trigram index adds substring matches inside words (gan in BigGAN) when
the word index finds fewer results than asked for.

English words also match the other words of their Snowball stem: ``experts`` finds expert,
``pruned`` finds pruning (stem prune) and ``pruning`` finds pruned. The stem is not used as a
prefix (prune* misses pruning): the store reads the index vocabulary from the stem's stable
prefix (``prun``) on and keeps the words whose stem is the query's (``stem_forms``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise
from typing import Literal

import snowballstemmer  # type: ignore[import-untyped]

from bot.errors import DigestbotError

MAX_TERMS = 12
_CJK = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # han
    "\uac00-\ud7af"  # hangul
)
# one pattern for every split (compiling a class of these ranges costs milliseconds each, and
# the CLI pays it at every start): a CJK run (group 1) or a word of other letters (group 2)
_SPLIT = re.compile(rf"([{_CJK}]+)|([^\W{_CJK}]+)")

_STEMMABLE = re.compile(r"[a-z]{3,}")  # English words: digits, ids and CJK are left alone
_EDGE = re.compile(r"^\W+|\W+$")  # punctuation around a term (-gan, "(BigGAN)")
MAX_FORMS = 24  # other words of one stem added to a query

Mode = Literal["words", "empty"]


class QueryTooLong(DigestbotError, ValueError):
    """The query is longer than the configured maximum."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"query too long: {length} characters (at most {limit})")
        self.length = length
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Stemmed:
    """An English query word and the vocabulary range that holds the other words of its stem."""

    word: str  # lower case, as the word index holds it ("pruned")
    stem: str  # its Snowball English stem ("prune")
    prefix: str  # what every word of that stem starts with ("prun"): where the store looks

    @property
    def ranges(self) -> tuple[tuple[str, str], ...]:
        """The vocabulary to read, as [low, high) ranges: the prefix's words less those that
        start with the word itself (its prefix match finds them already, and reading a common
        word's entries is what costs)."""
        high = _after(self.prefix)
        ranges = ((self.prefix, min(self.word, high)), (max(_after(self.word), self.prefix), high))
        return tuple((low, up) for low, up in ranges if low < up)


def _after(prefix: str) -> str:
    """The first string after every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True, slots=True)
class FtsQuery:
    """A user query turned into FTS5 MATCH expressions (and plain texts for LIKE matching)."""

    text: str  # the user's text, stripped
    terms: tuple[str, ...]  # the words to highlight
    mode: Mode
    match: str  # word index, every term, no stem forms ("" when mode == "empty")
    trigram: str | None = None  # trigram index, every term (when all have 3+ chars)
    segments: tuple[tuple[str, ...], ...] = ()  # per term: its CJK runs and lower-case words
    stems: tuple[Stemmed, ...] = ()  # words whose other forms the store looks up
    edges: tuple[str, ...] = ()  # per term: the term without punctuation around it
    contains: tuple[tuple[str, ...], ...] = ()  # per term: texts any of which an item contains

    def word_match(
        self, forms: Mapping[str, Sequence[str]] | None = None, *, any_term: bool = False
    ) -> str:
        """The word-index expression: each word as a prefix or as one of ``forms[word]``
        (see ``stem_forms``); every term must match, or with ``any_term`` at least one."""
        found = forms or {}
        clauses = [
            _all([_segment_match(s, found.get(s, ())) for s in seg]) for seg in self.segments
        ]
        return (" OR " if any_term else " AND ").join(clauses)

    def trigram_match(self, *, any_term: bool = False) -> str | None:
        """The trigram-index expression (substrings of 3+ characters), or None."""
        long = [_quote(t) for t in self.edges if len(t) >= 3]
        if not long or (not any_term and len(long) < len(self.edges)):
            return None
        return (" OR " if any_term else " AND ").join(long)


_STEMMER = snowballstemmer.stemmer("english")
_STEM_LOCK = threading.Lock()


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """The Snowball (Porter 2) English stem of a lower-case word: pruning -> prune."""
    with _STEM_LOCK:  # a Snowball stemmer object is not thread-safe
        return str(_STEMMER.stemWord(word))


def stemmed(word: str) -> Stemmed | None:
    """The word's stem and vocabulary prefix, or None when every word of its stem starts with
    the word itself (the prefix match already finds them) or it is not an English word.

    The prefix drops a final e or i, which Snowball adds or turns from y (pruning -> prune,
    happy -> happi): every word of the stem starts with what is left. Stems of three letters
    keep it (use, not the whole "us" range: uses finds used but not using)."""
    if not _STEMMABLE.fullmatch(word):
        return None
    root = stem(word)
    prefix = root[:-1] if len(root) > 3 and root[-1] in "ei" else root
    return None if prefix == word else Stemmed(word, root, prefix)


def stem_forms(word: Stemmed, vocabulary: Iterable[str]) -> tuple[str, ...]:
    """The index words (read from ``word.prefix`` on) that share the query word's stem and
    that its prefix match does not already find, at most MAX_FORMS."""
    forms = (
        w
        for w in vocabulary
        if w.startswith(word.prefix) and not w.startswith(word.word) and stem(w) == word.stem
    )
    return tuple(forms)[:MAX_FORMS]


def _all(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def is_cjk_run(text: str) -> bool:
    """True when ``text`` is one run of CJK characters (kana, han, hangul) and nothing else."""
    m = _SPLIT.fullmatch(text)
    return m is not None and m.group(1) is not None


def _segment_match(segment: str, forms: Sequence[str]) -> str:
    if is_cjk_run(segment):
        grams = [segment] if len(segment) <= 2 else cjk_tokens(segment)[len(segment) :]
        return _quote(" ".join(grams))  # consecutive bigrams: an exact phrase
    prefix = _quote(segment) + "*"
    return "(" + " OR ".join([prefix, *map(_quote, forms)]) + ")" if forms else prefix


def _contains(edge: str) -> tuple[str, ...]:
    """What an item must contain for one term without FTS5: the term, or a text that its
    other forms share (the stem's prefix if it has 4+ characters, else the stem itself)."""
    word = stemmed(edge.lower())
    if word is None:
        return (edge,)
    other = word.prefix if len(word.prefix) >= 4 else word.stem
    return (edge, other) if len(other) >= 3 and other != edge.lower() else (edge,)


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


def _segments(term: str) -> tuple[str, ...]:
    return tuple(
        m.group() if m.group(1) is not None else m.group().lower() for m in _SPLIT.finditer(term)
    )


def build_query(raw: str, max_chars: int) -> FtsQuery:
    """Turn user text into a safe FTS query; raises QueryTooLong over ``max_chars``."""
    text = " ".join(raw.split())
    if len(text) > max_chars:
        raise QueryTooLong(len(text), max_chars)
    terms = tuple(dict.fromkeys(t for t in text.split(" ") if _SPLIT.search(t)))[:MAX_TERMS]
    if not terms:
        return FtsQuery(text, (), "empty", "")
    segments = tuple(_segments(t) for t in terms)
    words = dict.fromkeys(w for seg in segments for w in seg)
    stems = tuple(s for s in map(stemmed, words) if s is not None)
    edges = tuple(_EDGE.sub("", t) for t in terms)
    query = FtsQuery(
        text,
        terms,
        "words",
        "",
        segments=segments,
        stems=stems,
        edges=edges,
        contains=tuple(_contains(e) for e in edges),
    )
    return replace(query, match=query.word_match(), trigram=query.trigram_match())


class Highlighter:
    """Finds a query's terms in text (case-insensitive) and cuts « »-highlighted snippets."""

    def __init__(self, terms: tuple[str, ...], width: int = 120) -> None:
        pieces = sorted(
            {re.escape(m.group()) for t in terms for m in _SPLIT.finditer(t)},
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
