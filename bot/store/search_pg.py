"""How PostgreSQL searches the archive, ranked like SQLite (migration 0009 makes the tables).

``items_short_pg`` holds, per item, a ``tsvector`` of the SAME tokens as SQLite's word index
(``short_index_text`` then ``search_rank.tokens``: CJK runs as unigrams then bigrams, other
words whole, lower case, accents and ``_`` folded), written here as a tsvector literal with
positions and column weights (headline A, title B, summary C, link D), so no PostgreSQL text
search configuration or parser is involved; a GIN index serves it. Ranking is ``ts_rank_cd``
with weights in SQLite's bm25 proportions (4 : 3 : 1 : 0.5), ties newest first, over every
match (or the newest ``WORD_CANDIDATES``). ``body``
(the four columns joined) has a ``pg_trgm`` GIN index for in-word substrings (gan in BigGAN),
used, as on SQLite, only to top up when the words find fewer items than asked for.
``items_short_pg_words`` is the vocabulary (``COLLATE "C"``, so ranges are byte order) from
which the other words of a query word's stem are read (``bot.domain.search.stem_forms``).

The tables' names start with ``items_short_`` so the schema check leaves them out
(``bot.store.fts``); their rows go with their items (``ON DELETE CASCADE``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from bot.domain.model import SearchFilters
from bot.domain.search import FtsQuery, cjk_tokens, short_index_text, stem_forms
from bot.store.search_rank import tokens

DOCS = "items_short_pg"
WORDS = "items_short_pg_words"
WEIGHT_LETTERS = ("A", "B", "C", "D")  # headline, title, summary, link
RANK_WEIGHTS = "{0.125, 0.25, 0.75, 1.0}"  # {D, C, B, A}: SQLite's 0.5, 1, 3, 4 over 4
# divide by the item's number of distinct words: longer items rank lower, as bm25's length
# normalisation does (of 0, 1, 2, 3, 8, 16, 17, 18, the closest to SQLite's order on the
# test archive: tests/integration/test_search_parity.py)
NORMALIZATION = 8
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
MAX_LEXEME_BYTES = 2046
RANK_CANDIDATES = 500  # the trigram top-up ranks the newest 500 substring matches
# None: the words rank every match (like SQLite). A number ranks only the newest that many:
# ts_rank_cd reads each match's whole tsvector, so ranking every match of a word found in a
# third of 100,000 items takes 0.1-0.6 s; 1,000 cut the p95 by about half to two thirds but
# the best hit then agreed with SQLite's far less often (benchmarks/bench_search_pg.py)
WORD_CANDIDATES: int | None = None
VOCABULARY_SCAN = 2000
BATCH = 500
# a query segment that is a CJK run (the ranges of bot.domain.search, whose segments these are)
CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")

Row = tuple[int, str | None, str | None, str | None, str | None]  # id, headline, title, ...

MIGRATION_UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"""CREATE TABLE {DOCS} (
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        doc TSVECTOR NOT NULL,
        body TEXT NOT NULL
    )""",
    f'CREATE TABLE {WORDS} (term TEXT COLLATE "C" PRIMARY KEY)',
)
INDEXES = (  # (name, statement): made by ``rebuild``, which the migration runs
    (f"{DOCS}_doc", f"CREATE INDEX {DOCS}_doc ON {DOCS} USING GIN (doc)"),
    (f"{DOCS}_body", f"CREATE INDEX {DOCS}_body ON {DOCS} USING GIN (body gin_trgm_ops)"),
)
MIGRATION_DOWN = (f"DROP TABLE IF EXISTS {WORDS}", f"DROP TABLE IF EXISTS {DOCS}")


# ------------------------------------------------------------------ documents (pure)
def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def field_tokens(*fields: str | None) -> list[list[str]]:
    """Per column, the word index's tokens (what SQLite's items_short holds)."""
    return [
        [t for t in tokens(short_index_text(f)) if len(t.encode()) <= MAX_LEXEME_BYTES]
        for f in fields
    ]


def document(headline: str | None, title: str | None, summary: str | None, url: str | None) -> str:
    """The tsvector literal of one item: every token at its position with its column's
    weight (positions run on across the columns, one apart, so no phrase spans two)."""
    return _document(field_tokens(headline, title, summary, url))


def _document(columns: list[list[str]]) -> str:
    places: dict[str, list[str]] = {}
    position = 0
    for letter, column in zip(WEIGHT_LETTERS, columns, strict=True):
        for token in column:
            position = min(position + 1, MAX_POSITION)
            places.setdefault(token, []).append(f"{position}{letter}")
        position = min(position + 1, MAX_POSITION)
    return " ".join(f"{_quote(t)}:{','.join(p)}" for t, p in places.items())


def body(*fields: str | None) -> str:
    return "\n".join(f for f in fields if f)


# ------------------------------------------------------------------ index maintenance
def index_items(conn: Connection | Session, rows: Sequence[Row]) -> None:
    """Index these (new) items and add their words to the vocabulary: one statement per
    batch of rows and one for their words (arrays, unnested by the server)."""
    for start in range(0, len(rows), BATCH):
        part = rows[start : start + BATCH]
        columns = [field_tokens(*r[1:]) for r in part]
        conn.execute(
            text(
                f"INSERT INTO {DOCS}(item_id, doc, body) SELECT * FROM unnest("
                "CAST(:ids AS integer[]), CAST(:docs AS tsvector[]), CAST(:bodies AS text[]))"
            ),
            {
                "ids": [r[0] for r in part],
                "docs": [_document(c) for c in columns],
                "bodies": [body(*r[1:]) for r in part],
            },
        )
        words = sorted({t for c in columns for column in c for t in column})
        if words:
            conn.execute(
                text(
                    f"INSERT INTO {WORDS}(term) SELECT unnest(CAST(:terms AS text[])) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"terms": words},
            )


def rebuild(conn: Connection | Session) -> None:
    """Index every item again (migration 0009, ``digestbot db copy``): the GIN indexes are
    dropped and built again after the rows are in (a bulk build is several times faster
    than row by row), all in the caller's transaction."""
    for name, _ in INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    conn.execute(text(f"DELETE FROM {DOCS}"))
    conn.execute(text(f"DELETE FROM {WORDS}"))
    rows = conn.execute(text("SELECT id, headline, title, summary, url FROM items ORDER BY id"))
    index_items(conn, [(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows])
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _, create in INDEXES:
        conn.execute(text(create))


# ------------------------------------------------------------------ queries
def stem_vocabulary(conn: Connection | Session, query: FtsQuery) -> dict[str, tuple[str, ...]]:
    """query word -> the index's other words of its stem, read from the vocabulary's
    ranges (an index range scan each)."""
    found: dict[str, tuple[str, ...]] = {}
    sql = text(f"SELECT term FROM {WORDS} WHERE term >= :low AND term < :high LIMIT :n")
    for word in query.stems:
        vocabulary: list[str] = []
        for low, high in word.ranges:
            params = {"low": low, "high": high, "n": VOCABULARY_SCAN}
            vocabulary += [str(r[0]) for r in conn.execute(sql, params)]
        if forms := stem_forms(word, vocabulary):
            found[word.word] = forms
    return found


def _phrase(parts: list[str], *, prefix_last: bool) -> str:
    quoted = [_quote(p) for p in parts]
    if prefix_last:
        quoted[-1] += ":*"
    return quoted[0] if len(quoted) == 1 else "(" + " <-> ".join(quoted) + ")"


def _segment(segment: str, forms: Sequence[str]) -> str | None:
    if CJK_RUN.fullmatch(segment):
        grams = [segment] if len(segment) <= 2 else cjk_tokens(segment)[len(segment) :]
        return _phrase(grams, prefix_last=False)  # consecutive bigrams: an exact phrase
    parts = tokens(segment)
    if not parts:
        return None
    alternatives = [_phrase(parts, prefix_last=True), *(_quote(f) for f in forms)]
    return alternatives[0] if len(alternatives) == 1 else "(" + " | ".join(alternatives) + ")"


def ts_query(
    query: FtsQuery, forms: dict[str, tuple[str, ...]], *, any_term: bool = False
) -> str | None:
    """The tsquery literal SQLite's ``FtsQuery.word_match`` would be, or None (no words)."""
    clauses: list[str] = []
    for segments in query.segments:
        parts = [p for s in segments if (p := _segment(s, forms.get(s, ()))) is not None]
        if parts:
            clauses.append(parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")")
        elif not any_term:
            return None
    if not clauses:
        return None
    return (" | " if any_term else " & ").join(clauses)


def _filters(filters: SearchFilters) -> tuple[str, dict[str, Any]]:
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
    return "".join(f" AND {w}" for w in where), params


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ranked_ids(
    conn: Connection | Session,
    query: FtsQuery,
    forms: dict[str, tuple[str, ...]],
    filters: SearchFilters,
    limit: int,
    any_term: bool,
) -> list[int]:
    """The ``limit`` best item ids: ts_rank_cd over every word match (ties newest first),
    topped up with substring matches of the terms of 3+ characters."""
    where, params = _filters(filters)
    joins = " JOIN items i ON i.id = d.item_id JOIN issues s ON s.id = i.issue_id"
    ranked: list[int] = []
    match = ts_query(query, forms, any_term=any_term)
    if match is not None:
        cap = "" if WORD_CANDIDATES is None else " ORDER BY d.item_id DESC LIMIT :cap"
        sql = (
            f"SELECT item_id FROM (SELECT d.item_id, d.doc FROM {DOCS} d{joins} "
            f"WHERE d.doc @@ CAST(:q AS tsquery){where}{cap}) c "
            f"ORDER BY ts_rank_cd('{RANK_WEIGHTS}', c.doc, CAST(:q AS tsquery), {NORMALIZATION}) "
            "DESC, c.item_id DESC LIMIT :limit"
        )
        bound = {**params, "q": match, "cap": WORD_CANDIDATES, "limit": limit}
        rows = conn.execute(text(sql), bound)
        ranked = [int(r[0]) for r in rows]
    long = [e for e in query.edges if len(e) >= 3]
    if len(ranked) >= limit or not long or (not any_term and len(long) < len(query.edges)):
        return ranked
    likes = {f"t{n}": _like(e) for n, e in enumerate(long)}
    found = (" OR " if any_term else " AND ").join(f"d.body ILIKE :{k}" for k in likes)
    score = " + ".join(
        f"(CASE WHEN i.{column} ILIKE :{k} THEN {weight} ELSE 0 END)"
        for k in likes
        for column, weight in (("headline", 4), ("title", 3), ("summary", 1), ("url", 0.5))
    )
    sql = (
        f"SELECT item_id FROM (SELECT d.item_id, {score} AS score FROM {DOCS} d{joins} "
        f"WHERE ({found}){where} ORDER BY d.item_id DESC LIMIT :cap) c "
        "ORDER BY score DESC, item_id DESC LIMIT :limit"
    )
    rows = conn.execute(text(sql), {**params, **likes, "cap": RANK_CANDIDATES, "limit": limit})
    seen = set(ranked)
    more = [int(r[0]) for r in rows if int(r[0]) not in seen]
    return ranked + more[: limit - len(ranked)]
