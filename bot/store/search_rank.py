"""Whole-archive bm25 for SQLite search, fast for common words: impact lists and a threshold
algorithm (stdlib ``sqlite3`` and ``bot.domain`` only: the fast command line path runs it).

FTS5's ``bm25()`` costs one to two microseconds per matching row, so ranking every item that
mentions "model" in a 300,000-item archive takes a tenth of a second. This module returns the
same ranking (the same formula, column weights and statistics) by reading few rows:

* ``items_short_terms``: every word of the word index (``items_short``) with the number of
  items that hold it (``docs``, FTS5's own count, kept on import and removal). A word in at
  least ``LISTED`` items also has an impact list: ``floor`` is set (NULL otherwise).
* ``items_short_impacts``: per listed word, its best ``LIST_LENGTH`` items by impact, the
  word's bm25 term weight without the idf (its saturated, length-normalised frequency with
  the column weights) at the list's reference item length ``ref_length`` (the average item
  length when the list was built: a drifting average loosens the bound, never breaks it).
  ``floor`` bounds the impact of every item that is not in the list (trimmed or not added).

A query whose every word is common, or that is one word with a list however few its items,
reads the lists best-first (Fagin's threshold algorithm):
each item met is scored exactly from its indexed text (phrase frequencies, item length, and
the table's idf and average length, as FTS5 computes them), and reading stops once the k-th
best exact score is at least the best score an unread item could still reach. A query with a
rare word has few matches and FTS5 ranks them all itself (``None`` from ``top_ids``); so does
one whose words without a list are many, one with a year filter (FTS5 then reads that year's
id range only), and one whose lists run out or cost more than FTS5 would (deep pages,
selective filters, several forms of one word all common): slower, never wrong. Whatever
FTS5 ranks, a one-token prefix that covers a single index word is written as that word
(``word_match``): the same bm25 to the last bit, without FTS5 merging a prefix's doclists.

A query whose items need not hold every phrase (a word and its stem forms, several words
with ``any_term``) tries the conjunction first (``_conjunction_first``): when each of the
phrases is common (transformer: "transformer"* OR "transform", 8,690 and 3,031 items of
100,000), the best items hold them all (a few hundred items), FTS5 ranks just those, and a
bound proves that no item lacking one can reach them; a rare form's few items are scored
one by one. The impact lists cannot decide these: impacts of common words sit close together
(most items name them in the headline and the title), so an item in no list may still hold
both forms near the floor of each, and the lists would be read to their ends for nothing.

Known approximations (both only weigh one phrase against another in multi-word queries): the
idf of a prefix with several index words uses the sum of their item counts, and the idf of a
CJK phrase the count of its rarest bigram (FTS5 counts the items with the phrase itself).
"""

from __future__ import annotations

import heapq
import math
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.domain.model import SearchFilters
from bot.domain.search import FtsQuery, cjk_tokens, is_cjk_run

K1, B = 1.2, 0.75  # FTS5's bm25 constants
WEIGHTS = (4.0, 3.0, 1.0, 0.5)  # headline, title, summary, link (the search's bm25 weights)
COLUMNS = ("headline", "title", "summary", "url")
LISTED = 1000  # a word in this many items gets an impact list ...
LIST_LENGTH = 1000  # ... of its best items
TRIM_SLACK = 250  # items added to a list beyond LIST_LENGTH before it is trimmed again
CHEAP = 1000  # at most this many (estimated) matches: FTS5 ranks them all itself (at 2,000, 100k
# items: CPU mean 4.60 -> 3.21 ms, p50 3.25 -> 1.94 ms for 150 word, Chinese and two-word searches)
CHUNK = 48  # list rows read at a time
MAX_EXPANSIONS = 64  # index words of one prefix; more: FTS5 ranks (a one-letter word)
SEEN_SHARE = 20  # lists give up (FTS5 ranks) after meeting matches/SEEN_SHARE items: ...
MIN_SEEN = 100  # ... at least this many (an item met costs about what FTS5 pays for 20)
RARE = 100  # a phrase in at most this many items: its items are scored one by one ...
RARE_ITEMS = 200  # ... if all the rare phrases' items that match are no more than this

TERMS = "items_short_terms"
IMPACTS = "items_short_impacts"
WORDS = "temp.items_short_words"  # fts5vocab row: every word with its item count
INSTANCES = "temp.items_short_instances"  # fts5vocab instance: every word's places


