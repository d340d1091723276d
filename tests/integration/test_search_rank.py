"""Search ranks the whole archive by bm25 (issue 7): the impact lists and the threshold
algorithm of ``bot.store.search_rank`` give FTS5's own full ranking, and import, re-import
and removal keep the lists and word counts right.

The lists are sized for large archives; these tests shrink them (``small_lists``) so that a
few hundred items already take the list path, and check that it was taken."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from bot.app import Container
from bot.domain.model import ParsedIssue, ParsedItem, SearchFilters, Section
from bot.domain.search import build_query
from bot.store import search_rank, search_sqlite
from tests.builders import item, store, weekly

#: tests that read SQLite's FTS5 tables and its own bm25 directly (PostgreSQL has its own lists)
FTS5 = pytest.mark.sqlite_only("compares the lists with SQLite FTS5's own bm25 and tables")

WORDS = (
    *("model", "models", "modeling", "training", "trained", "image", "images", "imagenet"),
    *("attention", "sparse", "expert", "experts", "pruning", "pruned", "network", "graph"),
    *("token", "layer", "the", "of", "a", "data", "robust", "fast"),
)
CJK = ("模型", "训练", "图像", "注意力", "语言模型", "剪枝", "图", "网络", "数据")
FILLER = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")
SECTIONS: tuple[Section, ...] = ("papers", "articles", "use_cases", "other")
QUERIES = (
    "model",  # a prefix with several index words (models, modeling)
    "image",
    "models",
    "pruned",  # stems: pruned finds pruning
    "the",
    "model training",
    "sparse experts",
    "模型",
    "图",
    "注意力",  # a CJK phrase (its bigrams)
    "语言模型",
    "模型 training",
)


def _text(rng: random.Random, n: int, chinese: bool) -> str:
    words: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.45:
            words.append(rng.choice(FILLER))
        elif chinese and roll < 0.75:
            words.append(rng.choice(CJK))
        else:
            words.append(WORDS[min(int(rng.expovariate(0.18)), len(WORDS) - 1)])
    return " ".join(words)


def synthetic(n_issues: int, per_issue: int, seed: int = 7) -> list[ParsedIssue]:
    rng = random.Random(seed)
    issues = []
    for number in range(n_issues):
        year, week = 2015 + number // 40, number % 40 + 1
        items: list[ParsedItem] = []
        for pos in range(1, per_issue + 1):
            chinese = rng.random() < 0.4
            items.append(
                item(
                    pos,
                    _text(rng, rng.randint(2, 7), chinese),
                    arxiv=f"{year % 100:02d}{week:02d}.{pos:05d}",
                    title=_text(rng, rng.randint(3, 9), chinese),
                    summary=_text(rng, rng.randint(5, 60), chinese),
                    section=rng.choice(SECTIONS),
                    pick=rng.random() < 0.2,
                )
            )
        issues.append(weekly(f"{year}-W{week:02d}", items))
    return issues


@pytest.fixture
def small_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists and thresholds for a few hundred items instead of a few hundred thousand."""
    monkeypatch.setattr(search_rank, "LISTED", 12)
    monkeypatch.setattr(search_rank, "LIST_LENGTH", 60)
    monkeypatch.setattr(search_rank, "TRIM_SLACK", 6)
    monkeypatch.setattr(search_rank, "CHEAP", 40)
    monkeypatch.setattr(search_rank, "CHUNK", 5)
    monkeypatch.setattr(search_rank, "MIN_SEEN", 400)  # never give up for time here
    monkeypatch.setattr(search_rank, "RARE", 4)
    monkeypatch.setattr(search_rank, "RARE_ITEMS", 12)


@contextmanager
def raw(app: Container) -> Iterator[sqlite3.Connection]:
    with Session(app.sync_engine) as session:
        yield session.connection().connection.driver_connection  # type: ignore[misc]


