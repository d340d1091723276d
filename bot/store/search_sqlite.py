"""How SQLite searches the archive: the FTS5 word and trigram indexes, on a plain ``sqlite3``
connection (no SQLAlchemy), so the app (through its session's DBAPI connection) and the fast
command line path (``bot.cli.fast``) run the very same SQL.

``cache`` is a dict that lives as long as the DBAPI connection (the app passes SQLAlchemy's
``Connection.info``; a one-shot command passes a fresh dict): it remembers that the vocabulary
table exists on this connection and the stem forms read from it.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any, cast

from bot.domain.model import SearchFilters, SearchHit, Section
from bot.domain.search import FtsQuery, Highlighter, stem_forms
from bot.store import search_rank

RANK_CANDIDATES = 500  # the trigram top-up ranks the newest 500 substring matches
VOCABULARY = "temp.items_short_vocab"  # the word index's words (fts5vocab, per connection)
VOCABULARY_SCAN = 2000  # words read from one stem's prefix on, at most
VOCABULARY_CACHE = 1000  # query words whose stem forms one connection remembers
ANCHOR_ITEMS = 1000  # a trigram top-up is proven empty from a word in at most this many items
ANCHOR_OTHERS = 16  # ... and at most this many of its items not found yet, read and checked

Cache = MutableMapping[str, Any]


def search_items(
    conn: sqlite3.Connection,
    cache: Cache,
    query: FtsQuery,
    filters: SearchFilters,
    limit: int,
    *,
    any_term: bool = False,
    offset: int = 0,
) -> list[SearchHit]:
    """SQLite's answer to ``bot.store.archive.search_items`` (same contract)."""
    if query.mode == "empty":
        return []
    forms = index_stem_forms(conn, cache, query)
    ranked = _fts_ranked_ids(conn, query, forms, filters, offset + limit, any_term)[offset:]
    if not ranked:
        return []
    marked = [f for found in forms.values() for f in found]
    return load_hits(conn, ranked, Highlighter((*query.terms, *marked)))


def load_hits(conn: sqlite3.Connection, ranked: list[int], marker: Highlighter) -> list[SearchHit]:
    """The rows of the ranked item ids, in rank order, with their best snippet."""
    marks = ", ".join("?" * len(ranked))
    rows = conn.execute(
        "SELECT i.id, i.section, i.headline, i.title, i.url, i.summary, i.pick, s.key, "
        "p.identity FROM items i JOIN issues s ON s.id = i.issue_id "
        f"LEFT OUTER JOIN papers p ON p.id = i.paper_id WHERE i.id IN ({marks})",
        ranked,
    ).fetchall()
    return hits_in_order(rows, ranked, marker)


Row = tuple[int, str, str, str | None, str | None, str, Any, str, str | None]


def hits_in_order(rows: Iterable[Row], ranked: list[int], marker: Highlighter) -> list[SearchHit]:
    """Search hits from rows of (item id, section, headline, title, url, summary, pick, issue
    key, paper identity), in the order of ``ranked`` (every database's last step)."""
    by_id = {row[0]: row for row in rows}
    return [
        SearchHit(
            issue=key,
            section=cast(Section, section),
            headline=headline,
            title=title,
            url=url,
            paper=identity,
            snippet=marker.best_snippet(summary, title, headline),
            pick=bool(pick),
        )
        for _, section, headline, title, url, summary, pick, key, identity in (
            by_id[i] for i in ranked if i in by_id
        )
    ]


def _filter_sql(filters: SearchFilters) -> tuple[str, str, dict[str, object]]:
    joins = " JOIN items i ON i.id = f.rowid"
    where: list[str] = []
    params: dict[str, object] = {}
    if filters.section:
        where.append("i.section = :section")
        params["section"] = filters.section
    if filters.picks_only:
        where.append("i.pick = 1")
    if filters.year is not None:
        joins += " JOIN issues s ON s.id = i.issue_id"
        where.append("s.year = :year")
        params["year"] = filters.year
    return joins, "".join(f" AND {w}" for w in where), params


