"""twitter.link = "arxiv_id": what an item without an arXiv id gets on X (twitter.link_fallback)."""

from __future__ import annotations

import random

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.telegram_text import clean_text
from bot.domain.x_text import (
    compose_drip_tweet,
    contains_url,
    fallback_link_text,
    is_valid_tweet,
    skips_x,
    source_name,
    weighted_length,
)

BLOG = "https://blog.example.org/posts/sparse-experts?utm=1"
TITLE = "Sparse experts at scale"
COMMENT = "Routing tokens to a few experts keeps the cost flat."
ARXIV_URL = "https://arxiv.org/abs/2009.05697"
PAPER = "arxiv:2009.05697"


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (BLOG, "blog.example"),
        ("https://www.openai.com/b", "openai"),
        ("https://news.google.com/a", "google"),  # "news.google" is a URL: .google is a TLD
        ("https://lilianweng.github.io/posts/x", "lilianweng.github"),
        ("https://www.bbc.co.uk/news", "bbc"),
        ("https://mp.weixin.qq.com/s/abc", "weixin.qq"),
        ("https://a.b.c.example.com/", "c.example"),
        ("https://192.168.0.1/x", ""),
        ("javascript:alert(1)", ""),
        (None, ""),
    ],
)
def test_source_name_is_never_a_link(url: str | None, name: str) -> None:
    assert source_name(url) == name
    assert not contains_url(f"({name}: title)")


def test_title_fallback_names_source_and_title_in_plain_text() -> None:
    tweet = compose_drip_tweet(COMMENT, title=TITLE, url=BLOG, paper=BLOG, link="arxiv_id")
    assert tweet == f"{COMMENT} (blog.example: {TITLE})"
    assert not contains_url(tweet)  # priced as a post without a URL
    assert is_valid_tweet(tweet)


def test_title_fallback_is_the_default_and_escapes_nothing() -> None:
    title = 'A <b>"bold"</b> & *starred* title'
    tweet = compose_drip_tweet(COMMENT, title=title, url=BLOG, paper=BLOG, link="arxiv_id")
    assert tweet == f"{COMMENT} (blog.example: {title})"


def test_title_fallback_without_url_or_without_title() -> None:
    assert (
        compose_drip_tweet(COMMENT, title=TITLE, url=None, paper=None, link="arxiv_id")
        == f"{COMMENT} ({TITLE})"
    )
    assert (
        compose_drip_tweet(COMMENT, title=None, url=BLOG, paper=BLOG, link="arxiv_id")
        == f"{COMMENT} (blog.example)"
    )
    assert compose_drip_tweet(COMMENT, title=" ", url=None, paper=None, link="arxiv_id") == COMMENT


def test_title_fallback_does_not_repeat_the_title_used_as_body() -> None:
    tweet = compose_drip_tweet(" ", title=TITLE, url=BLOG, paper=BLOG, link="arxiv_id")
    assert tweet == f"{TITLE} (blog.example)"


def test_long_comment_is_cut_at_a_sentence_and_the_fallback_kept_whole() -> None:
    comment = "First sentence is here. " + "Second sentence goes on and on " * 12 + "end."
    tweet = compose_drip_tweet(comment, title=TITLE, url=BLOG, paper=BLOG, link="arxiv_id")
    assert tweet is not None
    assert weighted_length(tweet) <= 280
    assert tweet.endswith(f"… (blog.example: {TITLE})")
    body = tweet.removesuffix(f" (blog.example: {TITLE})").removesuffix("…").rstrip()
    assert comment.startswith(body)
    assert body.split()[-1] in comment.split()  # whole words only


def test_long_title_is_capped_so_the_comment_keeps_room() -> None:
    title = "Word " * 400
    tweet = compose_drip_tweet(COMMENT, title=title, url=BLOG, paper=BLOG, link="arxiv_id")
    assert tweet is not None
    assert tweet.startswith(COMMENT + " (blog.example: Word Word")
    assert tweet.endswith("…)")
    assert weighted_length(tweet) <= 280


def test_url_fallback_appends_the_url() -> None:
    tweet = compose_drip_tweet(
        COMMENT, title=TITLE, url=BLOG, paper=BLOG, link="arxiv_id", fallback="url"
    )
    assert tweet == f"{COMMENT} {BLOG}"
    assert contains_url(tweet)  # the budget prices it as a post with a URL


def test_url_fallback_never_cuts_the_url() -> None:
    comment = "Read this: " + "word " * 100
    tweet = compose_drip_tweet(
        comment, title=TITLE, url=BLOG, paper=BLOG, link="arxiv_id", fallback="url"
    )
    assert tweet is not None
    assert tweet.endswith(f"… {BLOG}")
    assert weighted_length(tweet) <= 280