def exact(
    conn: sqlite3.Connection, text: str, k: int, filters: SearchFilters, any_term: bool = False
) -> list[int]:
    """FTS5's bm25 over every match: the ranking to agree with."""
    query = build_query(text, 200)
    forms = search_sqlite.index_stem_forms(conn, {}, query)
    match = query.word_match(forms, any_term=any_term)
    return search_sqlite._fts_top(conn, "items_short", match, filters, k)


def listed(
    conn: sqlite3.Connection, text: str, k: int, filters: SearchFilters, any_term: bool = False
) -> list[int] | None:
    query = build_query(text, 200)
    forms = search_sqlite.index_stem_forms(conn, {}, query)
    return search_rank.top_ids(conn, query, forms, filters, k, any_term)


def check_index(conn: sqlite3.Connection) -> None:
    """Word counts equal FTS5's; every list holds its word's best items with their impacts,
    and nothing outside a list beats its floor."""
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING fts5vocab(main, items_short, row)"
    )
    fts = dict(conn.execute("SELECT term, doc FROM temp.v").fetchall())
    ours = dict(conn.execute("SELECT term, docs FROM items_short_terms").fetchall())
    assert ours == fts
    texts = {
        row[0]: search_rank.ItemText.of(row[1:])
        for row in conn.execute("SELECT rowid, headline, title, summary, url FROM items_short")
    }
    stored: dict[str, dict[int, float]] = {}
    for term, impact, item_id in conn.execute(
        "SELECT term, impact, item_id FROM items_short_impacts"
    ):
        assert item_id in texts
        stored.setdefault(term, {})[item_id] = impact
    floors = conn.execute(
        "SELECT term, floor, ref_length FROM items_short_terms WHERE floor IS NOT NULL"
    ).fetchall()
    assert floors, "no list to check"
    refs = {term: ref for term, _, ref in floors}
    for term, floor, _ in floors:
        members = stored.get(term, {})
        for item_id, text in texts.items():
            freq = text.freqs().get(term, 0.0)
            if not freq:
                assert item_id not in members
                continue
            impact = search_rank.saturation(freq, text.length, refs[term])
            if item_id in members:
                assert members[item_id] == pytest.approx(impact)
            else:
                assert impact <= floor + 1e-12, (term, item_id)


async def test_an_old_best_match_outranks_hundreds_of_newer_weak_ones(app: Container) -> None:
    """The newest-500 cap put an old, best match out of reach; the whole archive ranks now."""
    best = item(1, "Model model: a model of models", arxiv="1001.00001", title="Model models")
    await store(app, weekly("2010-W01", [best]))
    filler = " ".join(FILLER * 4)
    for n in range(30):
        weak = [
            item(p, f"Weekly note {n} {p}", arxiv=f"2{n:03d}.{p:05d}", summary=f"{filler} model")
            for p in range(1, 21)
        ]
        await store(app, weekly(f"{2011 + n // 40}-W{n % 40 + 1:02d}", weak))
    hits = (await app.archive.search("model")).hits
    assert hits[0].headline == best.headline


@FTS5
async def test_list_path_finds_the_old_best_match_too(app: Container, small_lists: None) -> None:
    best = item(1, "Model model: a model of models", arxiv="1001.00001", title="Model models")
    await store(app, weekly("2010-W01", [best]))
    filler = " ".join(FILLER * 4).split(" ")
    for n in range(10):
        weak = [
            item(
                p,
                f"Weekly note {n} {p}",
                arxiv=f"2{n:03d}.{p:05d}",
                summary=" ".join(filler[: 5 + (n * 7 + p * 3) % 31]) + " model",
            )
            for p in range(1, 21)
        ]
        await store(app, weekly(f"{2011 + n // 40}-W{n % 40 + 1:02d}", weak))
    with raw(app) as conn:
        assert listed(conn, "model", 10, SearchFilters()) is not None  # the lists decided
    hits = (await app.archive.search("model")).hits
    assert hits[0].headline == best.headline


@pytest.fixture
async def archive(app: Container, small_lists: None) -> Container:
    await store(app, *synthetic(24, 15))  # 360 items
    return app


