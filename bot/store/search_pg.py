"""How PostgreSQL searches the archive, ranked exactly like SQLite (index: ``search_pg_index``).

``items_short_pg`` holds, per item, the SAME tokens as SQLite's word index
(``short_index_text`` then ``search_rank.tokens``: CJK runs as unigrams then bigrams, other
words whole, lower case, accents and ``_`` folded) twice: as a ``tsvector`` literal with
positions and column weights (headline A, title B, summary C, link D; no PostgreSQL text search
configuration or parser is involved), whose GIN index finds the matches, and per column as
``search_rank.ItemText`` joins them (" t1  t2 "), from which a phrase's frequency is counted
(``replace``) the way ``search_rank.Phrase.freq`` counts it, plus the item's length in tokens.

Ranking is SQLite's bm25 (FTS5's formula, k1 1.2, b 0.75, column weights 4 : 3 : 1 : 0.5),
computed from the same statistics: ``items_short_pg_stats`` (items and tokens: FTS5's row count
and average length), ``items_short_pg_terms`` (every word with its item count: the idf; also
the vocabulary from which a query word's other stem forms are read) and
``items_short_pg_impacts`` (the impact lists of ``bot.store.search_rank``: per word found in
``LISTED`` items or more, its best ``LIST_LENGTH`` items by saturation at a reference length,
``floor`` bounding the rest). Ties: newest first.

* Few matches (at most ``EXACT_MAX``, or a year filter): every match is scored in one
  statement.
* Common words: the lists are read best first, four times deeper each round, in one statement
  with the scoring of the items met (a round that meets many first prunes them by what the
  lists know of them), and reading stops when no unread item can beat the k-th best (Fagin's
  threshold algorithm, with ``search_rank``'s bound). A query whose items need not hold every
  phrase (stem forms, any word of several) first scores the items of its rare phrases and,
  when few, those holding all the others (then an unread item lacks one of them). When the
  lists cannot decide (they end above their floor), every match is scored. A query of one
  word with a list is ranked from the list alone (``_one_list``: the weighted frequency
  comes back exactly from each impact). Rare words with more items than CHEAP are left
  unread, bounded at the most, when a phrase every match holds has lists only.
* The idf of a phrase is FTS5's (its items counted) where the order depends on it and the
  count is cheap (few items; a prefix of two or three words: their counts less their
  overlaps); else SQLite's list-path estimate (a prefix's words summed, a CJK phrase's rarest
  pair).
* A phrase counts where it occurs, except, when any word may match, in a row where the AND
  around it fails (FTS5 clears those phrases).

Speed (issue 11): the scoring statement decompresses each item's token texts once and counts
each phrase once, in derived tables (a LATERAL form was Memoized by the planner: every row's
texts hashed for a cache that never hits, about 0.1 ms a row); a prefix that covers one index
word is searched as that word (GIN then reads its posting list instead of collecting every
item of a prefix into a bitmap); the statements run on the session's psycopg connection
itself (``_all``), without ``text()``'s parsing and compiling. Round trips: the stem
vocabulary's statement also reads what the ranking looks up (``_Lookup``), the idf counts of
all phrases take one statement, a query of rare words only (no list) scores every match at
once rather than reading each word's items first (the same rows), and ``hit_rows`` reads the
hits' rows without the ORM. The trigram top-up is skipped when the word index proves it
empty (SQLite's proof: an arXiv id's last piece starts a word in every text that holds it),
and its patterns reach the index as an InitPlan's values: the planner would otherwise run
each against its statistics of the long ``body`` texts (1-3 ms of planning per search).

``body`` (the four columns joined) has a ``pg_trgm`` GIN index for in-word substrings (gan in
BigGAN), used, as on SQLite, only to top up when the words find fewer items than asked for.
A statement trigger takes removed items out of the statistics (their rows go with their items,
``ON DELETE CASCADE``). The tables' names start with ``items_short_`` so the schema check
leaves them out (``bot.store.fts``).
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from typing import Any, NamedTuple, cast

import psycopg
from sqlalchemy.orm import Session

from bot.domain.model import SearchFilters
from bot.domain.search import FtsQuery, cjk_tokens, stem_forms
from bot.store.search_pg_index import (
    DOCS,
    IMPACTS,
    STATS,
    TERMS,
    TOKEN_COLUMNS,
    Conn,
    count_sql,
    document,
    index_items,
    quote,
    rebuild,
    texts_sql,
    weighted_freq,
)
from bot.store.search_rank import (
    K1,
    MAX_EXPANSIONS,
    WEIGHTS,
    B,
    Phrase,
    idf,
    query_phrases,
    saturation,
    tokens,
)
from bot.store.search_sqlite import ANCHOR_ITEMS, ANCHOR_OTHERS, anchor_word, none_may_hold

__all__ = [
    "document",
    "hit_rows",
    "index_items",
    "ranked_ids",
    "rebuild",
    "stem_vocabulary",
    "ts_query",
]

CHEAP = 2000  # PostgreSQL's own: at most this many (estimated) items counted or read whole
RANK_CANDIDATES = 500  # the trigram top-up ranks the newest 500 substring matches
VOCABULARY_SCAN = 2000
EXACT_MAX = 250  # at most this many (estimated) matches: all are scored in one statement
RARE = 200  # a stem form or alternative in at most this many items: all are scored first
CONJUNCTION_MAX = 500  # items holding every other phrase, scored first when no more than this
OVERLAP_MAX = 5000  # a prefix's words counted exactly when no two hold more items in common
PRUNE_FROM = 100  # more items met in a round: their list values prune them before scoring
FIRST_DEPTH = 32  # list rows read per word in the first round; x4 each further round
# a query segment that is a CJK run (the ranges of bot.domain.search, whose segments these are)
CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


# ------------------------------------------------------------------ statements
BIND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=512)
def dbapi_sql(sql: str) -> str:
    """A statement with SQLAlchemy's ``:name`` parameters in psycopg's ``%(name)s`` style."""
    return BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


def _all(conn: Conn, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of one statement (``:name`` parameters), run on the session's own psycopg
    connection, in its transaction: ``text()`` costs a search 0.2-0.5 ms of CPU per
    statement (parsing the parameters of a long statement, compiling, wrapping the rows) and
    a search runs 3 to 10 of them; the ranking has nothing for the ORM to do."""
    connection = conn.connection() if isinstance(conn, Session) else conn
    raw = cast(psycopg.Connection[Any], connection.connection.driver_connection)
    with raw.cursor() as cur:
        cur.execute(dbapi_sql(sql), params)
        return cur.fetchall()