def test_url_fallback_with_unusable_url_names_the_title() -> None:
    for url in (None, "javascript:alert(1)", "ftp://example.org/x"):
        tweet = compose_drip_tweet(
            COMMENT, title=TITLE, url=url, paper=url, link="arxiv_id", fallback="url"
        )
        assert tweet == f"{COMMENT} ({TITLE})"


def test_skip_fallback_posts_nothing_to_x_for_non_arxiv_items_only() -> None:
    assert skips_x("arxiv_id", "skip", BLOG)
    skipped = compose_drip_tweet(
        COMMENT, title=TITLE, url=BLOG, paper=BLOG, link="arxiv_id", fallback="skip"
    )
    assert skipped is None
    arxiv = compose_drip_tweet(
        COMMENT, title=TITLE, url=ARXIV_URL, paper=PAPER, link="arxiv_id", fallback="skip"
    )
    assert arxiv == f"{COMMENT} arXiv:2009.05697"
    assert not skips_x("arxiv_id", "skip", PAPER)
    assert not skips_x("url", "skip", BLOG)
    assert not skips_x("none", "skip", BLOG)


@pytest.mark.parametrize("fallback", ["title", "url", "skip"])
def test_other_link_modes_ignore_the_fallback(fallback: str) -> None:
    kwargs = {"title": TITLE, "url": BLOG, "paper": BLOG, "fallback": fallback}
    assert compose_drip_tweet(COMMENT, link="none", **kwargs) == COMMENT  # type: ignore[arg-type]
    url_mode = compose_drip_tweet(COMMENT, link="url", **kwargs)  # type: ignore[arg-type]
    assert url_mode == f"{COMMENT} {BLOG}"


def test_fallback_link_text() -> None:
    assert fallback_link_text("title", url=BLOG, title=TITLE) == f"(blog.example: {TITLE})"
    assert fallback_link_text("title", url=BLOG, title=TITLE, with_title=False) == "(blog.example)"
    assert fallback_link_text("url", url=BLOG, title=TITLE) == BLOG
    assert fallback_link_text("skip", url=BLOG, title=TITLE) == ""
    assert fallback_link_text("title", url=None, title="\u200b") == ""


HOSTILE_PIECES = [
    "<", ">", "&", '"', "*", "_", "\u202e", "\u200b", "😀", "中文", "。", ". ", " ", "\n",
    "\x00", "https://example.com/a?b=1&c=2", "example.org", "a.", "#tag", "@user", "word",
    "long" * 30, "e.g.", ")", "(",
]  # fmt: skip


def _hostile(rng: random.Random) -> str:
    return "".join(rng.choices(HOSTILE_PIECES, k=rng.randint(0, 120)))


@pytest.mark.parametrize("fallback", ["title", "url"])
def test_fallback_tweets_are_always_valid(fallback: str) -> None:
    rng = random.Random(39)
    urls = [BLOG, None, "https://例子.中国/x", "https://" + "x" * 60 + ".com/p", "https://1.2.3.4/"]
    cases = [(_hostile(rng), _hostile(rng), rng.choice(urls)) for _ in range(60)]
    cases += [("a" * 1_000_000, "b " * 500_000, BLOG), (COMMENT, "中" * 1_000_000, BLOG)]
    for comment, title, url in cases:
        try:
            tweet = compose_drip_tweet(
                comment,
                title=title,
                url=url,
                paper=url,
                link="arxiv_id",
                fallback=fallback,  # type: ignore[arg-type]
            )
        except ValueError:
            assert not clean_text(comment, keep_newlines=False)
            assert not clean_text(title, keep_newlines=False)
            assert not source_name(url)
            continue
        assert tweet is not None and is_valid_tweet(tweet)
        expected = fallback_link_text(
            fallback,  # type: ignore[arg-type]
            url=url,
            title=title,
            with_title=bool(clean_text(comment, keep_newlines=False)),
        )
        if expected:
            assert tweet.endswith(expected)


def test_link_fallback_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().twitter.link_fallback == "title"  # the packaged default
    monkeypatch.setenv("DIGESTBOT_TWITTER__LINK_FALLBACK", "skip")
    assert load_settings().twitter.link_fallback == "skip"
    monkeypatch.setenv("DIGESTBOT_TWITTER__LINK_FALLBACK", "sometimes")
    with pytest.raises(ConfigError, match="invalid setting twitter.link_fallback"):
        load_settings()