class Cursor(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> object: ...
    def executemany(self, sql: str, parameters: Any, /) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def close(self) -> object: ...


# ---------------------------------------------------------------- tokens and statistics
def tokens(text: str | None) -> list[str]:
    """The tokens unicode61 (remove_diacritics 2) makes of pre-tokenised word-index text
    (words of letters and digits, CJK uni- and bigrams, separated by spaces)."""
    if not text:
        return []
    folded = text.lower().replace("_", " ")
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFD", folded)
        if decomposed != folded:  # accented letters: drop the accents
            bare = "".join(c for c in decomposed if not unicodedata.combining(c))
            folded = unicodedata.normalize("NFC", bare)
    return folded.split()


def saturation(freq: float, length: float, avgdl: float) -> float:
    """bm25's term weight without the idf (saturated, length-normalised frequency):
    freq * (k1 + 1) / (freq + k1 * (1 - b + b * |D| / avgdl))."""
    return freq * (K1 + 1.0) / (freq + K1 * (1.0 - B + B * length / avgdl))


def idf(rows: int, hits: int) -> float:
    """FTS5's idf: log((N - n + 0.5) / (n + 0.5)), at least 1e-6."""
    hits = min(hits, rows)  # an estimate (a prefix's words summed) may exceed the rows
    value = math.log((rows - hits + 0.5) / (hits + 0.5)) if rows > 0 else 0.0
    return value if value > 0.0 else 1e-6


def table_stats(cur: Cursor) -> tuple[int, float]:
    """(rows, average row length in tokens) of the word index, from FTS5's own record."""
    found = _all(cur, f"SELECT block FROM {'items_short_data'} WHERE id = 1")
    values = _varints(bytes(found[0][0])) if found else []
    rows = values[0] if values else 0
    total = sum(values[1:])
    return rows, (total / rows if rows else 1.0)


def _varints(blob: bytes) -> list[int]:
    """SQLite varints (big-endian groups of 7 bits; the 9th byte holds 8)."""
    out: list[int] = []
    value, used = 0, 0
    for byte in blob:
        used += 1
        if used == 9:
            out.append((value << 8) | byte)
            value, used = 0, 0
        elif byte & 0x80:
            value = (value << 7) | (byte & 0x7F)
        else:
            out.append((value << 7) | byte)
            value, used = 0, 0
    return out


@dataclass(frozen=True, slots=True)
class ItemText:
    """One item as the word index holds it: tokens per column, joined for phrase counting."""

    length: int
    joined: tuple[str, ...]  # per column: " t1  t2  t3 " (two spaces between tokens)

    @classmethod
    def of(cls, columns: Sequence[str | None]) -> ItemText:
        length = 0
        joined: list[str] = []
        for column in columns:
            text = (column or "").lower()
            if not text.strip():
                joined.append("")
            elif (
                "_" in text
                or "  " in text
                or not (text.isascii() or unicodedata.is_normalized("NFD", text))
            ):
                found = tokens(text)  # rare: the careful way
                length += len(found)
                joined.append(" " + "  ".join(found) + " " if found else "")
            else:  # the index text is tokens and single spaces already
                length += text.count(" ") + 1
                joined.append(" " + text.replace(" ", "  ") + " ")
        return cls(length, tuple(joined))

    def freqs(self) -> dict[str, float]:
        """token -> weighted frequency (column weights) in this item."""
        found: dict[str, float] = {}
        for weight, text in zip(WEIGHTS, self.joined, strict=True):
            for token, n in Counter(text.split()).items():
                found[token] = found.get(token, 0.0) + weight * n
        return found


# ---------------------------------------------------------------- index maintenance
def add_items(cur: Cursor, rows: Sequence[tuple[int, Sequence[str | None]]]) -> None:
    """Record new word-index rows (item id, its four indexed texts): item counts of their
    words, their places in the impact lists, and new lists for words that became common.
    Call after the rows are in ``items_short`` (a new list is read from it)."""
    if not rows:
        return
    freqs = {item_id: (text.length, text.freqs()) for item_id, text in _texts(rows)}
    docs: Counter[str] = Counter()
    for _, found in freqs.values():
        docs.update(found.keys())
    cur.executemany(
        f"INSERT INTO {TERMS}(term, docs) VALUES (?, ?) "
        "ON CONFLICT(term) DO UPDATE SET docs = docs + excluded.docs",
        list(docs.items()),
    )
    listed: dict[str, tuple[float, float]] = {}
    promote: list[str] = []
    for term, count, floor, ref in _terms(cur, list(docs)):
        if floor is not None:
            listed[term] = (floor, ref)
        elif count >= LISTED:
            promote.append(term)
    added: list[tuple[str, float, int]] = []
    for item_id, (length, found) in freqs.items():
        for term, freq in found.items():
            entry = listed.get(term)
            if entry is not None:
                impact = saturation(freq, length, entry[1])
                if impact > entry[0]:
                    added.append((term, impact, item_id))
    if added:
        cur.executemany(
            f"INSERT OR REPLACE INTO {IMPACTS}(term, impact, item_id) VALUES (?, ?, ?)", added
        )
        grown = Counter(term for term, _, _ in added)
        cur.executemany(
            f"UPDATE {TERMS} SET pending = pending + ? WHERE term = ?",
            [(n, term) for term, n in grown.items()],
        )
        full = _all(
            cur,
            f"SELECT term FROM {TERMS} WHERE pending > ? AND term IN "
            f"({', '.join('?' * len(grown))})",
            (TRIM_SLACK, *grown),
        )
        for (term,) in full:
            _trim(cur, term)
    for term in promote:
        build_list(cur, term)


def remove_items(cur: Cursor, ids: Sequence[int]) -> None:
    """Forget word-index rows about to be deleted (their item counts; their list entries go
    with the items, by trigger). Call before the rows leave ``items_short``."""
    if not ids:
        return
    docs: Counter[str] = Counter()
    for first in range(0, len(ids), 500):
        chunk = list(ids[first : first + 500])
        sql = (
            f"SELECT rowid, {', '.join(COLUMNS)} FROM items_short "
            f"WHERE rowid IN ({', '.join('?' * len(chunk))})"
        )
        for row in _all(cur, sql, chunk):
            docs.update(set(ItemText.of(row[1:]).freqs()))
    cur.executemany(
        f"UPDATE {TERMS} SET docs = docs - ? WHERE term = ?", [(n, t) for t, n in docs.items()]
    )
    cur.execute(f"DELETE FROM {TERMS} WHERE docs <= 0")


def build_list(cur: Cursor, term: str) -> None:
    """(Re)build the impact list of ``term`` from every item that holds it: its frequencies
    straight from the word index (fts5vocab instances), item lengths from FTS5's docsize."""
    cur.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {INSTANCES} "
        "USING fts5vocab(main, items_short, instance)"
    )
    weights = dict(zip(COLUMNS, WEIGHTS, strict=True))
    freqs: dict[int, float] = {}
    found = _all(
        cur, f"SELECT doc, col, count(*) FROM {INSTANCES} WHERE term = ? GROUP BY doc, col", (term,)
    )
    for doc, col, n in found:
        freqs[int(doc)] = freqs.get(int(doc), 0.0) + weights[col] * n
    lengths = _lengths(cur, list(freqs))
    stored, avgdl = table_stats(cur)  # FTS5's record (without this transaction's rows)
    ref = avgdl if stored >= LISTED else sum(lengths.values()) / max(1, len(lengths))
    impacts = sorted(
        ((saturation(f, lengths[i], ref), i) for i, f in freqs.items() if i in lengths),
        reverse=True,
    )
    kept = impacts[:LIST_LENGTH]
    floor = impacts[LIST_LENGTH][0] if len(impacts) > LIST_LENGTH else 0.0
    cur.execute(f"DELETE FROM {IMPACTS} WHERE term = ?", (term,))
    cur.executemany(
        f"INSERT INTO {IMPACTS}(term, impact, item_id) VALUES (?, ?, ?)",
        [(term, impact, item_id) for impact, item_id in kept],
    )
    cur.execute(
        f"INSERT INTO {TERMS}(term, docs, floor, ref_length, pending) VALUES (?, ?, ?, ?, 0) "
        "ON CONFLICT(term) DO UPDATE SET docs = excluded.docs, floor = excluded.floor, "
        "ref_length = excluded.ref_length, pending = 0",
        (term, len(freqs), floor, ref),
    )


