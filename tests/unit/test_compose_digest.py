"""The weekly digest announcement: title, paper count, editor's picks and link, in the issue's
language, always a valid tweet and valid Telegram HTML (checked with the sandbox's parser)."""

from __future__ import annotations

import random

from bot.domain.telegram_text import (
    Button,
    TelegramMessage,
    compose_digest_message,
    digest_labels,
)
from bot.domain.x_text import compose_digest_tweet, is_valid_tweet, weighted_length
from bot.sandbox.telegram_html import parse_html, utf16_len

URL = "https://medium.com/@demo/ml-news-2020-w39?source=x&a=1"
ZH_TITLE = "2020 年第 39 周"
EN_TITLE = "ML news 2020-W39"


def shown(message: TelegramMessage) -> str:
    """The text after entity parsing, as the strict fake Telegram server parses it."""
    parsed = parse_html(message.text)
    assert 0 < utf16_len(parsed.text.strip()) <= 4096
    return parsed.text


def test_labels_follow_the_title_language() -> None:
    zh, en = digest_labels(ZH_TITLE), digest_labels(EN_TITLE)
    assert (zh.papers(12), zh.picks_heading, zh.read_button) == (
        "本期 12 篇论文",
        "编辑精选",
        "阅读本期",
    )
    assert (en.papers(12), en.papers(1), en.picks_heading) == (
        "12 papers",
        "1 paper",
        "Editor's picks",
    )
    assert digest_labels("週刊 ニュース").language == "zh"  # CJK title, language unknown
    assert digest_labels("", "en").language == "en"
    assert digest_labels(EN_TITLE, "zh").language == "zh"  # a Chinese issue, English title
    ja = digest_labels(EN_TITLE, "ja")
    assert (ja.papers(3), ja.picks_heading) == ("今号の論文 3 本", "編集部のおすすめ")


def test_chinese_tweet_exact() -> None:
    tweet = compose_digest_tweet(ZH_TITLE, ["剪枝的新方法", "小波变换"], URL, papers=12)
    assert tweet == f"{ZH_TITLE}\n本期 12 篇论文\n\n编辑精选\n• 剪枝的新方法\n• 小波变换\n\n{URL}"
    assert is_valid_tweet(tweet)


def test_english_tweet_exact() -> None:
    tweet = compose_digest_tweet(EN_TITLE, ["GPT-3 explained", " "], URL, papers=1)
    assert tweet == f"{EN_TITLE}\n1 paper\n\nEditor's picks\n• GPT-3 explained\n\n{URL}"


def test_tweet_without_count_or_picks() -> None:
    assert compose_digest_tweet(EN_TITLE, [], URL, papers=0) == f"{EN_TITLE}\n\n{URL}"
    assert compose_digest_tweet(EN_TITLE, ["\u200b"], URL) == f"{EN_TITLE}\n\n{URL}"


def test_missing_title_gets_a_generic_one() -> None:
    assert compose_digest_tweet(" \u200b", [], URL, papers=3) == f"New issue\n3 papers\n\n{URL}"
    message = compose_digest_message("", [], URL, buttons=False, papers=3)
    assert shown(message) == "New issue\n3 papers"


def test_chinese_message_exact() -> None:
    message = compose_digest_message(
        ZH_TITLE,
        [('剪枝 <新> & "方法"', "https://example.com/a?b=1&c=2"), ("小波", None)],
        URL,
        buttons=True,
        papers=12,
    )
    href = URL.replace("&", "&amp;")
    assert message.text == (
        f'<b><a href="{href}">{ZH_TITLE}</a></b>\n本期 12 篇论文\n\n'
        "<b>编辑精选</b>\n"
        '• <a href="https://example.com/a?b=1&amp;c=2">剪枝 &lt;新&gt; &amp; &quot;方法&quot;</a>\n'
        "• 小波"
    )
    assert message.buttons == ((Button("阅读本期", URL),),)
    parsed = parse_html(message.text)
    links = [e["url"] for e in parsed.entities if e["type"] == "text_link"]
    assert links == [URL, "https://example.com/a?b=1&c=2"]


