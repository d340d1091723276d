"""The PostgreSQL search index (``bot.store.search_pg`` ranks from it): per item its tokens
(the SAME tokens as SQLite's word index) as a ``tsvector`` for the GIN index, as token texts per
column with the item's length for exact bm25, and the body for ``pg_trgm``; the statistics, the
words with their item counts, and the impact lists of the common words, kept on import as
``bot.store.search_rank`` keeps SQLite's (and with its pure functions), or built in one go by
``rebuild`` (migration 0011, ``digestbot db copy``). Removed items leave the counts by trigger
(migration 0011).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from bot.domain.search import short_index_text
from bot.store.search_rank import (
    LIST_LENGTH,
    LISTED,
    TRIM_SLACK,
    WEIGHTS,
    ItemText,
    Phrase,
    saturation,
    tokens,
)

DOCS = "items_short_pg"
TERMS = "items_short_pg_terms"
IMPACTS = "items_short_pg_impacts"
STATS = "items_short_pg_stats"
WEIGHT_LETTERS = ("A", "B", "C", "D")  # headline, title, summary, link
TOKEN_COLUMNS = ("tok_headline", "tok_title", "tok_summary", "tok_url")
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
MAX_LEXEME_BYTES = 2046
BATCH = 500

Row = tuple[int, str | None, str | None, str | None, str | None]  # id, headline, title, ...
Conn = Connection | Session

INDEXES = (  # (name, statement): made by ``rebuild``, which the migrations run
    (f"{DOCS}_doc", f"CREATE INDEX {DOCS}_doc ON {DOCS} USING GIN (doc)"),
    (f"{DOCS}_body", f"CREATE INDEX {DOCS}_body ON {DOCS} USING GIN (body gin_trgm_ops)"),
)


# ------------------------------------------------------------------ documents (pure)
def quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def field_tokens(*fields: str | None) -> list[list[str]]:
    """Per column, the word index's tokens (what SQLite's items_short holds)."""
    return [tokens(short_index_text(f)) for f in fields]


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
            if len(token.encode()) <= MAX_LEXEME_BYTES:
                places.setdefault(token, []).append(f"{position}{letter}")
        position = min(position + 1, MAX_POSITION)
    return " ".join(f"{quote(t)}:{','.join(p)}" for t, p in places.items())


def item_text(columns: list[list[str]]) -> ItemText:
    """``search_rank.ItemText`` of the tokens (what SQLite scores an item from)."""
    joined = tuple(" " + "  ".join(c) + " " if c else "" for c in columns)
    return ItemText(sum(len(c) for c in columns), joined)


def words_of(columns: list[list[str]]) -> set[str]:
    """The item's distinct words as the tsvector (and the item counts) hold them."""
    return {t for c in columns for t in c if len(t.encode()) <= MAX_LEXEME_BYTES}


def body(*fields: str | None) -> str:
    return "\n".join(f for f in fields if f)


# ------------------------------------------------------------------ index maintenance
def index_items(conn: Conn, rows: Sequence[Row]) -> None:
    """Index these (new) items: their rows, the statistics and word counts, their places in
    the impact lists, and new lists for words that became common (as ``search_rank`` does on
    SQLite)."""
    docs: Counter[str] = Counter()
    texts: dict[int, ItemText] = {}
    for start in range(0, len(rows), BATCH):
        part = rows[start : start + BATCH]
        columns = [field_tokens(*r[1:]) for r in part]
        batch = [item_text(c) for c in columns]
        _insert_docs(conn, part, columns, batch)
        for r, c, t in zip(part, columns, batch, strict=True):
            docs.update(words_of(c))
            texts[r[0]] = t
    if not rows:
        return
    conn.execute(
        text(f"UPDATE {STATS} SET rows = rows + :n, tokens = tokens + :len"),
        {"n": len(texts), "len": sum(t.length for t in texts.values())},
    )
    terms = sorted(docs)
    conn.execute(
        text(
            f"INSERT INTO {TERMS}(term, docs) SELECT * FROM unnest("
            "CAST(:terms AS text[]), CAST(:docs AS integer[])) "
            "ON CONFLICT (term) DO UPDATE SET docs = items_short_pg_terms.docs + excluded.docs"
        ),
        {"terms": terms, "docs": [docs[t] for t in terms]},
    )
    listed: dict[str, tuple[float, float]] = {}
    promote: list[str] = []
    found = conn.execute(
        text(
            f"SELECT term, docs, floor, ref_length FROM {TERMS} "
            "WHERE term = ANY(CAST(:terms AS text[])) AND (floor IS NOT NULL OR docs >= :listed)"
        ),
        {"terms": terms, "listed": LISTED},
    )
    for term, _count, floor, ref in found:
        if floor is not None:
            listed[str(term)] = (float(floor), float(ref))
        else:
            promote.append(str(term))
    added: list[tuple[str, float, int]] = []
    for item_id, item in texts.items():
        for term, freq in item.freqs().items():
            entry = listed.get(term)
            if entry is not None:
                impact = saturation(freq, item.length, entry[1])
                if impact > entry[0]:
                    added.append((term, impact, item_id))
    if added:
        _insert_impacts(conn, added)
        grown = Counter(term for term, _, _ in added)
        names = sorted(grown)
        full = conn.execute(
            text(
                f"UPDATE {TERMS} t SET pending = t.pending + g.n FROM unnest("
                "CAST(:terms AS text[]), CAST(:n AS integer[])) g(term, n) "
                "WHERE t.term = g.term RETURNING t.term, t.pending"
            ),
            {"terms": names, "n": [grown[t] for t in names]},
        )
        for term in sorted(str(t) for t, pending in full if pending > TRIM_SLACK):
            _trim(conn, term)
    for term in sorted(promote):
        build_list(conn, term)