def index_stem_forms(
    conn: sqlite3.Connection, cache: Cache, query: FtsQuery
) -> dict[str, tuple[str, ...]]:
    """query word -> the index's other words of its stem (pruned -> pruning), read from the
    word index's vocabulary in the stem's prefix range (no table scan) and remembered by the
    connection until the database changes."""
    if not query.stems:
        return {}
    known = _vocabulary_cache(conn, cache)
    sql = f"SELECT term FROM {VOCABULARY} WHERE term >= :low AND term < :high LIMIT :n"
    found: dict[str, tuple[str, ...]] = {}
    for word in query.stems:
        if word.word not in known:
            vocabulary: list[str] = []
            for low, high in word.ranges:
                params = {"low": low, "high": high, "n": VOCABULARY_SCAN}
                vocabulary += [row[0] for row in conn.execute(sql, params)]
            known[word.word] = stem_forms(word, vocabulary)
        if forms := known[word.word]:
            found[word.word] = forms
    return found


def _vocabulary_cache(conn: sqlite3.Connection, info: Cache) -> dict[str, tuple[str, ...]]:
    """The stem forms this DBAPI connection has read, emptied whenever the database changed:
    ``data_version`` moves with other connections' commits, ``total_changes()`` with this
    one's. Reading a common word's range costs milliseconds; this check, microseconds."""
    if _SEEN not in info:
        conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {VOCABULARY} "
            "USING fts5vocab(main, items_short, row)"
        )
    version = tuple(
        conn.execute("SELECT total_changes(), data_version FROM pragma_data_version").fetchone()
    )
    if info.get(_SEEN) != version or len(info[_FORMS]) > VOCABULARY_CACHE:
        info[_SEEN], info[_FORMS] = version, {}
    forms: dict[str, tuple[str, ...]] = info[_FORMS]
    return forms


_SEEN = "digestbot.search.vocabulary_version"  # keys in the connection's cache
_FORMS = "digestbot.search.stem_forms"


# --- ranking (owned by the search-ranking work from here on) ---------------------------------


def _fts_ranked_ids(
    conn: sqlite3.Connection,
    query: FtsQuery,
    forms: dict[str, tuple[str, ...]],
    filters: SearchFilters,
    limit: int,
    any_term: bool,
) -> list[int]:
    """bm25 over the whole archive from the word index (common words: the impact lists of
    ``bot.store.search_rank``; few matches: FTS5 ranks them all); the trigram index only
    tops up with in-word substring matches."""
    ranked = search_rank.top_ids(conn, query, forms, filters, limit, any_term)
    if ranked is None:
        words = search_rank.word_match(conn, query, forms, any_term)
        ranked = _fts_top(conn, "items_short", words, filters, limit)
    trigram = query.trigram_match(any_term=any_term)
    if len(ranked) < limit and trigram and not _nothing_to_top_up(conn, query, ranked, any_term):
        more = _fts_top(conn, "items_fts", trigram, filters, limit, cap=RANK_CANDIDATES)
        ranked += [i for i in more if i not in ranked][: limit - len(ranked)]
    return ranked


def _nothing_to_top_up(
    conn: sqlite3.Connection, query: FtsQuery, ranked: list[int], any_term: bool
) -> bool:
    """True when the word index proves that the trigram index has no match beyond
    ``ranked`` (every word match, as there are fewer than asked for). A trigram phrase of
    several characters reads the long doclists of its common trigrams (an arXiv id's digits
    and dot: milliseconds per 100,000 items) to find, most often, the one item found already.

    A term such as ``2301.12345`` found inside a text has a separator before its last
    piece, so the text holds a word that starts with that piece (``12345``*), whatever comes
    before the term: the items of those words (one term's, or with ``any_term`` every
    term's) hold every trigram match. Those not in ``ranked`` (another id with the same last
    piece) are read: when none can hold the terms, nothing is added."""
    anchors = [anchor_word(edge) for edge in query.edges if len(edge) >= 3]
    cur = conn.cursor()
    try:  # a prefix's items, summed over its index words (None: too many words)
        sizes = {a: search_rank.prefix_items(cur, a) for a in anchors if a is not None}
    finally:
        cur.close()
    cheap = [a for a, n in sizes.items() if n is not None and n <= ANCHOR_ITEMS]
    if any_term:
        if not anchors or len(cheap) < len(anchors):
            return False
    elif not cheap:
        return False
    else:
        cheap = [min(cheap, key=lambda a: sizes[a] or 0)]  # every match holds each one
    match = " OR ".join(f'"{a}"*' for a in dict.fromkeys(cheap))
    rows = conn.execute(
        "SELECT rowid FROM items_short WHERE items_short MATCH ? LIMIT ?",
        (match, len(ranked) + ANCHOR_OTHERS + 1),
    ).fetchall()
    others = sorted({int(r[0]) for r in rows} - set(ranked))
    if len(others) > ANCHOR_OTHERS:
        return False
    if not others:
        return True
    edges = [e.lower() for e in query.edges if len(e) >= 3]
    found = conn.execute(
        "SELECT headline, title, summary, url FROM items "
        f"WHERE id IN ({', '.join('?' * len(others))})",
        others,
    ).fetchall()
    return none_may_hold(found, edges, any_term)