@FTS5
@pytest.mark.parametrize("query", QUERIES)
async def test_lists_agree_with_full_bm25(archive: Container, query: str) -> None:
    with raw(archive) as conn:
        for k in (1, 10, 25):
            mine = listed(conn, query, k, SearchFilters())
            want = exact(conn, query, k, SearchFilters())
            if mine is not None:
                assert mine == want, (query, k)


@FTS5
async def test_most_queries_take_the_list_path(archive: Container) -> None:
    with raw(archive) as conn:
        decided = [q for q in QUERIES if listed(conn, q, 10, SearchFilters()) is not None]
    assert decided == list(QUERIES)


@FTS5
async def test_any_word_agrees_with_full_bm25(archive: Container) -> None:
    with raw(archive) as conn:
        for query in ("model zebra", "模型 图像 giraffe", "pruned experts"):
            mine = listed(conn, query, 10, SearchFilters(), any_term=True)
            assert mine is not None
            assert mine == exact(conn, query, 10, SearchFilters(), any_term=True)


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(section="articles"),
        SearchFilters(picks_only=True),
        SearchFilters(section="papers", picks_only=True),
        SearchFilters(year=2015),
    ],
)
@FTS5
async def test_filters_agree_with_full_bm25(archive: Container, filters: SearchFilters) -> None:
    with raw(archive) as conn:
        for query in ("model", "模型", "image"):
            mine = listed(conn, query, 10, filters)
            want = exact(conn, query, 10, filters)
            assert want, query
            if mine is not None:
                assert mine == want, (query, filters)


@FTS5
async def test_a_year_reads_its_id_range_only_and_loses_nothing(archive: Container) -> None:
    with raw(archive) as conn:
        for text in ("model", "模型"):
            query = build_query(text, 200)
            match = query.word_match(search_sqlite.index_stem_forms(conn, {}, query))
            joined = conn.execute(  # the plain join, without the id range
                "SELECT f.rowid FROM items_short f JOIN items i ON i.id = f.rowid "
                "JOIN issues s ON s.id = i.issue_id WHERE items_short MATCH ? AND s.year = ? "
                "ORDER BY bm25(items_short, 4.0, 3.0, 1.0, 0.5), f.rowid DESC LIMIT 10",
                (match, 2015),
            ).fetchall()
            assert [r[0] for r in joined] == exact(conn, text, 10, SearchFilters(year=2015))
            assert exact(conn, text, 10, SearchFilters(year=1999)) == []


@FTS5
async def test_pages_follow_the_full_ranking_without_overlap(archive: Container) -> None:
    pages = []
    for offset in range(0, 30, 10):
        result = await archive.archive.search("model", limit=10, offset=offset)
        pages += [(h.issue, h.headline) for h in result.hits]
    assert len(pages) == len(set(pages)) == 30
    with raw(archive) as conn:
        want = exact(conn, "model", 30, SearchFilters())
        rows = dict(
            (i, (key, headline))
            for i, key, headline in conn.execute(
                "SELECT i.id, s.key, i.headline FROM items i JOIN issues s ON s.id = i.issue_id"
            )
        )
    assert pages == [rows[i] for i in want]


@FTS5
async def test_chinese_and_stems_through_the_service(archive: Container) -> None:
    for query in ("模型", "图", "语言模型", "pruned"):
        hits = (await archive.archive.search(query, limit=10)).hits
        with raw(archive) as conn:
            want = exact(conn, query, 10, SearchFilters())
            heads = dict(conn.execute("SELECT id, headline FROM items").fetchall())
        assert [h.headline for h in hits] == [heads[i] for i in want], query


@FTS5
async def test_import_keeps_the_lists_right(archive: Container) -> None:
    with raw(archive) as conn:
        check_index(conn)


