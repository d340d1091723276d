"""Tests for bot.domain.x_text: weighting, truncation and tweet composition."""

from __future__ import annotations

import random
import time
import unicodedata

import pytest

from bot.domain.telegram_text import clean_text
from bot.domain.x_text import (
    compose_digest_tweet,
    compose_drip_tweet,
    contains_url,
    drip_link_text,
    is_valid_tweet,
    truncate_for_x,
    weighted_length,
)

ARXIV_URL = "https://arxiv.org/abs/2009.05697"
PAPER = "arxiv:2009.05697"
ISSUE_URL = "https://digest.example.com/2020-W39"
FAMILY = "👨\u200d👩\u200d👧\u200d👦"

# ---------------------------------------------------------------- counting


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("abc", 3),
        ("中文", 4),
        ("😀", 2),
        (FAMILY, 2),
        ("https://example.com/a/b?c=d", 23),
        ("see example.com", 27),
        ("…", 2),
        ("arXiv:2009.05697", 16),
    ],
)
def test_weighted_length(text: str, weight: int) -> None:
    assert weighted_length(text) == weight


def test_is_valid_tweet_limits() -> None:
    assert is_valid_tweet("a" * 280)
    assert not is_valid_tweet("a" * 281)
    assert is_valid_tweet("中" * 140)
    assert not is_valid_tweet("中" * 141)
    assert not is_valid_tweet("")
    assert not is_valid_tweet("ok\ufffe")


def test_contains_url() -> None:
    assert contains_url("read https://example.com/x now")
    assert contains_url("read example.com now")
    assert not contains_url("arXiv:2009.05697 and arXiv:hep-th/9901001v2")
    assert not contains_url("no links here.")
    filler = "word " * 5000
    assert contains_url(filler + "https://example.com/end")
    assert contains_url("https://example.com/start " + filler)
    assert not contains_url(filler + "a." * 3000)


# ---------------------------------------------------------------- truncation


def test_truncate_unchanged_when_it_fits() -> None:
    text = "Fits easily. https://example.com/a"
    assert truncate_for_x(text, 280) is text
    assert truncate_for_x("abc", 3) == "abc"


def test_truncate_at_word_boundary() -> None:
    assert truncate_for_x("The quick brown fox jumps over the lazy dog", 20) == "The quick brown…"


def test_truncate_at_sentence_boundary() -> None:
    text = "First sentence is here. Second sentence is a bit longer than that."
    assert truncate_for_x(text, 40) == "First sentence is here. …"


def test_short_sentence_falls_back_to_word_boundary() -> None:
    text = "Hi. Then a very long second sentence continues without end"
    assert truncate_for_x(text, 40) == "Hi. Then a very long second sentence…"


def test_abbreviation_is_not_a_sentence_end() -> None:
    result = truncate_for_x("We compare methods, e.g. transformers and RNNs on many tasks", 30)
    assert result == "We compare methods, e.g.…"


def test_trailing_comma_dropped_before_ellipsis() -> None:
    assert truncate_for_x("alpha beta, gamma delta epsilon", 16) == "alpha beta…"


def test_truncate_chinese_at_sentence_end() -> None:
    text = "我们证明了变换器可以学习。第二句话很长很长很长很长很长很长很长很长很长"
    assert truncate_for_x(text, 30) == "我们证明了变换器可以学习。…"


def test_truncate_chinese_without_punctuation_at_character() -> None:
    result = truncate_for_x("中" * 200, 21)
    assert result == "中" * 9 + "…"
    assert weighted_length(result) == 20


def test_truncate_never_splits_emoji_sequences() -> None:
    assert truncate_for_x(FAMILY * 200, 11) == FAMILY * 4 + "…"
    flags = "🇫🇷🇩🇪" * 50
    assert truncate_for_x(flags, 11) == "🇫🇷🇩🇪" * 2 + "…"


def test_truncate_never_splits_combining_marks() -> None:
    cluster = unicodedata.normalize("NFC", "x\u0301\u0323")  # no precomposed form; weight 3
    result = truncate_for_x(cluster * 100, 12)
    assert result == cluster * 3 + "…"


def test_truncate_drops_url_that_does_not_fit() -> None:
    text = "Read https://example.com/some/long/path now please"
    assert truncate_for_x(text, 20) == "Read…"
    assert truncate_for_x(text, 31) == "Read https://example.com/some/long/path …"


def test_truncate_keeps_url_in_the_middle_whole() -> None:
    text = "See https://example.com/a for details " + "and more words " * 30
    result = truncate_for_x(text, 60)
    assert result.startswith("See https://example.com/a for details")
    assert result.endswith("…")
    assert weighted_length(result) <= 60


def test_truncate_long_token_url() -> None:
    long_url = "https://example.com/" + "p" * 1500
    text = f"intro {long_url} " + "tail " * 100
    result = truncate_for_x(text, 60)
    assert result.startswith(f"intro {long_url} tail")
    assert weighted_length(result) <= 60