def _insert_docs(
    conn: Conn, part: Sequence[Row], columns: list[list[list[str]]], texts: list[ItemText]
) -> None:
    names = ", ".join(TOKEN_COLUMNS)
    casts = ", ".join(f"CAST(:c{n} AS text[])" for n in range(len(TOKEN_COLUMNS)))
    conn.execute(
        text(
            f"INSERT INTO {DOCS}(item_id, doc, body, length, {names}) SELECT * FROM unnest("
            "CAST(:ids AS integer[]), CAST(:docs AS tsvector[]), CAST(:bodies AS text[]), "
            f"CAST(:lengths AS integer[]), {casts})"
        ),
        {
            "ids": [r[0] for r in part],
            "docs": [_document(c) for c in columns],
            "bodies": [body(*r[1:]) for r in part],
            "lengths": [t.length for t in texts],
            **{f"c{n}": [t.joined[n] for t in texts] for n in range(len(TOKEN_COLUMNS))},
        },
    )


def _insert_impacts(conn: Conn, rows: Sequence[tuple[str, float, int]]) -> None:
    for start in range(0, len(rows), 20_000):
        part = rows[start : start + 20_000]
        conn.execute(
            text(
                f"INSERT INTO {IMPACTS}(term, impact, item_id) SELECT * FROM unnest("
                "CAST(:terms AS text[]), CAST(:impacts AS float8[]), CAST(:ids AS integer[])) "
                "ON CONFLICT DO NOTHING"
            ),
            {
                "terms": [r[0] for r in part],
                "impacts": [r[1] for r in part],
                "ids": [r[2] for r in part],
            },
        )


def _trim(conn: Conn, term: str) -> None:
    """Cut a grown list back to LIST_LENGTH items; the floor rises to the cut (SQLite's)."""
    cut = conn.execute(
        text(
            f"SELECT impact FROM {IMPACTS} WHERE term = :t "
            "ORDER BY impact DESC, item_id DESC OFFSET :n LIMIT 1"
        ),
        {"t": term, "n": LIST_LENGTH},
    ).first()
    if cut is not None:
        conn.execute(
            text(f"DELETE FROM {IMPACTS} WHERE term = :t AND impact <= :cut"),
            {"t": term, "cut": cut[0]},
        )
        conn.execute(
            text(f"UPDATE {TERMS} SET floor = greatest(floor, :cut) WHERE term = :t"),
            {"t": term, "cut": cut[0]},
        )
    conn.execute(text(f"UPDATE {TERMS} SET pending = 0 WHERE term = :t"), {"t": term})


def table_stats(conn: Conn) -> tuple[int, float]:
    """(items, average item length in tokens): FTS5's row count and avgdl."""
    found = conn.execute(text(f"SELECT rows, tokens FROM {STATS} WHERE id = 1")).first()
    rows = int(found[0]) if found else 0
    return rows, (int(found[1]) / rows if found and rows else 1.0)


def build_list(conn: Conn, term: str) -> None:
    """(Re)build the impact list of ``term`` from every item that holds it."""
    stored, avgdl = table_stats(conn)
    phrase = Phrase((term,), False)
    found = conn.execute(
        text(
            f"SELECT d.item_id, d.length, {count_sql('p')} "
            f"FROM {texts_sql('doc @@ CAST(:q AS tsquery)')} d"
        ),
        {"p": phrase.pattern(), "q": quote(term)},
    ).all()
    freqs = [(int(i), int(n), weighted_freq(counts)) for i, n, *counts in found]
    ref = avgdl if stored >= LISTED else sum(n for _, n, _ in freqs) / max(1, len(freqs))
    kept, floor = best_of((saturation(f, n, ref), i) for i, n, f in freqs)
    conn.execute(text(f"DELETE FROM {IMPACTS} WHERE term = :t"), {"t": term})
    _insert_impacts(conn, [(term, impact, item_id) for impact, item_id in kept])
    conn.execute(
        text(f"UPDATE {TERMS} SET floor = :floor, ref_length = :ref, pending = 0 WHERE term = :t"),
        {"t": term, "floor": floor, "ref": ref},
    )