@FTS5
async def test_reimport_and_removal_keep_the_lists_right(archive: Container) -> None:
    changed = synthetic(24, 15, seed=99)[:6]  # same keys, other contents: updated in place
    await store(archive, *changed)
    with raw(archive) as conn:
        check_index(conn)
        assert listed(conn, "model", 10, SearchFilters()) == exact(
            conn, "model", 10, SearchFilters()
        )
    for key in (changed[0].key, "2015-W10"):
        assert (await archive.archive.remove(key)).items > 0
    with raw(archive) as conn:
        check_index(conn)
        gone = conn.execute(
            "SELECT count(*) FROM items_short_impacts WHERE item_id NOT IN (SELECT id FROM items)"
        ).fetchone()
        assert gone == (0,)
        for query in ("model", "模型"):
            mine = listed(conn, query, 10, SearchFilters())
            if mine is not None:
                assert mine == exact(conn, query, 10, SearchFilters())


@FTS5
async def test_rebuild_gives_the_same_lists_as_import(archive: Container) -> None:
    with raw(archive) as conn:
        before = conn.execute("SELECT term, docs FROM items_short_terms ORDER BY term").fetchall()
        cur = conn.cursor()
        search_rank.rebuild(cur)
        after = conn.execute("SELECT term, docs FROM items_short_terms ORDER BY term").fetchall()
        assert after == before
        check_index(conn)
        conn.rollback()


def phrases_of(conn: sqlite3.Connection, text: str) -> tuple[str, list[search_rank.Phrase]]:
    query = build_query(text, 200)
    forms = search_sqlite.index_stem_forms(conn, {}, query)
    clauses = search_rank.query_phrases(query, forms)
    return query.word_match(forms), [p for c in clauses for s in c for p in s]


@FTS5
async def test_fts5_scores_the_conjunction_of_the_phrases_as_the_query(
    archive: Container,
) -> None:
    """What the conjunction path stands on: bm25 sums over the expression's phrases whatever
    its operators, so an item holding every phrase scores the same under both."""
    sql = (
        "SELECT rowid, bm25(items_short, 4.0, 3.0, 1.0, 0.5) FROM items_short "
        "WHERE items_short MATCH ?"
    )
    compared = 0
    with raw(archive) as conn:
        for text in ("pruned", "sparse experts", "model 模型", "models training"):
            match, phrases = phrases_of(conn, text)
            assert len(phrases) > 1
            full = dict(conn.execute(sql, (match,)).fetchall())
            conj = " AND ".join(p.fts() for p in phrases)
            for item_id, score in conn.execute(sql, (conj,)).fetchall():
                assert full[item_id] == score, (text, item_id)
                compared += 1
    assert compared > 20


@FTS5
@pytest.mark.parametrize("any_term", [False, True])
async def test_the_conjunction_path_agrees_with_full_bm25_without_reading_lists(
    archive: Container, monkeypatch: pytest.MonkeyPatch, any_term: bool
) -> None:
    def no_lists(*_: object) -> None:
        return None  # so whatever is decided, the conjunction path decided

    monkeypatch.setattr(search_rank, "_threshold", no_lists)
    decided = []
    with raw(archive) as conn:
        for text in ("pruned", "sparse experts", "model 模型", "models training", "experts"):
            for filters in (SearchFilters(), SearchFilters(section="papers", picks_only=True)):
                if (mine := listed(conn, text, 10, filters, any_term)) is not None:
                    assert mine == exact(conn, text, 10, filters, any_term), (text, filters)
                    decided.append(text)
    assert len(decided) >= 3