def _lengths(cur: Cursor, ids: list[int]) -> dict[int, int]:
    """item id -> its length in tokens (FTS5's docsize record: one varint per column)."""
    out: dict[int, int] = {}
    for first in range(0, len(ids), 500):
        chunk = ids[first : first + 500]
        sql = f"SELECT id, sz FROM items_short_docsize WHERE id IN ({', '.join('?' * len(chunk))})"
        for item_id, size in _all(cur, sql, chunk):
            out[int(item_id)] = sum(_varints(bytes(size)))
    return out


def rebuild(cur: Cursor) -> None:
    """Recount every word of the word index and rebuild every impact list (the migration)."""
    cur.execute(f"DELETE FROM {IMPACTS}")
    cur.execute(f"DELETE FROM {TERMS}")
    cur.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {WORDS} USING fts5vocab(main, items_short, row)"
    )
    cur.execute(f"INSERT INTO {TERMS}(term, docs) SELECT term, doc FROM {WORDS}")
    for (term,) in _all(cur, f"SELECT term FROM {TERMS} WHERE docs >= ?", (LISTED,)):
        build_list(cur, term)


def _trim(cur: Cursor, term: str) -> None:
    cut = _all(
        cur,
        f"SELECT impact FROM {IMPACTS} WHERE term = ? ORDER BY impact DESC, item_id DESC "
        "LIMIT 1 OFFSET ?",
        (term, LIST_LENGTH),
    )
    if cut:
        (impact,) = cut[0]
        cur.execute(f"DELETE FROM {IMPACTS} WHERE term = ? AND impact <= ?", (term, impact))
        cur.execute(f"UPDATE {TERMS} SET floor = max(floor, ?) WHERE term = ?", (impact, term))
    cur.execute(f"UPDATE {TERMS} SET pending = 0 WHERE term = ?", (term,))