def hit_rows(conn: Conn, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The rows ``search_sqlite.hits_in_order`` makes hits of (item id, section, headline,
    title, url, summary, pick, issue key, paper identity) for these items, any order: one
    statement on the psycopg connection (the ORM's select costs about a millisecond of CPU,
    and its expanding IN a new statement text, so a new plan, per number of hits)."""
    if not ids:
        return []
    return _all(
        conn,
        "SELECT i.id, i.section, i.headline, i.title, i.url, i.summary, i.pick, s.key, "
        "p.identity FROM items i JOIN issues s ON s.id = i.issue_id "
        "LEFT JOIN papers p ON p.id = i.paper_id WHERE i.id = ANY(CAST(:ids AS integer[]))",
        {"ids": list(ids)},
    )


# ------------------------------------------------------------------ match expressions
def stem_vocabulary(conn: Conn, query: FtsQuery) -> dict[str, tuple[str, ...]]:
    """query word -> the index's other words of its stem, read from the vocabulary's
    ranges (an index range scan each). The same statement reads what the ranking looks up
    (``_lookup``: the statistics, the query's words and prefixes, and the words of those
    ranges with their counts), kept on the connection for ``ranked_ids`` of this query: one
    round trip fewer per search."""
    ranges = [(n, low, high) for n, word in enumerate(query.stems) for low, high in word.ranges]
    if not ranges:
        return {}
    own = [p for clause in query_phrases(query, {}) for seg in clause for p in seg]
    terms = {t for p in own for t in p.tokens}
    prefixes = sorted({p.tokens[-1] for p in own if p.prefix})
    found = _lookup(conn, terms, prefixes, ranges)
    vocabulary: dict[int, list[str]] = {}
    for n, term in found.vocabulary:
        vocabulary.setdefault(n, []).append(term)
    forms: dict[str, tuple[str, ...]] = {}
    for n, word in enumerate(query.stems):
        if found_forms := stem_forms(word, vocabulary.get(n, [])):
            forms[word.word] = found_forms
    conn.info[_LOOKED_UP] = (query, found)
    return forms


_LOOKED_UP = "digestbot.search_pg.looked_up"  # conn.info: (query, its _Lookup) for ranked_ids


def _phrase(parts: Sequence[str], *, prefix_last: bool, sole: dict[str, str] | None = None) -> str:
    """The tsquery of a phrase. ``sole``: prefix -> the one index word it covers, written as
    that word (the same items; GIN finds an exact word by its posting list where a prefix
    first collects every item of every word it covers into a bitmap: milliseconds for a
    common word)."""
    quoted = [quote(p) for p in parts]
    if prefix_last:
        word = (sole or {}).get(parts[-1])
        quoted[-1] = quote(word) if word is not None else quoted[-1] + ":*"
    return quoted[0] if len(quoted) == 1 else "(" + " <-> ".join(quoted) + ")"


def _segment(segment: str, forms: Sequence[str], sole: dict[str, str] | None) -> str | None:
    if CJK_RUN.fullmatch(segment):
        grams = [segment] if len(segment) <= 2 else cjk_tokens(segment)[len(segment) :]
        return _phrase(grams, prefix_last=False)  # consecutive bigrams: an exact phrase
    parts = tokens(segment)
    if not parts:
        return None
    alternatives = [_phrase(parts, prefix_last=True, sole=sole), *(quote(f) for f in forms)]
    return alternatives[0] if len(alternatives) == 1 else "(" + " | ".join(alternatives) + ")"


def ts_query(
    query: FtsQuery,
    forms: dict[str, tuple[str, ...]],
    *,
    any_term: bool = False,
    sole: dict[str, str] | None = None,
) -> str | None:
    """The tsquery literal SQLite's ``FtsQuery.word_match`` would be, or None (no words).
    ``sole``: prefixes of one index word, written as that word (``_phrase``)."""
    clauses: list[str] = []
    for segments in query.segments:
        parts = [p for s in segments if (p := _segment(s, forms.get(s, ()), sole)) is not None]
        if parts:
            clauses.append(parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")")
        elif not any_term:
            return None
    if not clauses:
        return None
    return (" | " if any_term else " & ").join(clauses)


# ------------------------------------------------------------------ bm25 in SQL
Groups = list[list[list[int]]]  # clauses of segments of alternative phrases (their numbers)


def _score_sql(n_phrases: int, groups: Groups | None = None) -> tuple[list[str], str]:
    """(the phrase frequencies over the token copies ``t.c0`` .. ``t.c3``,
    score expression over them, ``f.f0`` ..): FTS5's bm25 with the same floating point steps
    as ``search_rank`` (idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * |D| / avgdl)), summed
    over the phrases in order). With ``groups`` (any word may match): a phrase counts only
    where its whole clause matches, as FTS5 clears the phrases of an AND that fails in a row.

    ``top_sql`` computes each level in a subquery of its own (``OFFSET 0``: not merged into
    the next), so a column is decompressed once and a frequency counted once per row; the
    levels are derived tables, not LATERAL subqueries, which the planner would Memoize,
    hashing every row's texts as the cache key for a cache that never hits."""
    columns = [f"t.c{n}" for n in range(len(TOKEN_COLUMNS))]
    freqs = []
    for n in range(n_phrases):
        counts = [
            f"CAST(:w{c} AS float8) * ((octet_length({col}) - "
            f"octet_length(replace({col}, :p{n}, ''))) / octet_length(:p{n}))"
            for c, col in enumerate(columns)
        ]
        freqs.append("(" + " + ".join(counts) + f") AS f{n}")
    norm = "(CAST(:k1 AS float8) * ((CAST(1.0 AS float8) - CAST(:b AS float8)) + "
    norm += "((CAST(:b AS float8) * f.length) / CAST(:avgdl AS float8))))"
    terms = [
        f"CAST(:idf{n} AS float8) * ((f.f{n} * CAST(:k1p AS float8)) / (f.f{n} + {norm}))"
        for n in range(n_phrases)
    ]
    for clause in groups or []:
        if len(clause) < 2:
            continue  # one segment: its phrases count where they occur
        matched = " AND ".join(
            "(" + " OR ".join(f"f.f{n} > 0" for n in segment) + ")" for segment in clause
        )
        for segment in clause:
            for n in segment:
                terms[n] = f"(CASE WHEN {matched} THEN {terms[n]} ELSE 0 END)"
    return freqs, "(" + " + ".join(terms) + ")" if terms else "0"