def none_may_hold(
    rows: Iterable[Sequence[str | None]], edges: Sequence[str], any_term: bool
) -> bool:
    """True when no row's columns can hold every lower-case edge (with ``any_term``: any)."""
    holds = any if any_term else all
    return not any(holds(may_hold(row, edge) for edge in edges) for row in rows)


def may_hold(columns: Iterable[str | None], edge: str) -> bool:
    """False only when no column can hold the lower-case ASCII ``edge`` as the trigram
    index compares (case folded): a column with a character that might fold to ASCII (K,
    the Kelvin sign; İ) counts as holding it."""
    for column in columns:
        if not column:
            continue
        folded = column.lower()
        if edge in folded:
            return True
        if not folded.isascii() and any(_foldable(c) for c in set(folded) if not c.isascii()):
            return True
    return False


def _foldable(char: str) -> bool:
    """True when a non-ASCII character might be taken for an ASCII letter or digit."""
    return any(c.isascii() and c.isalnum() for c in unicodedata.normalize("NFKD", char))


_ANCHOR = re.compile(r"[^a-z0-9_]([a-z0-9]+)\Z")  # the last piece after an ASCII separator


def anchor_word(edge: str) -> str | None:
    """The last piece of an ASCII term after a separator: every text holding the term has a
    word that starts with it (the separator ends the word before, in the word index as in the
    text). None for a single word: it may sit inside a longer one anywhere."""
    folded = edge.lower()
    if not folded.isascii():
        return None
    found = _ANCHOR.search(folded)
    return found.group(1) if found else None


def _fts_top(
    conn: sqlite3.Connection,
    table: str,
    match: str,
    filters: SearchFilters,
    limit: int,
    *,
    cap: int | None = None,
) -> list[int]:
    """FTS5's bm25 over every match (ids only; the caller then loads just the top rows), or
    with ``cap`` over the newest ``cap`` matches. A year filter also bounds the item ids to
    that year's, so FTS5 reads only their part of the index. Column weights: headline 4,
    title 3, summary 1, link 0.5; ties: newest first."""
    joins, where, params = _filter_sql(filters) if _has_filters(filters) else ("", "", {})
    if filters.year is not None:
        low, high = conn.execute(
            "SELECT min(i.id), max(i.id) FROM items i JOIN issues s ON s.id = i.issue_id "
            "WHERE s.year = ?",
            (filters.year,),
        ).fetchone()
        if low is None:
            return []
        where += " AND f.rowid BETWEEN :low AND :high"
        params |= {"low": low, "high": high}
    score = f"bm25({table}, 4.0, 3.0, 1.0, 0.5)"
    if cap is None:
        sql = (
            f"SELECT f.rowid FROM {table} f{joins} WHERE {table} MATCH :match{where} "
            f"ORDER BY {score}, f.rowid DESC LIMIT :limit"
        )
    else:
        sql = (
            f"SELECT item_id FROM (SELECT f.rowid AS item_id, {score} AS score FROM {table} "
            f"f{joins} WHERE {table} MATCH :match{where} ORDER BY f.rowid DESC LIMIT :cap) "
            "ORDER BY score, item_id DESC LIMIT :limit"
        )
        params["cap"] = cap
    params |= {"match": match, "limit": limit}
    return [int(row[0]) for row in conn.execute(sql, params)]


def _has_filters(filters: SearchFilters) -> bool:
    return bool(filters.section or filters.picks_only or filters.year is not None)