def test_english_message_exact() -> None:
    message = compose_digest_message(
        EN_TITLE, [("GPT-3 explained", "https://example.com/g")], URL, buttons=True, papers=2
    )
    assert shown(message) == f"{EN_TITLE}\n2 papers\n\nEditor's picks\n• GPT-3 explained"
    assert message.buttons == ((Button("Read the issue", URL),),)


# ---------------------------------------------------------------- hostile input

NASTY = '<b>x</b> & "q" *bold* <a href="javascript:x">'
MEGA = "<&> mega headline word " * 45_000  # about 1 MB


def _cases() -> list[tuple[str, list[tuple[str, str | None]]]]:
    rng = random.Random(2039)
    pieces = ["<", ">", "&", '"', "*", "中文", "😀", " ", "\n", "\u200b", "\u202e", "word", "a."]
    hostile = ["".join(rng.choices(pieces, k=rng.randint(0, 60))) for _ in range(40)]
    links: list[str | None] = [None, 'https://example.com/?a=<b>&c="d"', "javascript:x"]
    cases: list[tuple[str, list[tuple[str, str | None]]]] = [
        (NASTY, [(NASTY, links[1]), (NASTY, None)]),
        (EN_TITLE, [(MEGA, links[1]), ("after the mega pick", None)]),
        (ZH_TITLE, [(f"第 {n} 篇精选 <&>", links[n % 3]) for n in range(100)]),
        (EN_TITLE, []),
        ("", [("pick without title", None)]),
        (MEGA, [(MEGA, None)] * 3),
    ]
    cases += [(rng.choice(hostile), [(h, rng.choice(links)) for h in hostile[:12]])]
    cases += [(h, [(h, rng.choice(links))] * 5) for h in hostile]
    return cases


def test_hostile_digests_are_always_valid() -> None:
    counts = [None, 0, 1, 10_000]
    for index, (title, picks) in enumerate(_cases()):
        papers = counts[index % len(counts)]
        tweet = compose_digest_tweet(title, [h for h, _ in picks], URL, papers=papers)
        assert is_valid_tweet(tweet), tweet
        assert tweet.endswith(f"\n\n{URL}")  # the link is never cut or dropped
        assert weighted_length(tweet) <= 280
        message = compose_digest_message(title, picks, URL, buttons=True, papers=papers)
        text = shown(message)
        if papers:
            assert text.split("\n")[1].endswith(("papers", "paper", "篇论文"))


def test_hundred_picks_keep_order_and_drop_the_rest() -> None:
    picks = [(f"Pick {n} about something", f"https://example.com/{n}") for n in range(100)]
    tweet = compose_digest_tweet(EN_TITLE, [h for h, _ in picks], URL, papers=40)
    bullets = [line for line in tweet.split("\n") if line.startswith("• ")]
    assert 3 < len(bullets) < 100
    assert bullets == [f"• Pick {n} about something" for n in range(len(bullets))]
    message = compose_digest_message(EN_TITLE, picks, URL, buttons=False, papers=40)
    assert shown(message).count("\n• Pick ") == 100  # 100 short picks fit in 4096
    assert message.text.count('<a href="https://example.com/') == 100


def test_mega_pick_is_shortened_not_dropped() -> None:
    tweet = compose_digest_tweet(EN_TITLE, [MEGA], URL, papers=5)
    line = next(line for line in tweet.split("\n") if line.startswith("• "))
    assert line.endswith("…")
    message = compose_digest_message(EN_TITLE, [(MEGA, None)], URL, buttons=False)
    pick = shown(message).split("\n")[-1]
    assert pick.startswith("• <&> mega headline") and pick.endswith("…")