@dataclass(slots=True)
class _Query:
    """One ranking: the match, the phrases with their idf, the statistics, the filters."""

    match: str
    phrases: list[Phrase]
    weights: list[float]
    avgdl: float
    filters: SearchFilters
    clauses: Groups  # the phrases' numbers: clauses of segments of alternatives
    any_term: bool
    year_ids: tuple[int, int] | None = None
    sole: dict[str, str] = field(default_factory=dict)  # prefix -> its one index word

    def tsq(self, phrase: Phrase) -> str:
        """The tsquery of one of the phrases (``_phrase``)."""
        return _phrase(phrase.tokens, prefix_last=phrase.prefix, sole=self.sole)

    def missable(self) -> list[int]:
        """The phrases (numbers) a matching item may lack: the alternatives of a segment,
        and with any word of several, every phrase."""
        if self.any_term and len(self.clauses) > 1:
            return [n for clause in self.clauses for seg in clause for n in seg]
        return [n for clause in self.clauses for seg in clause if len(seg) > 1 for n in seg]

    def matched(self) -> str:
        """The query's own test from the phrase frequencies (``f``): what ``doc @@ q`` says
        without reading the (large) tsvector."""
        clauses = [
            " AND ".join("(" + " OR ".join(f"f.f{n} > 0" for n in seg) + ")" for seg in clause)
            for clause in self.clauses
        ]
        return "(" + (" OR " if self.any_term else " AND ").join(f"({c})" for c in clauses) + ")"

    def params(self) -> dict[str, Any]:
        found: dict[str, Any] = {"q": self.match, "k1": K1, "b": B, "k1p": K1 + 1.0}
        found["avgdl"] = self.avgdl
        found |= {f"w{c}": w for c, w in enumerate(WEIGHTS)}
        found |= {f"p{n}": p.pattern() for n, p in enumerate(self.phrases)}
        found |= {f"idf{n}": w for n, w in enumerate(self.weights)}
        if self.filters.section:
            found["section"] = self.filters.section
        if self.year_ids is not None:
            found["low"], found["high"] = self.year_ids
        return found

    def where(self) -> tuple[str, str]:
        joins, where = "", ""
        if self.filters.section or self.filters.picks_only:
            joins = " JOIN items i ON i.id = d.item_id"
            where += " AND i.section = :section" if self.filters.section else ""
            where += " AND i.pick" if self.filters.picks_only else ""
        if self.year_ids is not None:
            where += " AND d.item_id BETWEEN :low AND :high"
        return joins, where

    def top(self, conn: Conn, limit: int, ids: Sequence[int] | None = None) -> list[Any]:
        """(score, item id) of the best ``limit`` matches (of ``ids`` only, when given)."""
        if ids is None:
            sql, params = self.top_sql(limit, None)
        else:
            sql, params = self.top_sql(limit, "SELECT unnest(CAST(:ids AS integer[]))")
            params["ids"] = list(ids)
        return _all(conn, sql, params)

    def top_sql(self, limit: int, candidates: str | None) -> tuple[str, dict[str, Any]]:
        """The statement of ``top``: over every match, or over the item ids ``candidates``
        (a subquery) that match. Three levels (``_score_sql``): the matching rows with their
        token texts decompressed, the phrase frequencies, the score."""
        groups = self.clauses if self.any_term else None
        freqs, score = _score_sql(len(self.phrases), groups)
        joins, where = self.where()
        params = self.params() | {"limit": limit}
        if candidates is None:
            where, test = f"d.doc @@ CAST(:q AS tsquery){where}", ""
        else:
            where, test = f"d.item_id IN ({candidates}){where}", f" WHERE {self.matched()}"
        copies = ", ".join(f"d.{col} || '' AS c{n}" for n, col in enumerate(TOKEN_COLUMNS))
        rows = f"SELECT d.item_id, d.length, {copies} FROM {DOCS} d{joins} WHERE {where} OFFSET 0"
        counted = f"SELECT {', '.join(['t.item_id', 't.length', *freqs])} FROM ({rows}) t OFFSET 0"
        sql = (
            f"SELECT {score} AS score, f.item_id FROM ({counted}) f{test} "
            "ORDER BY score DESC, f.item_id DESC LIMIT :limit"
        )
        return sql, params


# ------------------------------------------------------------------ ranking
Known = tuple[int, float | None, float]  # a word's items, list floor (None: no list), ref length


@dataclass(slots=True)
class _Source:
    """Items holding one word, best first: its impact list, or all items of a rare word."""

    term: str
    docs: int
    bound: float  # saturation no unread item of this source exceeds
    listed: bool
    floor: float = 0.0
    stretch: float = 1.0  # K at the list's reference length is at most this times K at avgdl
    ref: float = 1.0  # the list's reference length
    unread: bool = False  # a rare word's items left unread: bound at the most (k1 + 1)
    read: int = 0
    done: bool = False
    rows: list[tuple[float, int]] = field(default_factory=list)  # rare: (saturation, id)


def ranked_ids(
    conn: Conn,
    query: FtsQuery,
    forms: dict[str, tuple[str, ...]],
    filters: SearchFilters,
    limit: int,
    any_term: bool,
) -> list[int]:
    """The ``limit`` best item ids by bm25 over the whole archive (ties newest first), topped
    up with substring matches of the terms of 3+ characters."""
    ranked: list[int] = []
    kept = conn.info.pop(_LOOKED_UP, None)  # read with the stem vocabulary of this query
    match = ts_query(query, forms, any_term=any_term)
    if match is not None:
        looked_up = kept[1] if kept is not None and kept[0] is query else None
        ranked = _bm25_ids(conn, query, forms, match, filters, limit, any_term, looked_up)
    long = [e for e in query.edges if len(e) >= 3]
    if len(ranked) >= limit or not long or (not any_term and len(long) < len(query.edges)):
        return ranked
    if _nothing_to_top_up(conn, long, ranked, any_term):
        return ranked
    return ranked + _substring_ids(conn, long, filters, limit, any_term, set(ranked))