def test_truncate_tiny_budgets() -> None:
    assert truncate_for_x("hello world", 0) == ""
    assert truncate_for_x("hello world", 1) == ""
    assert truncate_for_x("hello world", 3) == "h…"


# ---------------------------------------------------------------- drip tweets

COMMENT = "A neat trick: train the retriever and the reader jointly."


def test_drip_url_mode() -> None:
    tweet = compose_drip_tweet(COMMENT, title="T", url=ARXIV_URL, paper=PAPER, link="url")
    assert tweet == f"{COMMENT} {ARXIV_URL}"
    assert weighted_length(tweet) == len(COMMENT) + 1 + 23
    assert contains_url(tweet)


def test_drip_arxiv_id_mode_is_plain_text() -> None:
    tweet = compose_drip_tweet(COMMENT, title=None, url=ARXIV_URL, paper=PAPER, link="arxiv_id")
    assert tweet == f"{COMMENT} arXiv:2009.05697"
    assert not contains_url(tweet)
    assert weighted_length(tweet) == len(tweet)


def test_drip_arxiv_old_style_id_drops_subject_class() -> None:
    tweet = compose_drip_tweet(
        "Knots.", title=None, url=None, paper="arxiv:math.GT/0309136", link="arxiv_id"
    )
    assert tweet == "Knots. arXiv:math/0309136"
    assert not contains_url(tweet)


def test_drip_arxiv_id_mode_without_arxiv_paper() -> None:
    tweet = compose_drip_tweet(
        COMMENT,
        title=None,
        url="https://openai.com/b",
        paper="https://openai.com/b",
        link="arxiv_id",
    )
    assert tweet == f"{COMMENT} (openai)"  # twitter.link_fallback = "title" (the default)


def test_drip_none_mode() -> None:
    tweet = compose_drip_tweet(COMMENT, title=None, url=ARXIV_URL, paper=PAPER, link="none")
    assert tweet == COMMENT


@pytest.mark.parametrize("url", [None, "javascript:alert(1)", "ftp://x.org/a", "https://"])
def test_drip_unusable_url_is_dropped(url: str | None) -> None:
    assert compose_drip_tweet(COMMENT, title=None, url=url, paper=None, link="url") == COMMENT


def test_drip_chinese() -> None:
    comment = "这篇论文展示了检索增强生成的简单改进。"
    tweet = compose_drip_tweet(comment, title=None, url=ARXIV_URL, paper=PAPER, link="url")
    assert tweet == f"{comment} {ARXIV_URL}"
    assert weighted_length(tweet) == 2 * len(comment) + 1 + 23


def test_drip_cleans_whitespace_and_controls() -> None:
    tweet = compose_drip_tweet(
        "  Hello\x00\tworld\u202e!\n\nNext\u200b line  ",
        title=None,
        url=None,
        paper=None,
        link="none",
    )
    assert tweet == "Hello world! Next line"


def test_drip_hashtags() -> None:
    tweet = compose_drip_tweet(
        COMMENT,
        title=None,
        url=ARXIV_URL,
        paper=PAPER,
        link="url",
        hashtags=["ML", "#NLP", "ml", "12", "bad tag!"],
    )
    assert tweet == f"{COMMENT} {ARXIV_URL} #ML #NLP #badtag"


def test_drip_hashtags_dropped_rather_than_cutting_comment() -> None:
    comment = "x" * 255 + "."
    tweet = compose_drip_tweet(
        comment, title=None, url=ARXIV_URL, paper=PAPER, link="url", hashtags=["ML", "NLP"]
    )
    assert tweet == f"{comment} {ARXIV_URL}"


def test_drip_long_comment_truncated_link_kept() -> None:
    comment = "We show that transformers learn in-context linear regression. " + "word " * 200
    tweet = compose_drip_tweet(comment, title=None, url=ARXIV_URL, paper=PAPER, link="url")
    assert tweet.endswith(f"… {ARXIV_URL}")
    assert weighted_length(tweet) <= 280
    assert tweet.split(" ")[-2] == "word…"


def test_drip_title_fallback_and_empty() -> None:
    assert compose_drip_tweet(" ", title="A Title", url=None, paper=None, link="none") == "A Title"
    with pytest.raises(ValueError):
        compose_drip_tweet("\u200b", title=None, url=None, paper=None, link="url")


# ---------------------------------------------------------------- digest tweets


def test_digest_tweet_exact() -> None:
    tweet = compose_digest_tweet(
        "ML Digest 2020-W39", ["GPT-3 explained", " ", "A new optimizer"], ISSUE_URL
    )
    picks = "Editor's picks\n• GPT-3 explained\n• A new optimizer"
    assert tweet == f"ML Digest 2020-W39\n\n{picks}\n\n{ISSUE_URL}"


def test_digest_tweet_without_picks() -> None:
    assert compose_digest_tweet("Weekly", [], ISSUE_URL) == f"Weekly\n\n{ISSUE_URL}"