@FTS5
async def test_a_rare_form_is_scored_item_by_item(
    app: Container, small_lists: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form "learn" (two items, a high idf) besides "learning"* (every item): they come first,
    found without the lists and without ranking every item of the common form."""
    monkeypatch.setattr(search_rank, "_threshold", lambda *_: None)  # no list decides
    filler = " ".join(FILLER * 3).split(" ")
    common = [  # "learnings" too: the prefix has two index words, its idf is counted
        item(
            p,
            f"{'Learnings' if p % 3 else 'Learning'} note {p}",
            arxiv=f"2001.{p:05d}",
            summary=" ".join(filler[: p % 23]),
        )
        for p in range(1, 61)
    ]
    rare = [
        item(61, "We learn to rank", arxiv="2001.00061", summary="learning " + filler[0]),
        item(62, "Learning what to learn", arxiv="2001.00062", summary=" ".join(filler)),
    ]
    await store(app, weekly("2020-W01", common[:30]), weekly("2020-W02", common[30:] + rare))
    with raw(app) as conn:
        _, phrases = phrases_of(conn, "learning")
        assert [p.fts() for p in phrases] == ['"learning"*', '"learn"']
        mine = listed(conn, "learning", 10, SearchFilters())
        want = exact(conn, "learning", 10, SearchFilters())
        assert mine is not None
        heads = dict(conn.execute("SELECT id, headline FROM items").fetchall())
    assert mine == want
    assert {heads[i] for i in want[:2]} == {"We learn to rank", "Learning what to learn"}


@FTS5
async def test_the_saturation_bound_holds_for_every_item(archive: Container) -> None:
    """The conjunction path's bound: no item saturates a phrase beyond ``_most``."""
    with raw(archive) as conn:
        cur = conn.cursor()
        _, avgdl = search_rank.table_stats(cur)
        texts = [
            search_rank.ItemText.of(row)
            for row in conn.execute("SELECT headline, title, summary, url FROM items_short")
        ]
        listed_phrases = 0
        for text in ("model", "pruned", "sparse experts", "模型 图像", "注意力", "training the"):
            _, phrases = phrases_of(conn, text)
            known = search_rank._known(cur, {t for p in phrases for t in p.tokens})
            expansions = {
                p.tokens[-1]: search_rank._expand(cur, p.tokens[-1]) or []
                for p in phrases
                if p.prefix
            }
            for phrase in phrases:
                bound = search_rank._most(cur, phrase, known, expansions, avgdl, {})
                listed_phrases += bound < search_rank.K1 + 1.0
                reached = max(
                    search_rank.saturation(phrase.freq(t), t.length, avgdl)
                    for t in texts
                    if t.length
                )
                assert reached <= bound, (text, phrase)
        assert listed_phrases > 5  # the lists tightened the bound, and it still held


@FTS5
async def test_a_prefix_of_one_index_word_is_ranked_as_that_word(archive: Container) -> None:
    """``word_match`` writes a one-word prefix as the word (FTS5 then need not merge the
    doclists a prefix covers): the same matches and the same bm25 scores, to the last bit."""
    sql = (
        "SELECT rowid, bm25(items_short, 4.0, 3.0, 1.0, 0.5) FROM items_short "
        "WHERE items_short MATCH ? ORDER BY 2, rowid DESC"
    )
    rewritten = 0
    with raw(archive) as conn:
        for text in (*QUERIES, "training image", "pruned experts"):
            query = build_query(text, 200)
            forms = search_sqlite.index_stem_forms(conn, {}, query)
            for any_term in (False, True):
                plain = query.word_match(forms, any_term=any_term)
                mine = search_rank.word_match(conn, query, forms, any_term)
                rewritten += mine != plain
                want = conn.execute(sql, (plain,)).fetchall()
                assert want, text
                assert conn.execute(sql, (mine,)).fetchall() == want, (text, mine)
    assert rewritten >= 4  # "training"*, "sparse"*, ... have a single index word


@FTS5
async def test_one_listed_word_with_few_items_takes_its_list(archive: Container) -> None:
    """Below CHEAP matches FTS5 ranks, except for one word with a list: its list decides."""
    with raw(archive) as conn:
        few = [
            term
            for term, docs in conn.execute(
                "SELECT term, docs FROM items_short_terms WHERE floor IS NOT NULL AND docs <= ?",
                (search_rank.CHEAP,),
            )
            if term.isascii() and len(term) >= 3
        ]
        decided = 0
        for word in few:
            mine = listed(conn, word, 10, SearchFilters())
            if mine is not None:
                decided += 1
                assert mine == exact(conn, word, 10, SearchFilters()), word
            assert listed(conn, f"{word} {word}x", 10, SearchFilters()) is None  # FTS5 ranks
    assert decided >= 1