def _nothing_to_top_up(conn: Conn, long: list[str], ranked: list[int], any_term: bool) -> bool:
    """True when the word index proves the trigram top-up finds nothing beyond ``ranked``
    (SQLite's proof, ``search_sqlite._nothing_to_top_up``): a term such as ``2301.12345``
    found inside a text has a separator before its last piece, so the text holds a word
    starting with that piece; the items of those words (of every term's: each match holds
    all with every term, one with any term) hold every substring match. When their words
    are few and rare, their items not found already (at most ANCHOR_OTHERS) are read and
    checked, all in one statement; the trigram index of a common digit run (an arXiv id's)
    costs milliseconds at 100,000 items to find, most often, the one item found already."""
    anchors = [anchor_word(edge) for edge in long]
    if any(a is None for a in anchors):
        if any_term:
            return False  # a single word may sit inside a longer one anywhere
        anchors = [a for a in anchors if a is not None]
        if not anchors:
            return False
    chosen = list(dict.fromkeys(a for a in anchors if a is not None))
    sql = (
        "WITH sizes AS MATERIALIZED (SELECT count(t.docs) AS words, coalesce(sum(t.docs), 0) "
        "AS items FROM unnest(CAST(:lows AS text[]), CAST(:highs AS text[])) "
        "WITH ORDINALITY a(low, high, n) LEFT JOIN LATERAL (SELECT docs FROM "
        f'{TERMS} x WHERE x.term >= a.low COLLATE "C" AND x.term < a.high COLLATE "C" '
        "ORDER BY x.term LIMIT :words) t ON true GROUP BY a.n), "
        "cheap AS MATERIALIZED (SELECT bool_and(words <= :most_words AND items <= :most_items) "
        "AS ok FROM sizes), "
        f"found AS MATERIALIZED (SELECT d.item_id FROM {DOCS} d "
        "WHERE (SELECT ok FROM cheap) AND d.doc @@ CAST(:q AS tsquery) LIMIT :n) "
        "SELECT -1, NULL, NULL, NULL, NULL FROM cheap WHERE NOT ok UNION ALL "
        "SELECT f.item_id, i.headline, i.title, i.summary, i.url FROM found f "
        "JOIN items i ON i.id = f.item_id WHERE f.item_id <> ALL(CAST(:ranked AS integer[]))"
    )
    found = _all(
        conn,
        sql,
        {
            "lows": chosen,
            "highs": [a[:-1] + chr(ord(a[-1]) + 1) for a in chosen],
            "words": MAX_EXPANSIONS + 1,
            "most_words": MAX_EXPANSIONS,
            "most_items": ANCHOR_ITEMS,
            "q": (" | " if any_term else " & ").join(quote(a) + ":*" for a in chosen),
            "n": len(ranked) + ANCHOR_OTHERS + 1,
            "ranked": list(ranked),
        },
    )
    if any(r[0] == -1 for r in found) or len(found) > ANCHOR_OTHERS:
        return False
    return none_may_hold([r[1:] for r in found], [e.lower() for e in long], any_term)


def _bm25_ids(
    conn: Conn,
    query: FtsQuery,
    forms: dict[str, tuple[str, ...]],
    match: str,
    filters: SearchFilters,
    limit: int,
    any_term: bool,
    kept: _Lookup | None = None,
) -> list[int]:
    clauses = [tuple(seg for seg in c if seg) for c in query_phrases(query, forms)]
    clauses = [c for c in clauses if c]
    phrases = [p for c in clauses for s in c for p in s]
    prefixes = sorted({p.tokens[-1] for p in phrases if p.prefix})
    terms = {t for p in phrases for t in p.tokens}
    if kept is not None and kept.covers(terms, prefixes):
        looked_up = kept
    else:
        looked_up = _lookup(conn, terms, prefixes)
    rows, avgdl = looked_up.rows, looked_up.avgdl
    known, expansions = looked_up.known, looked_up.expansions
    sole = {w: found[0][0] for w, found in expansions.items() if found and len(found) == 1}
    if sole:
        match = ts_query(query, forms, any_term=any_term, sole=sole) or match
    docs = {p: _phrase_docs(p, known, expansions) for p in phrases}
    per_clause = [min(sum(docs[p] for p in seg) for seg in clause) for clause in clauses]
    estimate = sum(per_clause) if any_term else min(per_clause, default=0)
    several = len(set(phrases)) > 1
    counted = _exact_counts(conn, phrases, docs, expansions, several, sole)
    weights = [idf(rows, counted[p]) for p in phrases]
    numbers = iter(range(len(phrases)))
    groups = [[[next(numbers) for _ in seg] for seg in clause] for clause in clauses]
    ranking = _Query(match, phrases, weights, avgdl, filters, groups, any_term, sole=sole)
    if filters.year is not None:
        ranking.year_ids = _year_ids(conn, filters.year)
        if ranking.year_ids is None:
            return []
    elif estimate > EXACT_MAX and all(e is not None for e in expansions.values()):
        found = _threshold(conn, ranking, known, expansions, docs, limit)
        if found is not None:
            return found
    return [int(r[1]) for r in ranking.top(conn, limit)]


class _Lookup(NamedTuple):
    """What ``_lookup`` read: the statistics, the words' counts and lists, the words of each
    prefix (None: too many), and the vocabulary ranges' words ((stem number, word))."""

    rows: int
    avgdl: float
    known: dict[str, Known]
    expansions: dict[str, list[tuple[str, Known]] | None]
    asked: frozenset[str]  # the words looked up (absent from ``known``: in no item)
    vocabulary: tuple[tuple[int, str], ...] = ()

    def covers(self, terms: set[str], prefixes: list[str]) -> bool:
        return terms <= self.asked and all(p in self.expansions for p in prefixes)