def test_digest_tweet_drops_and_truncates_picks() -> None:
    picks = [f"Pick number {n} about a fairly long topic in machine learning" for n in range(20)]
    tweet = compose_digest_tweet("ML Digest 2020-W39", picks, ISSUE_URL)
    assert weighted_length(tweet) <= 280
    assert tweet.endswith(f"\n\n{ISSUE_URL}")
    assert tweet.startswith("ML Digest 2020-W39\n\nEditor's picks\n• Pick number 0 ")
    assert 1 < tweet.count("\n• ") < 20


@pytest.mark.parametrize("url", ["", "not a url", "javascript:alert(1)"])
def test_digest_tweet_leaves_out_unusable_url(url: str) -> None:
    assert compose_digest_tweet("T", ["p"], url) == "T\n\nEditor's picks\n• p"


def test_drip_link_text() -> None:
    assert drip_link_text("url", f" {ARXIV_URL} ", PAPER) == ARXIV_URL
    assert drip_link_text("url", "https://localhost/x", None) == ""
    assert drip_link_text("arxiv_id", ARXIV_URL, PAPER) == "arXiv:2009.05697"
    assert drip_link_text("arxiv_id", ARXIV_URL, "arxiv:not-an-id") == ""
    assert drip_link_text("none", ARXIV_URL, PAPER) == ""


# ---------------------------------------------------------------- properties

HOSTILE_PIECES = [
    "<", ">", "&", '"', "*", "_", "\u202e", "\u200b", "\u2066", "\ufeff", "😀", FAMILY,
    "🇫🇷", "中文", "日本語", "。", ". ", "! ", " ", "  ", "\n", "\t", "\x00", "\x1b", "\u0301",
    "https://example.com/a?b=1&c=2", "example.org", "a.", "a.b.c", "#tag", "@user", "word",
    "long" * 30, "\ud83d", "\U000e0041", "e.g.", "，",
]  # fmt: skip


def _hostile_texts() -> list[str]:
    rng = random.Random(20200921)
    texts = ["".join(rng.choices(HOSTILE_PIECES, k=rng.randint(0, 160))) for _ in range(150)]
    texts += [
        "a" * 1_000_000,
        "a." * 500_000,
        "中文" * 250_000,
        FAMILY * 100_000,
        "https://_" + "a." * 500_000,
        ("word https://example.com/x " * 40_000),
        '<&>"' * 250_000,
        "text " * 100 + "https://example.com/end",
    ]
    return texts


HOSTILE = _hostile_texts()


def _clean_for_x(text: str) -> str:
    return unicodedata.normalize("NFC", clean_text(text, keep_newlines=False))


@pytest.mark.parametrize("link", ["url", "arxiv_id", "none"])
def test_drip_tweet_always_valid(link: str) -> None:
    for text in HOSTILE:
        try:
            tweet = compose_drip_tweet(
                text,
                title=None,
                url=ARXIV_URL,
                paper=PAPER,
                link=link,  # type: ignore[arg-type]
            )
        except ValueError:
            assert link == "none" and not clean_text(text, keep_newlines=False)
            continue
        assert weighted_length(tweet) <= 280
        assert is_valid_tweet(tweet)
        body = tweet
        if link == "url":
            assert tweet.endswith(" " + ARXIV_URL) or tweet == ARXIV_URL
            body = tweet.removesuffix(ARXIV_URL).rstrip()
        elif link == "arxiv_id":
            assert tweet.endswith("arXiv:2009.05697")
            body = tweet.removesuffix("arXiv:2009.05697").rstrip()
        cleaned = _clean_for_x(text)
        if unicodedata.normalize("NFC", body) != cleaned:
            assert body == "" or body.endswith("…")
            stem = body.removesuffix("…").rstrip()
            assert cleaned.startswith(stem)


def test_truncate_properties() -> None:
    for text in HOSTILE:
        safe = text.replace("\ud83d", "")  # twitter-text cannot encode lone surrogates
        for budget in (1, 5, 24, 100, 280):
            result = truncate_for_x(safe, budget)
            assert weighted_length(result) <= budget
            if result != safe:
                assert result == "" or result.endswith("…")
                assert _normalize(safe).startswith(result.removesuffix("…").rstrip())


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")


def test_digest_tweet_properties() -> None:
    for index in range(0, len(HOSTILE) - 1, 2):
        picks = [HOSTILE[index], HOSTILE[index + 1], "short pick"]
        tweet = compose_digest_tweet(HOSTILE[index + 1], picks, ISSUE_URL)
        assert weighted_length(tweet) <= 280
        assert tweet.endswith(ISSUE_URL)


def test_megabyte_comment_is_fast() -> None:
    # CPU time of this process only (other load on the machine does not count); the bound is
    # generous: linear work takes well under a second, a quadratic scan of 1 MB takes hours
    started = time.process_time()
    for text in HOSTILE[-8:]:
        tweet = compose_drip_tweet(text, title=None, url=ARXIV_URL, paper=PAPER, link="url")
        assert weighted_length(tweet) <= 280
    assert time.process_time() - started < 30