def best_of(impacts: Iterable[tuple[float, int]]) -> tuple[list[tuple[float, int]], float]:
    """The list (best LIST_LENGTH (impact, item id), ties newest first) and its floor (the
    best impact left out, 0 when none is)."""
    best = heapq.nlargest(LIST_LENGTH + 1, impacts)
    floor = best[LIST_LENGTH][0] if len(best) > LIST_LENGTH else 0.0
    return best[:LIST_LENGTH], floor


def rebuild(conn: Conn) -> None:
    """Index every item again (migration 0011, ``digestbot db copy``), all in the caller's
    transaction: the rows first, then the statistics and every common word's list from one
    more pass; the GIN indexes are built after the rows are in (a bulk build is several times
    faster than row by row)."""
    for name, _ in INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    conn.execute(text(f"TRUNCATE {DOCS}, {TERMS}, {IMPACTS}"))
    docs: Counter[str] = Counter()
    rows = total = 0
    found = conn.execute(text("SELECT id, headline, title, summary, url FROM items ORDER BY id"))
    items: list[Row] = [(int(r[0]), r[1], r[2], r[3], r[4]) for r in found]
    for start in range(0, len(items), BATCH):
        part = items[start : start + BATCH]
        columns = [field_tokens(*r[1:]) for r in part]
        texts = [item_text(c) for c in columns]
        _insert_docs(conn, part, columns, texts)
        for c, t in zip(columns, texts, strict=True):
            docs.update(words_of(c))
            rows, total = rows + 1, total + t.length
    conn.execute(text(f"UPDATE {STATS} SET rows = :n, tokens = :len"), {"n": rows, "len": total})
    avgdl = total / rows if rows else 1.0
    heaps: dict[str, list[tuple[float, int]]] = {t: [] for t, n in docs.items() if n >= LISTED}
    if heaps:
        for start in range(0, len(items), BATCH):  # the lists, from the stored token texts
            ids = [r[0] for r in items[start : start + BATCH]]
            stored = conn.execute(
                text(
                    f"SELECT item_id, length, {', '.join(TOKEN_COLUMNS)} FROM {DOCS} "
                    "WHERE item_id = ANY(CAST(:ids AS integer[]))"
                ),
                {"ids": ids},
            )
            for item_id, length, *joined in stored:
                for term, freq in ItemText(int(length), tuple(joined)).freqs().items():
                    heap = heaps.get(term)
                    if heap is None:
                        continue
                    entry = (saturation(freq, int(length), avgdl), int(item_id))
                    if len(heap) <= LIST_LENGTH:
                        heapq.heappush(heap, entry)
                    elif entry > heap[0]:
                        heapq.heapreplace(heap, entry)
    floors: dict[str, float] = {}
    impacts: list[tuple[str, float, int]] = []
    for term, heap in heaps.items():
        kept, floors[term] = best_of(heap)
        impacts += [(term, impact, item_id) for impact, item_id in kept]
    terms = sorted(docs)
    conn.execute(
        text(
            f"INSERT INTO {TERMS}(term, docs, floor, ref_length) SELECT * FROM unnest("
            "CAST(:terms AS text[]), CAST(:docs AS integer[]), CAST(:floors AS float8[]), "
            "CAST(:refs AS float8[]))"
        ),
        {
            "terms": terms,
            "docs": [docs[t] for t in terms],
            "floors": [floors.get(t) for t in terms],
            "refs": [avgdl if t in floors else 1.0 for t in terms],
        },
    )
    _insert_impacts(conn, impacts)
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _, create in INDEXES:
        conn.execute(text(create))


# ------------------------------------------------------------------ phrase counts in SQL
def texts_sql(where: str) -> str:
    """The rows of ``where`` (over ``items_short_pg``) with their token texts decompressed
    once (``count_sql`` reads each column twice), as a derived table to name ``d``."""
    copies = ", ".join(f"{c} || '' AS {c}" for c in TOKEN_COLUMNS)
    return f"(SELECT item_id, length, {copies} FROM {DOCS} WHERE {where} OFFSET 0)"


def count_sql(param: str) -> str:
    """Per token column, how often the phrase pattern ``:param`` occurs (``str.count``)."""
    return ", ".join(
        f"(octet_length(d.{c}) - octet_length(replace(d.{c}, :{param}, ''))) "
        f"/ octet_length(:{param})"
        for c in TOKEN_COLUMNS
    )


def weighted_freq(counts: Sequence[int]) -> float:
    """A phrase's weighted frequency from its per-column counts (``Phrase.freq``)."""
    return sum(w * n for w, n in zip(WEIGHTS, counts, strict=True) if n)