def _terms(cur: Cursor, terms: list[str]) -> list[tuple[str, int, float | None, float]]:
    """(term, items, floor, reference length) of the known ``terms``."""
    out: list[tuple[str, int, float | None, float]] = []
    for first in range(0, len(terms), 500):
        chunk = terms[first : first + 500]
        out += _all(
            cur,
            f"SELECT term, docs, floor, ref_length FROM {TERMS} "
            f"WHERE term IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
    return out


def _texts(rows: Iterable[tuple[int, Sequence[str | None]]]) -> Iterable[tuple[int, ItemText]]:
    return ((item_id, ItemText.of(columns)) for item_id, columns in rows)


def _load(cur: Cursor, ids: Sequence[int]) -> Iterable[tuple[int, ItemText]]:
    for first in range(0, len(ids), 500):
        chunk = list(ids[first : first + 500])
        sql = (  # FTS5's own copy of the texts (a plain table: cheaper than through FTS5)
            "SELECT id, c0, c1, c2, c3 FROM items_short_content "
            f"WHERE id IN ({', '.join('?' * len(chunk))})"
        )
        for row in _all(cur, sql, chunk):
            yield int(row[0]), ItemText.of(row[1:])


def _all(cur: Cursor, sql: str, params: Sequence[object] = ()) -> list[Any]:
    cur.execute(sql, params)
    return cur.fetchall()


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


# ---------------------------------------------------------------- queries
@dataclass(frozen=True, slots=True)
class Phrase:
    """One FTS5 phrase of the query: consecutive tokens, the last one a prefix or not."""

    tokens: tuple[str, ...]
    prefix: bool

    def pattern(self) -> str:
        return " " + "  ".join(self.tokens) + ("" if self.prefix else " ")

    def fts(self) -> str:
        """The phrase in FTS5's query syntax."""
        return _quote(" ".join(self.tokens)) + ("*" if self.prefix else "")

    def freq(self, text: ItemText) -> float:
        pattern = self.pattern()
        return sum(w * t.count(pattern) for w, t in zip(WEIGHTS, text.joined, strict=True) if t)


Clause = tuple[tuple[Phrase, ...], ...]  # segments (all must match) of alternatives (any)


def _exact_fts(phrase: Phrase, expansions: dict[str, list[tuple[str, Known]]]) -> str:
    """The phrase in FTS5's syntax, a one-token prefix that covers a single index word
    written as that word: the same matches, instances and item count, so the same bm25,
    without FTS5 first merging the doclists of every word the prefix might cover (for a
    common word, milliseconds per 100,000 items, paid again to count its items)."""
    if phrase.prefix and len(phrase.tokens) == 1:
        words = expansions.get(phrase.tokens[0])
        if words is not None and len(words) == 1:
            return _quote(words[0][0])
    return phrase.fts()


def word_match(
    conn: sqlite3.Connection, query: FtsQuery, forms: dict[str, tuple[str, ...]], any_term: bool
) -> str:
    """``query.word_match(forms)`` with each one-token prefix of a single index word written
    as that word (``_exact_fts``): the expression FTS5 ranks every match of, faster."""
    clauses = query_phrases(query, forms)
    if not clauses or any(not seg for clause in clauses for seg in clause):
        return query.word_match(forms, any_term=any_term)
    cur = conn.cursor()
    try:
        expansions: dict[str, list[tuple[str, Known]]] = {}
        for phrase in (p for c in clauses for s in c for p in s):
            if phrase.prefix and len(phrase.tokens) == 1 and phrase.tokens[0] not in expansions:
                found = _expand(cur, phrase.tokens[0])
                if found is not None:
                    expansions[phrase.tokens[0]] = found
    finally:
        cur.close()
    parts: list[str] = []
    for clause in clauses:
        segments = []
        for segment in clause:
            alternatives = [_exact_fts(p, expansions) for p in segment]
            one = len(alternatives) == 1
            segments.append(alternatives[0] if one else "(" + " OR ".join(alternatives) + ")")
        parts.append(segments[0] if len(segments) == 1 else "(" + " AND ".join(segments) + ")")
    return (" OR " if any_term else " AND ").join(parts)


def query_phrases(query: FtsQuery, forms: dict[str, tuple[str, ...]]) -> list[Clause]:
    """The phrases of ``query.word_match(forms)``, clause by clause (one per term)."""
    clauses: list[Clause] = []
    for segments in query.segments:
        clause: list[tuple[Phrase, ...]] = []
        for segment in segments:
            if is_cjk_run(segment):
                grams = [segment] if len(segment) <= 2 else cjk_tokens(segment)[len(segment) :]
                alternatives = [Phrase(tuple(tokens(" ".join(grams))), False)]
            else:
                alternatives = [Phrase(tuple(tokens(segment)), True)]
                alternatives += [Phrase(tuple(tokens(f)), False) for f in forms.get(segment, ())]
            clause.append(tuple(p for p in alternatives if p.tokens))
        clauses.append(tuple(clause))
    return clauses


Known = tuple[int, float | None, float]  # a word's items, list floor (None: no list), ref length
_UNKNOWN: Known = (0, None, 1.0)


@dataclass(slots=True)
class _Source:
    """Items holding one token, best first: an impact list, or all of a rare token's items."""

    term: str
    bound: float  # saturation no unread item of this source exceeds
    listed: bool
    floor: float = 0.0
    stretch: float = 1.0  # K at the list's reference length is at most this times K at avgdl
    weight: float = 0.0  # the largest idf of the phrases this source bounds
    read: int = 0
    done: bool = False
    rows: list[tuple[float, int]] = field(default_factory=list)  # rare: (saturation, id)


@dataclass(slots=True)
class _Plan:
    phrases: list[Phrase]  # every phrase of the expression, in order (repeats included)
    weights: dict[Phrase, float]  # idf
    sources: list[_Source]
    by_phrase: dict[Phrase, list[_Source]]


def top_ids(
    conn: sqlite3.Connection,
    query: FtsQuery,
    forms: dict[str, tuple[str, ...]],
    filters: SearchFilters,
    limit: int,
    any_term: bool,
) -> list[int] | None:
    """The ``limit`` best items by bm25 over the whole archive (ties: newest first), or None
    when FTS5 should rank every match itself (few matches, or the lists cannot decide)."""
    clauses = query_phrases(query, forms)
    if not clauses or any(not seg for clause in clauses for seg in clause):
        return None
    if filters.year is not None:
        return None  # one year's items: FTS5 reads only their id range
    cur = conn.cursor()
    try:
        rows, avgdl = table_stats(cur)
        phrases = [p for c in clauses for s in c for p in s]
        known = _known(cur, {t for p in phrases for t in p.tokens})
        expansions: dict[str, list[tuple[str, Known]]] = {}
        for phrase in phrases:
            last = phrase.tokens[-1]
            if phrase.prefix and last not in expansions:
                found = _expand(cur, last)
                if found is None:
                    return None
                expansions[last] = found
        docs = {p: _phrase_docs(p, known, expansions) for p in phrases}
        per_clause = [min(sum(docs[p] for p in seg) for seg in clause) for clause in clauses]
        estimate = sum(per_clause) if any_term else min(per_clause)
        unfiltered = not (filters.section or filters.picks_only)
        if estimate <= CHEAP and not (unfiltered and _one_listed_word(phrases, known, expansions)):
            return None
        if _disjunctive(clauses, any_term):
            wanted = (clauses, filters, limit, any_term)
            decided = _conjunction_first(cur, wanted, known, expansions, rows, avgdl)
            if decided is not None:
                return decided
        plan = _plan(cur, phrases, docs, known, expansions, rows, avgdl)
        if plan is None:
            return None
        budget = max(MIN_SEEN, estimate // SEEN_SHARE)
        return _threshold(cur, plan, clauses, filters, limit, any_term, avgdl, budget)
    finally:
        cur.close()


def _one_listed_word(
    phrases: list[Phrase], known: dict[str, Known], expansions: dict[str, list[tuple[str, Known]]]
) -> bool:
    """True for a query of one word with an impact list (its prefix covering other words of
    at most RARE items in all), however few its items: the list holds its best ones, so the
    threshold algorithm scores a few dozen items where FTS5 ranks a thousand or two. (Few
    items holding several words go to FTS5: their lists rarely hold the same items.)"""
    if len(set(phrases)) != 1 or len(phrases[0].tokens) != 1:
        return False
    phrase, token = phrases[0], phrases[0].tokens[0]
    words = expansions[token] if phrase.prefix else [(token, known.get(token, _UNKNOWN))]
    listed = [k for _, k in words if k[1] is not None]
    unlisted = sum(k[0] for _, k in words if k[1] is None)
    return bool(listed) and unlisted <= RARE


def _disjunctive(clauses: list[Clause], any_term: bool) -> bool:
    """True when an item may match the query without holding every phrase of it (a word's
    stem forms, or any word of several): the conjunction of all phrases is then a subset."""
    return any(len(seg) > 1 for clause in clauses for seg in clause) or (
        any_term and len(clauses) > 1
    )


def _conjunction_first(
    cur: Cursor,
    query: tuple[list[Clause], SearchFilters, int, bool],  # clauses, filters, limit, any_term
    known: dict[str, Known],
    expansions: dict[str, list[tuple[str, Known]]],
    rows: int,
    avgdl: float,
) -> list[int] | None:
    """The exact top ``limit`` when the items holding every common phrase, and those holding
    a rare one, decide it (None: they cannot prove it; nothing is read from the lists).

    * Rare phrases (at most RARE items each, RARE_ITEMS in all): their items, found by FTS5
      without ranking, are scored exactly from their text, with FTS5's idfs (the item
      count of a phrase with several index words, a prefix's, is counted first).
    * The items holding EVERY other phrase are ranked by FTS5 itself, with the conjunction
      of those phrases in the query's order: bm25 sums over the expression's phrases whatever
      the operators, so an item without a rare phrase scores exactly as under the query.
    * Any other item lacks some common phrase q and every rare one, so it scores at most the
      sum over the other common phrases of idf * (k1 + 1): when the k-th best found beats the
      largest such sum, nothing else can reach it.

    This decides words whose stem forms are all common (transformer: "transformer"* OR
    "transform") and words with a rare form ("learn" besides "learning"*): their best items
    hold several forms, a few hundred items where bm25 over every match ranks thousands."""
    clauses, filters, limit, any_term = query
    phrases = [p for c in clauses for s in c for p in s]  # in order, repeats included
    hits = {p: _fewest_hits(p, known, expansions) for p in phrases}
    most = {p: _phrase_docs(p, known, expansions) for p in phrases}
    rare = [p for p in dict.fromkeys(phrases) if most[p] <= RARE]
    common = [p for p in phrases if p not in rare]
    exact: dict[int, float] = {}
    if rare:  # their items (the query's own test is the scorer's)
        ids = [
            int(r[0])
            for r in _all(
                cur,
                "SELECT rowid FROM items_short WHERE items_short MATCH ? LIMIT ?",
                (" OR ".join(_exact_fts(p, expansions) for p in rare), RARE_ITEMS + 1),
            )
        ]
        if len(ids) > RARE_ITEMS:
            return None
        for phrase in {p for p in phrases if hits[p] != most[p]}:  # FTS5's idf: count them
            sql = "SELECT count(*) FROM items_short WHERE items_short MATCH ?"
            hits[phrase] = most[phrase] = int(_all(cur, sql, (phrase.fts(),))[0][0])
        weights = {p: idf(rows, most[p]) for p in phrases}
        scorer = _Scorer(
            cur,
            _Plan(phrases, weights, [], {}),
            clauses,
            filters,
            len(ids) or 1,
            any_term,
            avgdl,
        )
        scorer.score(ids)
        exact = {i: score for score, i in scorer.best}
    found = dict(exact)
    outside = 0.0
    if common and _holds(clauses, set(common), any_term):
        heads: dict[str, float] = {}
        ceiling = [
            idf(rows, hits[p]) * _most(cur, p, known, expansions, avgdl, heads) for p in common
        ]
        outside = sum(ceiling) - min(ceiling)
        wanted = limit + len(exact)
        match = " AND ".join(_exact_fts(p, expansions) for p in common)
        ranked = _ranked(cur, match, filters, wanted)
        # at least ``limit`` of these hold no rare phrase (scored exactly): any item of the
        # conjunction not shown scores no more than they do
        for item_id, score in ranked:
            found.setdefault(item_id, score)
    best = sorted(found.items(), key=lambda e: (-e[1], -e[0]))[:limit]
    if len(best) < limit and outside > 0.0:
        return None
    if best and len(best) == limit and best[-1][1] <= outside:
        return None
    return [item_id for item_id, _ in best]


def _holds(clauses: list[Clause], present: set[Phrase], any_term: bool) -> bool:
    """True when an item holding just the ``present`` phrases matches the query."""
    met = [all(any(p in present for p in seg) for seg in clause) for clause in clauses]
    return any(met) if any_term else all(met)


def _most(
    cur: Cursor,
    phrase: Phrase,
    known: dict[str, Known],
    expansions: dict[str, list[tuple[str, Known]]],
    avgdl: float,
    heads: dict[str, float],
) -> float:
    """The highest saturation the phrase reaches in any item (k1 + 1 unless lists tell
    better): a token's, from its list's best impact (or its floor) at the list's reference
    length; a phrase of several tokens is no more frequent than any of them; a prefix sums
    its words (``_bound``)."""
    top = K1 + 1.0

    def source(term: str, entry: Known) -> _Source | None:
        count, floor, ref = entry
        if floor is None:
            return None if count else _Source(term, 0.0, True)
        if term not in heads:
            first = _all(
                cur,
                f"SELECT impact FROM {IMPACTS} WHERE term = ? ORDER BY impact DESC LIMIT 1",
                (term,),
            )
            heads[term] = float(first[0][0]) if first else 0.0
        return _Source(term, max(heads[term], floor), True, floor, max(1.0, avgdl / ref))

    found = top
    exact = phrase.tokens[:-1] if phrase.prefix else phrase.tokens
    for term in exact:
        one = source(term, known.get(term, _UNKNOWN))
        if one is not None:
            found = min(found, _bound([one]))
    if phrase.prefix:
        words = [source(t, k) for t, k in expansions[phrase.tokens[-1]]]
        if all(w is not None for w in words):
            found = min(found, _bound([w for w in words if w is not None]))
    return found


def _fewest_hits(
    phrase: Phrase, known: dict[str, Known], expansions: dict[str, list[tuple[str, Known]]]
) -> int:
    """At most the number of items with the phrase (so that its idf is at least FTS5's): a
    one-token phrase's count, a prefix's most common word's, 0 for several tokens."""
    if len(phrase.tokens) > 1:
        return 0
    if phrase.prefix:
        return max((k[0] for _, k in expansions[phrase.tokens[-1]]), default=0)
    return known.get(phrase.tokens[0], _UNKNOWN)[0]


def _ranked(cur: Cursor, match: str, filters: SearchFilters, limit: int) -> list[tuple[int, float]]:
    """FTS5's best ``limit`` (item id, bm25 score, higher is better) for ``match``, ties newest
    first, within the section and picks filters (a year filter never comes here)."""
    sql = "SELECT f.rowid, -bm25(items_short, 4.0, 3.0, 1.0, 0.5) FROM items_short f"
    params: list[object] = [match]
    where = ""
    if filters.section or filters.picks_only:
        sql += " JOIN items i ON i.id = f.rowid"
        if filters.section:
            where += " AND i.section = ?"
            params.append(filters.section)
        if filters.picks_only:
            where += " AND i.pick = 1"
    sql += f" WHERE items_short MATCH ?{where} ORDER BY 2 DESC, f.rowid DESC LIMIT ?"
    params.append(limit)
    return [(int(i), float(score)) for i, score in _all(cur, sql, params)]


def _known(cur: Cursor, terms: set[str]) -> dict[str, Known]:
    return {t: (int(d), f, r) for t, d, f, r in _terms(cur, sorted(terms))}


def _expand(cur: Cursor, prefix: str) -> list[tuple[str, Known]] | None:
    """The index words that start with ``prefix`` (None: too many to bound one by one)."""
    high = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    found = _all(
        cur,
        f"SELECT term, docs, floor, ref_length FROM {TERMS} WHERE term >= ? AND term < ? LIMIT ?",
        (prefix, high, MAX_EXPANSIONS + 1),
    )
    if len(found) > MAX_EXPANSIONS:
        return None
    return [(str(t), (int(d), f, r)) for t, d, f, r in found]


def prefix_items(cur: Cursor, prefix: str) -> int | None:
    """Items holding a word that starts with ``prefix``, or an upper bound (its words' item
    counts summed); None when more than MAX_EXPANSIONS words start with it."""
    found = _expand(cur, prefix)
    return None if found is None else sum(k[0] for _, k in found)


def _phrase_docs(
    phrase: Phrase, known: dict[str, Known], expansions: dict[str, list[tuple[str, Known]]]
) -> int:
    """Items with the phrase, or an upper bound: its rarest token's, a prefix's words summed."""
    exact = phrase.tokens[:-1] if phrase.prefix else phrase.tokens
    counts = [known.get(t, _UNKNOWN)[0] for t in exact]
    if phrase.prefix:
        counts.append(sum(k[0] for _, k in expansions[phrase.tokens[-1]]))
    return min(counts)


def _plan(
    cur: Cursor,
    phrases: list[Phrase],
    docs: dict[Phrase, int],
    known: dict[str, Known],
    expansions: dict[str, list[tuple[str, Known]]],
    rows: int,
    avgdl: float,
) -> _Plan | None:
    """One source per token that bounds a phrase: a prefix by every index word it covers, a
    phrase of several tokens by its rarest exact token. None when the words without a list
    hold more than CHEAP items in all (FTS5 ranks faster than they can be read)."""
    chosen: dict[Phrase, list[tuple[str, Known]]] = {}
    for phrase in phrases:
        exact = phrase.tokens[:-1] if phrase.prefix else phrase.tokens
        if exact:
            rarest = min(exact, key=lambda t: known.get(t, _UNKNOWN)[0])
            chosen[phrase] = [(rarest, known.get(rarest, _UNKNOWN))]
        else:
            chosen[phrase] = expansions[phrase.tokens[-1]]
    unlisted = {t: k[0] for terms in chosen.values() for t, k in terms if k[1] is None}
    if sum(unlisted.values()) > CHEAP:
        return None
    sources: dict[str, _Source] = {}
    weights = {p: idf(rows, docs[p]) for p in phrases}
    by_phrase: dict[Phrase, list[_Source]] = {}
    for phrase in phrases:
        mine: list[_Source] = []
        for term, (count, floor, ref) in chosen[phrase]:
            if count == 0:
                continue
            source = sources.get(term)
            if source is None:
                source = _source(cur, term, count, floor, rows)
                if source.listed:
                    source.stretch = max(1.0, avgdl / ref)
                sources[term] = source
            source.weight = max(source.weight, weights[phrase])
            mine.append(source)
        by_phrase[phrase] = mine
    return _Plan(phrases, weights, list(sources.values()), by_phrase)


def _source(cur: Cursor, term: str, docs: int, floor: float | None, rows: int) -> _Source:
    if floor is not None:
        return _Source(term, K1 + 1.0, True, floor)
    scale = idf(rows, docs)  # FTS5's idf of the token: its bm25 divided by it is the saturation
    found = _all(
        cur,
        "SELECT rowid, bm25(items_short, 4.0, 3.0, 1.0, 0.5) FROM items_short "
        "WHERE items_short MATCH ?",
        (_quote(term),),
    )
    ranked = sorted(((-score / scale, int(i)) for i, score in found), reverse=True)
    return _Source(term, ranked[0][0] if ranked else 0.0, False, rows=ranked)


def _bound(sources: list[_Source], values: dict[str, float] | None = None) -> float:
    """The highest saturation (at the table's average length) a phrase can reach in an item
    none of ``sources`` has shown yet. A bound b on a token's saturation caps its frequency at
    b * K(|D|) / (k1 + 1 - b), K(|D|) = k1 * (1 - b + b * |D| / avgdl); summed over the
    tokens (a prefix's words add up) that gives F <= K(|D|) * phi, whatever |D| is, so the
    phrase's saturation F * (k1 + 1) / (F + K(|D|)) stays below (k1 + 1) * phi / (phi + 1).
    List impacts are taken at the list's reference length: ``stretch`` covers the change.
    With ``values``: for one item, its known value (or bound) per source term instead."""
    top = K1 + 1.0
    phi = 0.0
    for source in sources:
        known = source.bound if values is None else values[source.term]
        bound = min(known, top * (1.0 - 1e-9))
        phi += bound / (top - bound) * source.stretch
    return top * phi / (phi + 1.0)


def _read(cur: Cursor, source: _Source) -> list[tuple[int, float]]:
    """The next chunk of the source's items with their values; lowers its bound."""
    if source.listed:
        got = _all(
            cur,
            f"SELECT impact, item_id FROM {IMPACTS} WHERE term = ? "
            "ORDER BY impact DESC, item_id DESC LIMIT ? OFFSET ?",
            (source.term, CHUNK, source.read),
        )
        source.read += len(got)
        if len(got) < CHUNK:
            source.done, source.bound = True, source.floor
        else:
            source.bound = float(got[-1][0])
        return [(int(i), float(v)) for v, i in got]
    chunk = source.rows[source.read : source.read + CHUNK]
    source.read += len(chunk)
    if source.read >= len(source.rows):
        source.done, source.bound = True, 0.0
    else:
        source.bound = source.rows[source.read][0]
    return [(i, v) for v, i in chunk]


def _threshold(
    cur: Cursor,
    plan: _Plan,
    clauses: list[Clause],
    filters: SearchFilters,
    limit: int,
    any_term: bool,
    avgdl: float,
    budget: int,
) -> list[int] | None:
    """Fagin's threshold algorithm: read the sources best first, score every item met
    exactly, stop when no unread item can beat the k-th best (None: over ``budget`` items
    met first)."""
    scorer = _Scorer(cur, plan, clauses, filters, limit, any_term, avgdl)
    for source in plan.sources:
        scorer.take(source, _read(cur, source))
    while True:
        ceiling = sum(plan.weights[p] * _bound(plan.by_phrase[p]) for p in plan.phrases)
        if len(scorer.best) >= limit and scorer.best[0][0] >= ceiling:
            break
        unread = [s for s in plan.sources if not s.done]
        if not unread:
            if ceiling > 0.0:
                return None  # a list ended above its floor: FTS5 decides
            break
        if len(scorer.seen) > budget:
            return None
        source = max(unread, key=lambda s: s.weight * s.bound)
        scorer.take(source, _read(cur, source))
    return [i for _, i in sorted(scorer.best, key=lambda e: (-e[0], -e[1]))]


@dataclass(slots=True)
class _Scorer:
    """Scores items exactly (bm25 from their indexed text) and keeps the k best that match."""

    cur: Cursor
    plan: _Plan
    clauses: list[Clause]
    filters: SearchFilters
    limit: int
    any_term: bool
    avgdl: float
    seen: set[int] = field(default_factory=set)
    best: list[tuple[float, int]] = field(default_factory=list)  # min-heap of (score, id)
    rare: dict[str, dict[int, float]] = field(default_factory=dict)  # rare token: id -> value

    def take(self, source: _Source, found: list[tuple[int, float]]) -> None:
        """Score the items ``source`` read, except those that cannot reach the k best. An item
        met first here is in no other source's read part: in a list, its impact is stored
        further down or it is not listed at all (then at most the floor); a rare token's
        values are all known."""
        fresh = [(i, v) for i, v in found if i not in self.seen]
        self.seen.update(i for i, _ in fresh)
        while fresh and len(self.best) < self.limit:  # fill the k best with the first ones,
            need = self.limit - len(self.best)  # then weigh the rest against them
            self.score([i for i, _ in fresh[:need]])
            fresh = fresh[need:]
        if fresh:
            plan, kth = self.plan, self.best[0][0]
            known = self._listed_values([i for i, _ in fresh])
            kept = []
            for item_id, value in fresh:
                values = {
                    s.term: (
                        value
                        if s is source
                        else known.get((item_id, s.term), s.floor)
                        if s.listed
                        else self._rare(s).get(item_id, 0.0)
                    )
                    for s in plan.sources
                }
                ceiling = sum(
                    plan.weights[p] * _bound(plan.by_phrase[p], values) for p in plan.phrases
                )
                if ceiling >= kth:
                    kept.append((item_id, value))
            fresh = kept
        self.score([i for i, _ in fresh])

    def _listed_values(self, ids: list[int]) -> dict[tuple[int, str], float]:
        terms = [s.term for s in self.plan.sources if s.listed]
        if not terms:
            return {}
        sql = (
            f"SELECT item_id, term, impact FROM {IMPACTS} "
            f"WHERE item_id IN ({', '.join('?' * len(ids))}) "
            f"AND term IN ({', '.join('?' * len(terms))})"
        )
        return {(int(i), str(t)): float(v) for i, t, v in _all(self.cur, sql, [*ids, *terms])}

    def _rare(self, source: _Source) -> dict[int, float]:
        found = self.rare.get(source.term)
        if found is None:
            found = self.rare[source.term] = {i: v for v, i in source.rows}
        return found

    def score(self, fresh: list[int]) -> None:
        if fresh and (self.filters.section or self.filters.picks_only):
            fresh = _passing(self.cur, fresh, self.filters)
        if not fresh:
            return
        phrases = self.plan.phrases
        patterns = [(p, p.pattern()) for p in dict.fromkeys(phrases)]  # Phrase.freq's, once
        for item_id, text in _load(self.cur, fresh):
            freqs = {
                p: sum(w * t.count(pattern) for w, t in zip(WEIGHTS, text.joined, strict=True) if t)
                for p, pattern in patterns
            }
            present = [
                all(any(freqs[p] > 0 for p in seg) for seg in clause) for clause in self.clauses
            ]
            if not (any(present) if self.any_term else all(present)):
                continue
            score = sum(  # every phrase of the expression, repeated ones again (as FTS5 does)
                self.plan.weights[p] * saturation(freqs[p], text.length, self.avgdl)
                for p in phrases
                if freqs[p] > 0
            )
            entry = (score, item_id)
            if len(self.best) < self.limit:
                heapq.heappush(self.best, entry)
            elif entry > self.best[0]:
                heapq.heapreplace(self.best, entry)


def _passing(cur: Cursor, ids: list[int], filters: SearchFilters) -> list[int]:
    where = ["id IN (" + ", ".join("?" * len(ids)) + ")"]
    params: list[object] = list(ids)
    if filters.section:
        where.append("section = ?")
        params.append(filters.section)
    if filters.picks_only:
        where.append("pick = 1")
    sql = "SELECT id FROM items WHERE " + " AND ".join(where)
    return [int(r[0]) for r in _all(cur, sql, params)]