def _lookup(
    conn: Conn,
    terms: set[str],
    prefixes: list[str],
    ranges: Sequence[tuple[int, str, str]] = (),
) -> _Lookup:
    """In one statement: the statistics (items, average length), the words' item counts and
    lists, per prefix the index words that start with it (None: too many to bound one by
    one), and with ``ranges`` ((stem number, low, high)) the vocabulary's words in each, with
    their counts (``stem_vocabulary``)."""
    sql = (
        "SELECT -1, NULL, CAST(rows AS bigint), CAST(NULL AS float8), CAST(tokens AS float8), "
        f"CAST(NULL AS integer) FROM {STATS} WHERE id = 1 UNION ALL "
        f"SELECT 0, term, docs, floor, ref_length, NULL FROM {TERMS} "
        "WHERE term = ANY(CAST(:terms AS text[])) UNION ALL "
        "SELECT p.n, t.term, t.docs, t.floor, t.ref_length, NULL FROM unnest("
        "CAST(:lows AS text[]), CAST(:highs AS text[])) WITH ORDINALITY p(low, high, n) "
        f"CROSS JOIN LATERAL (SELECT term, docs, floor, ref_length FROM {TERMS} x "
        'WHERE x.term >= p.low COLLATE "C" AND x.term < p.high COLLATE "C" '
        "ORDER BY x.term LIMIT :n) t"
    )
    highs = [p[:-1] + chr(ord(p[-1]) + 1) for p in prefixes]
    params: dict[str, Any] = {
        "terms": sorted(terms),
        "lows": prefixes,
        "highs": highs,
        "n": MAX_EXPANSIONS + 1,
    }
    if ranges:
        sql += (
            " UNION ALL SELECT -2, t.term, t.docs, t.floor, t.ref_length, r.n FROM unnest("
            "CAST(:ns AS integer[]), CAST(:vlows AS text[]), CAST(:vhighs AS text[])) "
            "r(n, low, high) CROSS JOIN LATERAL (SELECT term, docs, floor, ref_length FROM "
            f'{TERMS} x WHERE x.term >= r.low COLLATE "C" AND x.term < r.high COLLATE "C" '
            "ORDER BY x.term LIMIT :scan) t"
        )
        params |= {
            "ns": [n for n, _, _ in ranges],
            "vlows": [low for _, low, _ in ranges],
            "vhighs": [high for _, _, high in ranges],
            "scan": VOCABULARY_SCAN,
        }
    found = _all(conn, sql, params)
    rows, total = 0, 0.0
    known: dict[str, Known] = {}
    asked = set(terms)
    vocabulary: list[tuple[int, str]] = []
    words: dict[int, list[tuple[str, Known]]] = {n: [] for n in range(1, len(prefixes) + 1)}
    for kind, term, docs, floor, ref, stem in found:
        if kind == -1:
            rows, total = int(docs), float(ref)
        elif kind == 0:
            known[str(term)] = (int(docs), floor, float(ref))
        elif kind == -2:
            vocabulary.append((int(stem), str(term)))
            known[str(term)] = (int(docs), floor, float(ref))
            asked.add(str(term))
        else:
            words[int(kind)].append((str(term), (int(docs), floor, float(ref))))
    expansions: dict[str, list[tuple[str, Known]] | None] = {
        prefix: None if len(words[n]) > MAX_EXPANSIONS else sorted(words[n])
        for n, prefix in enumerate(prefixes, start=1)
    }
    avgdl = total / rows if rows else 1.0
    return _Lookup(rows, avgdl, known, expansions, frozenset(asked), tuple(vocabulary))


def _phrase_docs(
    phrase: Phrase, known: dict[str, Known], expansions: dict[str, list[tuple[str, Known]] | None]
) -> int:
    """Items with the phrase, or SQLite's list-path estimate of it: its rarest token's, a
    prefix's words summed (a prefix of too many words: the archive's rows, an upper bound)."""
    exact = phrase.tokens[:-1] if phrase.prefix else phrase.tokens
    counts = [known.get(t, (0, None, 1.0))[0] for t in exact]
    if phrase.prefix:
        words = expansions.get(phrase.tokens[-1])
        counts.append(2**31 if words is None else sum(k[0] for _, k in words))
    return min(counts)


def _exact_counts(
    conn: Conn,
    phrases: Sequence[Phrase],
    docs: dict[Phrase, int],
    expansions: dict[str, list[tuple[str, Known]] | None],
    several: bool,
    sole: dict[str, str] | None = None,
) -> dict[Phrase, int]:
    """Per phrase, the items holding it, as FTS5 counts them for its idf: the word's own
    count when the phrase is one word; else counted when that is cheap (few items; a prefix
    of two or three words whose overlaps are small: their counts less their overlaps); else
    the estimate ``docs``, as SQLite's lists take it. A query of one phrase needs none: its
    idf scales every score alike. Every count the phrases need is made in one statement."""
    found: dict[Phrase, int] = {}
    counts: list[str] = []  # tsqueries whose items are counted
    # phrase -> (its count's number, or -1: its words' counts less their overlaps, given as
    # (count number, words in the group))
    plans: dict[Phrase, tuple[int, list[tuple[str, Known]], list[tuple[int, int]]]] = {}
    for phrase in dict.fromkeys(phrases):
        estimate = docs[phrase]
        words = expansions.get(phrase.tokens[-1]) if phrase.prefix else None
        found[phrase] = estimate
        if not several or (len(phrase.tokens) == 1 and not phrase.prefix):
            continue
        if len(phrase.tokens) == 1 and words is not None and len(words) <= 1:
            continue  # a prefix of one index word (or none): that word's count
        if estimate <= CHEAP:
            plans[phrase] = (len(counts), [], [])
            counts.append(_phrase(phrase.tokens, prefix_last=phrase.prefix, sole=sole))
            continue
        if len(phrase.tokens) > 1 or words is None or not 2 <= len(words) <= 3:
            continue
        if any(min(a[1][0], b[1][0]) > OVERLAP_MAX for a, b in combinations(words, 2)):
            continue
        groups = [g for size in range(2, len(words) + 1) for g in combinations(words, size)]
        plans[phrase] = (-1, words, [(len(counts) + n, len(g)) for n, g in enumerate(groups)])
        counts += [" & ".join(quote(w) for w, _ in g) for g in groups]
    if not counts:
        return found
    sql = ", ".join(
        f"(SELECT count(*) FROM {DOCS} WHERE doc @@ CAST(:c{n} AS tsquery))"
        for n in range(len(counts))
    )
    params = {f"c{n}": q for n, q in enumerate(counts)}
    numbers = [int(n) for n in _all(conn, f"SELECT {sql}", params)[0]]
    for phrase, (own, words, overlaps) in plans.items():
        if own >= 0:
            found[phrase] = numbers[own]
            continue
        union = sum(k[0] for _, k in words)  # inclusion-exclusion
        for n, size in overlaps:
            union += numbers[n] if size % 2 else -numbers[n]
        found[phrase] = union
    return found


