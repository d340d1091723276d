"""Digest parsing for imports: URL ends (GFM autolink rules), issue language, key spellings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.digest import autolink_end, detect_language, parse_digest
from bot.domain.keys import normalize_key

BILINGUAL = Path(__file__).resolve().parents[1] / "fixtures" / "bilingual"
DIGESTS = Path(__file__).resolve().parents[1] / "fixtures" / "digests"

HEAD = """# Akira's ML news #Week 39, 2020

# 1. Machine Learning Papers

# An item

"""


def only_item_url(body: str) -> str | None:
    issue = parse_digest(HEAD + body)
    assert len(issue.items) == 1
    return issue.items[0].url


@pytest.mark.parametrize(
    ("line", "url"),
    [
        ("*https://arxiv.org/abs/2009.04433*", "https://arxiv.org/abs/2009.04433"),
        ("_https://example.org/paper_", "https://example.org/paper"),
        ("**https://example.org/paper**", "https://example.org/paper"),
        ("__https://example.org/paper__", "https://example.org/paper"),
        ("https://example.org/a).", "https://example.org/a"),
        ("https://example.org/a,", "https://example.org/a"),
        ("https://example.org/a;", "https://example.org/a"),
        ("https://example.org/a:", "https://example.org/a"),
        ("https://example.org/a!?", "https://example.org/a"),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("https://en.wikipedia.org/wiki/Foo_(bar).", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("https://en.wikipedia.org/wiki/Foo_(bar))", "https://en.wikipedia.org/wiki/Foo_(bar)"),
    ],
)
def test_head_url_keeps_no_markers_or_closing_punctuation(line: str, url: str) -> None:
    assert only_item_url(f"{line}\n\nOne sentence of summary.\n") == url


def test_url_in_a_sentence_stops_before_the_closing_parenthesis() -> None:
    issue = parse_digest(HEAD + "A summary (see https://example.org/paper). More words.\n")
    item = issue.items[0]
    assert item.url == "https://example.org/paper"
    assert item.summary == "A summary (see https://example.org/paper). More words."


def test_emphasised_url_leaves_a_clean_summary() -> None:
    issue = parse_digest(HEAD + "*Some Title*\n*https://arxiv.org/abs/2009.04433*\n\nWords.\n")
    item = issue.items[0]
    assert (item.title, item.url, item.paper) == (
        "Some Title",
        "https://arxiv.org/abs/2009.04433",
        "arxiv:2009.04433",
    )
    assert item.summary == "Words."
    assert issue.warnings == ()


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("https://x.org/a", "https://x.org/a"),
        ("https://x.org/a?!.,:*_~'\"", "https://x.org/a"),
        ("https://x.org/q?a=1&amp;", "https://x.org/q?a=1"),  # an entity reference goes whole
        ("https://x.org/(a))", "https://x.org/(a)"),
        ("https://x.org/a_(b)_", "https://x.org/a_(b)"),
        ("https://x.org/a/", "https://x.org/a/"),
    ],
)
def test_autolink_end_follows_gfm(raw: str, kept: str) -> None:
    assert autolink_end(raw) == kept


def test_language_of_the_fixtures() -> None:
    def language(path: Path) -> str:
        return parse_digest(path.read_text(encoding="utf-8"), source=path.name).language

    assert language(BILINGUAL / "week50_en.md") == "en"
    assert language(BILINGUAL / "week50_zh.md") == "zh"
    assert language(DIGESTS / "english_weekly.md") == "en"
    assert language(DIGESTS / "chinese_picks.md") == "zh"


@pytest.mark.parametrize(
    ("texts", "language"),
    [
        (["A plain English sentence about models."], "en"),
        (["An English review that quotes 注意力 once, among many other English words."], "en"),
        (["稀疏专家模型", "Cheap Routing for Experts", "每个词元只经过两个专家层。"], "zh"),
        (["このモデルはとても速いです"], "ja"),
        (["https://zh.example.org/长长的链接", "Short English text."], "en"),
        ([], "en"),
    ],
)
def test_detect_language(texts: list[str], language: str) -> None:
    assert detect_language(texts) == language


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("2020-W39", "2020-W39"),
        ("2020-w39", "2020-W39"),
        (" 2020w9 ", "2020-W09"),
        ("2020-09", "2020-09"),
        ("2020-9", "2020-09"),
        ("2020 年第 39 周", "2020-W39"),
        ("hello", None),
        ("", None),
    ],
)
def test_normalize_key(given: str, key: str | None) -> None:
    assert normalize_key(given) == key