def _year_ids(conn: Conn, year: int) -> tuple[int, int] | None:
    low, high = _all(
        conn,
        "SELECT min(i.id), max(i.id) FROM items i JOIN issues s ON s.id = i.issue_id "
        "WHERE s.year = :y",
        {"y": year},
    )[0]
    return None if low is None else (int(low), int(high))


def _threshold(
    conn: Conn,
    ranking: _Query,
    known: dict[str, Known],
    expansions: dict[str, list[tuple[str, Known]] | None],
    docs: dict[Phrase, int],
    limit: int,
) -> list[int] | None:
    """Fagin's threshold algorithm over the impact lists (and the few items of rare words):
    read every source to a depth, score the items met exactly, stop once the k-th best is at
    least what an unread item could reach; else read four times deeper. None: the lists
    cannot decide (they end above their floor, or rare words hold too many items).

    A query whose items need not hold every phrase (a word's stem forms, any word of several)
    first scores every item of its rare phrases, then, when they are few, every item holding
    all the other phrases: an item not met yet then lacks one of those, which bounds it far
    below the sum of every phrase's bound (the threshold algorithm's weak spot)."""
    phrases = ranking.phrases
    sources: dict[str, _Source] = {}
    by_phrase: list[list[_Source]] = []
    for phrase in phrases:
        exact = phrase.tokens[:-1] if phrase.prefix else phrase.tokens
        if exact:
            rarest = min(exact, key=lambda t: known.get(t, (0, None, 1.0))[0])
            chosen = [(rarest, known.get(rarest, (0, None, 1.0)))]
        else:
            chosen = expansions[phrase.tokens[-1]] or []
        mine: list[_Source] = []
        for term, (count, floor, ref) in chosen:
            if count == 0:
                continue
            if term not in sources:
                stretch = max(1.0, ranking.avgdl / ref)
                listed = floor is not None
                sources[term] = _Source(
                    term, count, K1 + 1.0, listed, floor or 0.0, stretch, ref=ref
                )
            mine.append(sources[term])
        by_phrase.append(mine)
    if not any(s.listed for s in sources.values()):
        return None  # rare words only: reading their items costs what scoring every match does
    single = not ranking.any_term or len(ranking.clauses) == 1
    required = [seg[0] for clause in ranking.clauses for seg in clause if len(seg) == 1]
    for n in required if single else []:  # a phrase every match holds, of rare words only
        mine = by_phrase[n]
        if mine and not any(s.listed for s in mine) and sum(s.docs for s in mine) <= CHEAP:
            return None  # the matches are among their items, which the lists would read whole
    one = len(phrases) == 1 and len(phrases[0].tokens) == 1 and len(by_phrase[0]) == 1
    if one and by_phrase[0][0].listed:  # one word (or a prefix of one index word), listed
        return _one_list(conn, ranking, by_phrase[0][0], limit)
    best: list[tuple[float, int]] = []  # min-heap of the k best (score, id)
    seen: set[int] = set()

    def score(ids: Sequence[int]) -> None:
        for found, item_id in ranking.top(conn, limit, sorted(ids)) if ids else []:
            entry = (float(found), int(item_id))
            if len(best) < limit:
                heapq.heappush(best, entry)
            elif entry > best[0]:
                heapq.heapreplace(best, entry)

    settled: set[Phrase] = set()  # every item holding one of these is scored
    missing: list[Phrase] = []  # an item not met yet lacks one of these
    missable = [phrases[n] for n in ranking.missable()]
    if missable:
        rare = list(dict.fromkeys(p for p in missable if docs[p] <= RARE))
        if rare:
            ids = _ids(conn, " | ".join(ranking.tsq(p) for p in rare))
            score(ids)
            seen.update(ids)
            settled.update(rare)
        rest = list(dict.fromkeys(p for p in phrases if p not in settled))
        if any(p in missable for p in rest):
            conj = " & ".join(ranking.tsq(p) for p in rest)
            ids, scored = _conjunction(conn, ranking, conj, seen, limit)
            if len(ids) <= CONJUNCTION_MAX:
                for found, item_id in scored:
                    entry = (float(found), int(item_id))
                    if len(best) < limit:
                        heapq.heappush(best, entry)
                    elif entry > best[0]:
                        heapq.heapreplace(best, entry)
                seen.update(ids)
                missing = [p for p in rest if p in missable]
    active = {
        id(s) for p, mine in zip(phrases, by_phrase, strict=True) if p not in settled for s in mine
    }
    for source in sources.values():
        if id(source) not in active:
            source.done, source.bound = True, 0.0
    rare_sources = [s for s in sources.values() if not s.listed and not s.done]
    if sum(s.docs for s in rare_sources) > CHEAP:
        # too many to read: left unread, they bound their phrases at the most a phrase can
        # weigh, and the lists decide when a phrase every match holds has lists only (point
        # cloud: "point"* has sixteen rare forms, 13,600 items; "cloud" a list)
        listed_only = [
            n
            for n in required
            if single
            and phrases[n] not in settled
            and by_phrase[n]
            and all(s.listed for s in by_phrase[n])
        ]
        if not listed_only:
            return None
        for source in rare_sources:
            source.unread, source.done = True, True
        rare_sources = []
    for source in rare_sources:
        source.rows = _rare_rows(conn, source.term, ranking.avgdl)
    depth = FIRST_DEPTH
    while True:
        active_lists = sum(1 for s in sources.values() if s.listed and not s.done)
        if len(best) < limit or active_lists * (depth - depth // 4) <= PRUNE_FROM:
            met, scored = _read(conn, list(sources.values()), depth, (ranking, seen, limit))
            for found, item_id in scored:  # read and scored in one statement
                entry = (float(found), int(item_id))
                if len(best) < limit:
                    heapq.heappush(best, entry)
                elif entry > best[0]:
                    heapq.heapreplace(best, entry)
            seen |= met
            fresh: set[int] = set()
        else:
            met, _ = _read(conn, list(sources.values()), depth)
            fresh = met - seen
            seen |= fresh
        if len(best) >= limit and len(fresh) > PRUNE_FROM:  # those that can beat the k-th
            values = _values(conn, list(sources.values()), fresh)
            fresh = {
                i
                for i in fresh
                if sum(
                    weight * _bound(mine, values.get(i, {}))
                    for phrase, weight, mine in zip(
                        phrases, ranking.weights, by_phrase, strict=True
                    )
                    if phrase not in settled
                )
                >= best[0][0]
            }
        score(list(fresh))
        bounds: dict[Phrase, float] = {}
        for phrase, weight, mine in zip(phrases, ranking.weights, by_phrase, strict=True):
            if phrase not in settled:
                bounds[phrase] = bounds.get(phrase, 0.0) + weight * _bound(mine)
        ceiling = sum(bounds.values()) - min((bounds[p] for p in missing), default=0.0)
        if len(best) >= limit and best[0][0] >= ceiling:
            break
        if all(s.done for s in sources.values()):
            if any(s.unread for s in sources.values()):
                return None  # the lists ran out: unread items may still beat the k-th best
            if ceiling > 0.0 and len(best) >= limit:
                return None  # a list ended above its floor: every match is scored
            if any(s.listed and s.floor > 0.0 for s in sources.values()):
                return None  # fewer than asked for met, but unlisted items remain
            break
        depth *= 4
    return [i for _, i in sorted(best, key=lambda e: (-e[0], -e[1]))]


def _one_list(conn: Conn, ranking: _Query, source: _Source, limit: int) -> list[int] | None:
    """The threshold algorithm for a query of one word with an impact list, scored from the
    list itself: an impact is the word's saturation at the list's reference length, from
    which its weighted frequency in the item comes back exactly (a multiple of 0.5: column
    weights times counts; rounding takes off the float error, orders of magnitude below
    0.25), and with the item's length gives its bm25 by the same float steps as the scoring
    statement (``_score_sql``): no token text is read. The list is read best first, four
    times deeper each round, until the k-th best reaches what an unread item can; None when
    the list ends above its floor first (then every match is scored)."""
    joins, where = ranking.where()
    passes = where.removeprefix(" AND ") or "TRUE"  # the filters (section, picks)
    sql = (
        f"SELECT l.impact, l.item_id, d.length, {passes} FROM (SELECT impact, item_id "
        f"FROM {IMPACTS} WHERE term = :term ORDER BY impact DESC, item_id DESC "
        f"OFFSET :skip LIMIT :n) l JOIN {DOCS} d ON d.item_id = l.item_id{joins}"
    )
    params = ranking.params() | {"term": source.term}
    weight, avgdl, ref = ranking.weights[0], ranking.avgdl, source.ref
    best: list[tuple[float, int]] = []  # min-heap of the k best (score, id)
    read, depth = 0, FIRST_DEPTH
    while True:
        rows = _all(conn, sql, params | {"skip": read, "n": depth - read})
        for impact, item_id, length, kept in rows:
            if not kept:
                continue
            at_ref = K1 * ((1.0 - B) + ((B * length) / ref))
            freq = round(impact * at_ref / ((K1 + 1.0) - impact) * 2.0) / 2.0
            norm = K1 * ((1.0 - B) + ((B * length) / avgdl))
            entry = (weight * ((freq * (K1 + 1.0)) / (freq + norm)), int(item_id))
            if len(best) < limit:
                heapq.heappush(best, entry)
            elif entry > best[0]:
                heapq.heapreplace(best, entry)
        if len(rows) < depth - read:  # the whole list is read: the rest is under the floor
            source.bound, source.done = source.floor, True
        elif rows:
            source.bound = float(rows[-1][0])
        read = depth
        if len(best) >= limit and best[0][0] >= weight * _bound([source]):
            break
        if source.done:
            if source.floor > 0.0:
                return None  # items off the list may still beat the k-th best
            break
        depth *= 4
    return [i for _, i in sorted(best, key=lambda e: (-e[0], -e[1]))]


def _conjunction(
    conn: Conn, ranking: _Query, conj: str, seen: set[int], limit: int
) -> tuple[list[int], list[Any]]:
    """In one statement: the items holding every phrase of ``conj`` (at most
    CONJUNCTION_MAX + 1) and, when they are no more than CONJUNCTION_MAX, the k best of those
    not ``seen``, scored."""
    fresh = (
        "SELECT item_id FROM conj WHERE (SELECT count(*) FROM conj) <= :most "
        "EXCEPT SELECT unnest(CAST(:seen AS integer[]))"
    )
    top, params = ranking.top_sql(limit, fresh)
    sql = (
        f"WITH conj AS MATERIALIZED (SELECT item_id FROM {DOCS} "
        "WHERE doc @@ CAST(:conj AS tsquery) LIMIT :most + 1) "
        "SELECT 0, CAST(NULL AS float8), item_id FROM conj UNION ALL "
        f"SELECT 1, score, item_id FROM ({top}) s"
    )
    params |= {"conj": conj, "most": CONJUNCTION_MAX, "seen": sorted(seen)}
    rows = _all(conn, sql, params)
    return [int(r[2]) for r in rows if r[0] == 0], [(r[1], r[2]) for r in rows if r[0] == 1]


def _ids(conn: Conn, match: str, cap: int | None = None) -> list[int]:
    """The items a tsquery matches (at most ``cap``), unranked."""
    sql = f"SELECT item_id FROM {DOCS} WHERE doc @@ CAST(:q AS tsquery)"
    if cap is not None:
        sql += f" LIMIT {int(cap)}"
    return [int(r[0]) for r in _all(conn, sql, {"q": match})]


def _rare_rows(conn: Conn, term: str, avgdl: float) -> list[tuple[float, int]]:
    """Every item of a word without a list, with its saturation, best first."""
    found = _all(
        conn,
        f"SELECT d.item_id, d.length, {count_sql('p')} "
        f"FROM {texts_sql('doc @@ CAST(:q AS tsquery)')} d",
        {"p": Phrase((term,), False).pattern(), "q": quote(term)},
    )
    rows = [(saturation(weighted_freq(counts), int(n), avgdl), int(i)) for i, n, *counts in found]
    return sorted(rows, reverse=True)


def _read(
    conn: Conn,
    sources: list[_Source],
    depth: int,
    scoring: tuple[_Query, set[int], int] | None = None,
) -> tuple[set[int], list[Any]]:
    """The items of every source down to ``depth`` (one statement for all the lists); lowers
    each source's bound to what it has not shown yet. With ``scoring`` (the ranking, the items
    seen before, k): the same statement also scores the new items and returns their k best
    (score, id)."""
    found: set[int] = set()
    extra: list[int] = []
    for source in sources:
        if source.listed or source.done:
            continue
        extra += [i for _, i in source.rows[source.read : depth]]
        source.read = depth
        if depth >= len(source.rows):
            source.done, source.bound = True, 0.0
        else:
            source.bound = source.rows[depth][0]
    found.update(extra)
    listed = [s for s in sources if s.listed and not s.done]
    skip = listed[0].read if listed else 0  # every list still read is read to the same depth
    lists = (
        "SELECT w.term, l.impact, l.item_id FROM unnest(CAST(:terms AS text[])) w(term) "
        f"CROSS JOIN LATERAL (SELECT impact, item_id FROM {IMPACTS} x "
        "WHERE x.term = w.term ORDER BY impact DESC, item_id DESC OFFSET :skip LIMIT :n) l"
    )
    params: dict[str, Any] = {"terms": [s.term for s in listed], "skip": skip, "n": depth - skip}
    sql = lists
    if scoring is not None:
        ranking, seen, limit = scoring
        fresh = (
            "SELECT item_id FROM lists UNION SELECT unnest(CAST(:extra AS integer[])) "
            "EXCEPT SELECT unnest(CAST(:seen AS integer[]))"
        )
        top, more = ranking.top_sql(limit, fresh)
        params |= more | {"extra": extra, "seen": sorted(seen)}
        sql = (
            f"WITH lists AS MATERIALIZED ({lists}) "
            "SELECT 0, term, impact, item_id FROM lists UNION ALL "
            f"SELECT 1, NULL, score, item_id FROM ({top}) s"
        )
    elif not listed:
        return found, []
    rows = _all(conn, sql, params)
    scored = [(r[2], r[3]) for r in rows if r[0] == 1] if scoring is not None else []
    read = [r[1:] for r in rows if r[0] == 0] if scoring is not None else rows
    last: dict[str, float] = {}
    count: Counter[str] = Counter()
    for term, impact, item_id in read:
        found.add(int(item_id))
        last[str(term)] = float(impact)
        count[str(term)] += 1
    for source in listed:
        if source.read + count[source.term] < depth:
            source.done, source.bound = True, source.floor
        else:
            source.bound = last[source.term]
        source.read = depth
    return found, scored


def _values(conn: Conn, sources: list[_Source], ids: set[int]) -> dict[int, dict[str, float]]:
    """Per item, what each source knows of it: its impact where a list holds it, else the
    list's floor; a rare word's saturation, else 0."""
    found: dict[int, dict[str, float]] = {}
    listed = [s for s in sources if s.listed]
    for source in sources:
        if source.unread:  # nothing known of its items
            for item_id in ids:
                found.setdefault(item_id, {})[source.term] = source.bound
        elif not source.listed:
            saturations = {i: v for v, i in source.rows}
            for item_id in ids:
                found.setdefault(item_id, {})[source.term] = saturations.get(item_id, 0.0)
        else:
            for item_id in ids:
                found.setdefault(item_id, {})[source.term] = source.floor
    if listed:
        stored = _all(
            conn,
            f"SELECT item_id, term, impact FROM {IMPACTS} "
            "WHERE item_id = ANY(CAST(:ids AS integer[])) AND term = ANY(CAST(:t AS text[]))",
            {"ids": sorted(ids), "t": [s.term for s in listed]},
        )
        for item_id, term, impact in stored:
            found[int(item_id)][str(term)] = float(impact)
    return found


def _bound(sources: list[_Source], values: dict[str, float] | None = None) -> float:
    """The highest saturation (at the table's average length) a phrase can reach in an item
    none of ``sources`` has shown yet (``search_rank``'s bound: a bound b on a token's
    saturation caps its frequency at b * K(|D|) / (k1 + 1 - b); summed over the tokens that
    gives F <= K(|D|) * phi, so the phrase's saturation stays below (k1 + 1) * phi / (phi + 1);
    list impacts are taken at the list's reference length: ``stretch`` covers the change)."""
    top = K1 + 1.0
    phi = 0.0
    for source in sources:
        known = source.bound if values is None else values.get(source.term, source.bound)
        bound = min(known, top * (1.0 - 1e-9))
        phi += bound / (top - bound) * source.stretch
    return top * phi / (phi + 1.0)


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _substring_ids(
    conn: Conn,
    long: list[str],
    filters: SearchFilters,
    limit: int,
    any_term: bool,
    seen: set[int],
) -> list[int]:
    """In-word substring matches (pg_trgm) of the newest RANK_CANDIDATES, by column weight."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if filters.section:
        where.append("i.section = :section")
        params["section"] = filters.section
    if filters.picks_only:
        where.append("i.pick")
    if filters.year is not None:
        where.append("s.year = :year")
        params["year"] = filters.year
    joins = " JOIN items i ON i.id = d.item_id"
    if filters.year is not None:
        joins += " JOIN issues s ON s.id = i.issue_id"
    likes = {f"t{n}": _like(e) for n, e in enumerate(long)}
    # the patterns as an InitPlan's values: the GIN index still takes them, and the planner
    # does not run each against every row of its statistics of ``body`` (long texts: 1-3 ms
    # of planning, more than the search itself)
    found = (" OR " if any_term else " AND ").join(
        f"d.body ILIKE (SELECT CAST(:{k} AS text))" for k in likes
    )
    score = " + ".join(
        f"(CASE WHEN i.{column} ILIKE :{k} THEN {weight} ELSE 0 END)"
        for k in likes
        for column, weight in (("headline", 4), ("title", 3), ("summary", 1), ("url", 0.5))
    )
    sql = (
        f"SELECT item_id FROM (SELECT d.item_id, {score} AS score FROM {DOCS} d{joins} "
        f"WHERE ({found}){''.join(f' AND {w}' for w in where)} "
        "ORDER BY d.item_id DESC LIMIT :cap) c ORDER BY score DESC, item_id DESC LIMIT :limit"
    )
    rows = _all(conn, sql, {**params, **likes, "cap": RANK_CANDIDATES, "limit": limit})
    more = [int(r[0]) for r in rows if int(r[0]) not in seen]
    return more[: limit - len(seen)]
