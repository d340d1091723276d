"""Tests for the digest parser on hand-written fixtures and small inline texts."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from bot.domain.digest import parse_digest
from bot.domain.model import DigestFormatError, ParsedIssue, ParsedItem

DIGESTS = Path(__file__).resolve().parents[1] / "fixtures" / "digests"


def load(name: str) -> str:
    return (DIGESTS / name).read_text(encoding="utf-8")


def parse(name: str) -> ParsedIssue:
    return parse_digest(load(name), source=name)


def by_headline(issue: ParsedIssue, headline: str) -> ParsedItem:
    matches = [item for item in issue.items if item.headline == headline]
    assert len(matches) == 1, [item.headline for item in issue.items]
    return matches[0]


def warnings_about(issue: ParsedIssue, headline: str) -> list[str]:
    return [w for w in issue.warnings if f'"{headline}"' in w]


MINIMAL = """# Akira's ML news #Week 39, 2020

# 1. Machine Learning Papers

# A tiny item

*A Tiny Paper*
[https://arxiv.org/abs/2009.04433](https://arxiv.org/abs/2009.04433)

One sentence of summary.
"""


# ---------------------------------------------------------------- English weekly


def test_english_weekly_header() -> None:
    issue = parse("english_weekly.md")
    assert issue.key == "2020-W41"
    assert (issue.kind, issue.year, issue.week, issue.month) == ("weekly", 2020, 41, None)
    assert issue.title == "Akira's ML news #Week 41, 2020"
    assert issue.url == (
        "https://medium.com/analytics-vidhya/akiras-ml-news-week-41-2020-0a1b2c3d4e5f"
    )
    assert (issue.start, issue.end) == (date(2020, 10, 5), date(2020, 10, 11))
    assert issue.warnings == ()
    assert issue.picks == ()


def test_english_weekly_items_sections_and_positions() -> None:
    issue = parse("english_weekly.md")
    assert [(i.position, i.section, i.headline) for i in issue.items] == [
        (1, "papers", "Images are worth words to a plain Transformer"),
        (2, "papers", "Deformable attention makes DETR converge faster"),
        (3, "articles", "A visual tour of attention heads"),
        (4, "use_cases", "Sorting parcels with a camera"),
        (5, "other", "Conference registration is open"),
    ]


def test_english_weekly_italic_title_and_arxiv_link() -> None:
    item = parse("english_weekly.md").items[0]
    assert item.title == (
        "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale"
    )
    assert item.url == "https://arxiv.org/abs/2010.11929"
    assert item.paper == "arxiv:2010.11929"
    assert item.images == ("img/vit-patches.png",)
    assert item.summary.startswith("Cut a picture into square patches, embed each one,")
    assert item.summary.endswith("strong convolutional baselines.")


def test_plain_title_line_versioned_pdf_and_two_images() -> None:
    item = parse("english_weekly.md").items[1]
    assert item.title == "Deformable DETR: Deformable Transformers for End-to-End Object Detection"
    assert item.url == "https://arxiv.org/pdf/2010.04159v2.pdf"
    assert item.paper == "arxiv:2010.04159"
    assert item.images == ("img/deformable-a.png", "img/deformable-b.png")
    assert item.summary == (
        "Each query looks at a handful of sampled points instead of the whole feature map. "
        "Training needs roughly ten times fewer epochs."
    )


def test_link_card_relative_medium_link_and_card_title() -> None:
    item = parse("english_weekly.md").items[2]
    assert item.url == "https://medium.com/@someone/a-visual-tour-of-attention-heads-1234abcd"
    assert item.title == "A Visual Tour of Attention Heads"
    assert "Pictures of what each head" not in item.summary
    assert item.summary.startswith("The post draws every head")


def test_card_beats_homepage_link_in_summary_and_tracking_is_dropped() -> None:
    item = parse("english_weekly.md").items[3]
    assert item.url == "https://news.example.org/2020/10/camera-sorting-warehouse?id=7"
    assert item.summary.startswith("Parcelbot installed a camera-based sorter")
    assert "](" not in item.summary


def test_navigation_and_trailer_are_not_items() -> None:
    issue = parse("english_weekly.md")
    assert issue.neighbours == (
        "https://medium.com/analytics-vidhya/akiras-ml-news-week40-2020-aaaa1111",
        "https://medium.com/analytics-vidhya/akiras-ml-news-week42-2020-bbbb2222",
        "https://medium.com/analytics-vidhya/akiras-ml-news-september-2020-80ed65bd7ea4",
    )
    headlines = " ".join(i.headline for i in issue.items)
    assert "Twitter" not in headlines and "Past" not in headlines
    assert all("github" not in (i.url or "") for i in issue.items)
    assert "Summaries of many papers" not in issue.items[-1].summary


# ---------------------------------------------------------------- Chinese weekly with picks


def test_chinese_weekly_key_title_and_url() -> None:
    issue = parse("chinese_picks.md")
    assert issue.key == "2020-W45"
    assert issue.title == "Akira 的 ML 新闻# 2020 年第 45 周"
    assert (
        issue.url == "https://medium.com/analytics-vidhya/akiras-ml-news-week45-2020-1234abcd5678"
    )
    assert (issue.start, issue.end) == (date(2020, 11, 2), date(2020, 11, 8))
    assert [i.section for i in issue.items] == [
        "papers",
        "papers",
        "articles",
        "use_cases",
        "other",
    ]


def test_chinese_picks_mark_items_and_keep_list_order() -> None:
    issue = parse("chinese_picks.md")
    assert [i.headline for i in issue.items if i.pick] == [
        "用扩散过程生成图像",
        "把注意力机制画出来",
    ]
    assert issue.picks == ("arxiv:2006.11239", "https://blog.example.cn/attention-heads")
    assert issue.warnings == ('editor\'s pick "一篇本期没有收录的文章" matches no item',)


def test_chinese_items_bold_heading_images_and_summary_after_card() -> None:
    issue = parse("chinese_picks.md")
    item = by_headline(issue, "对比学习不需要负样本")
    assert item.title == "探索简单的孪生表示学习"
    assert item.images == ("img/simsiam.png",)
    article = by_headline(issue, "把注意力机制画出来")
    assert article.title == "注意力头可视化"
    assert article.summary == "作者把一个小模型的每个注意力头都画成图，并按照关注模式分组。"


def test_chinese_navigation_links_are_neighbours() -> None:
    assert parse("chinese_picks.md").neighbours == (
        "https://medium.com/analytics-vidhya/akiras-ml-news-week44-2020-aaaa",
        "https://medium.com/analytics-vidhya/akiras-ml-news-october-2020-cccc",
    )


def test_english_pickups_heading_matches_by_arxiv_version_and_headline() -> None:
    picks = (
        "# — Weekly Editor's pickups\n\n"
        "* [A tiny paper](https://arxiv.org/pdf/2009.04433v3.pdf)\n"
        "* Another tiny item\n\n"
    )
    second = "\n# Another tiny item\n\nNo link here, only words.\n"
    text = MINIMAL.replace("# 1. Machine", picks + "# 1. Machine") + second
    issue = parse_digest(text)
    assert [i.pick for i in issue.items] == [True, True]
    assert issue.picks == ("arxiv:2009.04433",)
    assert any("Another tiny item" in w and "without a link" in w for w in issue.warnings)


# ---------------------------------------------------------------- monthly


def test_english_monthly_header() -> None:
    issue = parse("english_monthly.md")
    assert (issue.key, issue.kind, issue.year, issue.week, issue.month) == (
        "2020-10",
        "monthly",
        2020,
        None,
        10,
    )
    assert (issue.start, issue.end) == (date(2020, 10, 1), date(2020, 10, 31))
    assert (
        issue.url == "https://medium.com/analytics-vidhya/akiras-ml-news-october-2020-c7b5b4281d36"
    )
    assert len(issue.items) == 6


def test_monthly_repeats_share_paper_identity_with_weekly() -> None:
    weekly = {i.headline: i.paper for i in parse("english_weekly.md").items}
    monthly = {i.headline: i.paper for i in parse("english_monthly.md").items}
    shared = set(weekly) & set(monthly)
    assert len(shared) == 5
    for headline in shared:
        assert weekly[headline] == monthly[headline], headline
    assert monthly["Language models as few-shot learners"] == "arxiv:2005.14165"
    assert monthly["Deformable attention makes DETR converge faster"] == "arxiv:2010.04159"


def test_same_line_italic_title_and_link() -> None:
    item = parse("english_monthly.md").items[0]
    assert item.title == (
        "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale"
    )
    assert item.url == "https://arxiv.org/abs/2010.11929v1"


# ---------------------------------------------------------------- messy


def test_messy_keeps_every_item() -> None:
    issue = parse("messy.md")
    assert issue.key == "2020-W50"
    assert (
        issue.url == "https://medium.com/analytics-vidhya/akiras-ml-news-week50-2020-2091f11a72a9"
    )
    assert [i.headline for i in issue.items] == [
        "A survey with no link at all",
        "Earthquake warnings from many sensors",
        "Title with its link inside the italics",
        "Text glued to a bare link",
        "Text glued to a markdown link",
        "Shortened link hides the paper",
        "Only a shortener",
        "Bold heading with underscores_in_words",
    ]
    assert [i.position for i in issue.items] == list(range(1, 9))
    assert [i.section for i in issue.items][-2:] == ["articles", "other"]


def test_messy_item_without_link() -> None:
    issue = parse("messy.md")
    item = by_headline(issue, "A survey with no link at all")
    assert (item.url, item.paper, item.title) == (None, None, None)
    assert item.summary.startswith("This entry describes a survey")
    assert any("no usable link" in w for w in warnings_about(issue, item.headline))


def test_messy_url_broken_by_spaces_gives_no_garbage_url() -> None:
    issue = parse("messy.md")
    item = by_headline(issue, "Earthquake warnings from many sensors")
    assert item.url is None and item.paper is None
    assert item.title == "Distributed multi-sensor learning for early warning"
    assert (
        item.summary
        == "A nearest-neighbour classifier over several sensor types predicts large quakes sooner."
    )
    assert any("broken by spaces" in w for w in warnings_about(issue, item.headline))


def test_messy_link_inside_italic_title() -> None:
    issue = parse("messy.md")
    item = by_headline(issue, "Title with its link inside the italics")
    assert item.title == "Rethinking Attention with Performers"
    assert item.paper == "arxiv:2009.14794"
    assert any("inside the italic title" in w for w in warnings_about(issue, item.headline))


@pytest.mark.parametrize(
    ("headline", "paper", "summary"),
    [
        (
            "Text glued to a bare link",
            "arxiv:2009.04765",
            "Readers of fMRI scans predict which word a subject saw.",
        ),
        (
            "Text glued to a markdown link",
            "arxiv:2010.02502",
            "A faster sampler for diffusion models skips most steps.",
        ),
    ],
)
def test_messy_text_glued_to_link(headline: str, paper: str, summary: str) -> None:
    issue = parse("messy.md")
    item = by_headline(issue, headline)
    assert item.url == f"https://arxiv.org/abs/{paper.removeprefix('arxiv:')}"
    assert item.paper == paper
    assert item.summary == summary
    assert any("glued" in w for w in warnings_about(issue, headline))


def test_messy_shortener_never_wins() -> None:
    issue = parse("messy.md")
    item = by_headline(issue, "Shortened link hides the paper")
    assert item.url == "https://arxiv.org/abs/2009.08551"
    only = by_headline(issue, "Only a shortener")
    assert only.url is None
    assert only.summary == "Read the thread here."
    assert all("t.co" not in (i.url or "") for i in issue.items)


# ---------------------------------------------------------------- keys and sources


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("# 2020 年第 39 周", "2020-W39"),
        ("# Akira 的 ML 新闻# 2020 年第 50 周", "2020-W50"),
        ("# Akira 的 ML 新闻# 2020 年 9 月", "2020-09"),
        ("# Akira's ML news #Week 39, 2020", "2020-W39"),
        ("Akira's ML News #Week50, 2020", "2020-W50"),
        ("Akira's ML news #September 2020", "2020-09"),
        ("# Akira's ML News: September 2020", "2020-09"),
        ("# **Akira's ML News #Week 1, 2021**", "2021-W01"),
        ("# Akira's ML News 2020-W53", "2020-W53"),
        ("# Akira's ML News: June 2021", "2021-06"),
    ],
)
def test_title_variants(title: str, key: str) -> None:
    text = MINIMAL.replace("# Akira's ML news #Week 39, 2020", title)
    assert parse_digest(text).key == key


def test_key_from_source_slug_when_title_has_none() -> None:
    text = MINIMAL.replace("# Akira's ML news #Week 39, 2020", "# Akira's ML news")
    src = "https://medium.com/analytics-vidhya/akiras-ml-news-week-39-2020-39bcee90cf9e?source=x"
    issue = parse_digest(text, source=src)
    assert issue.key == "2020-W39"
    assert issue.title == "Akira's ML news"
    assert (
        issue.url == "https://medium.com/analytics-vidhya/akiras-ml-news-week-39-2020-39bcee90cf9e"
    )
    monthly = parse_digest(text, source="akiras-ml-news-september-2020-80ed65bd7ea4.md")
    assert (monthly.key, monthly.url) == ("2020-09", None)


def test_title_and_source_disagree_title_wins_with_warning() -> None:
    issue = parse_digest(MINIMAL, source="akiras-ml-news-week-40-2020-abc.md")
    assert issue.key == "2020-W39"
    assert any("2020-W40" in w for w in issue.warnings)


def test_iso_week_across_year_boundary() -> None:
    text = MINIMAL.replace("Week 39, 2020", "Week 53, 2020")
    issue = parse_digest(text)
    assert (issue.start, issue.end) == (date(2020, 12, 28), date(2021, 1, 3))


def test_crlf_bom_and_nbsp_are_tolerated() -> None:
    text = "\ufeff" + MINIMAL.replace("\n", "\r\n").replace("One sentence", "One\u00a0sentence")
    issue = parse_digest(text)
    assert issue.items[0].summary == "One sentence of summary."
    assert issue.items[0].paper == "arxiv:2009.04433"


# ---------------------------------------------------------------- rejection


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n\n\t ", "empty"),
        ('{"week": 39, "items": []}', "no title"),
        ("Just some prose about the weather.\nNothing else here.", "no title"),
        ("# Akira's ML news #Week 39, 2020\n\nNo sections at all.", "no numbered section"),
        ("# 2020 年第 39 周\n\n# 1.机器学习论文\n\n— —\n", "no items"),
        ("# Akira's ML news #Week 54, 2020\n\n# 1. Papers\n\n# x\n", "week 54"),
        ("# Akira's ML news #Week 39, 2020\x00\x01\x02" * 20, "binary"),
        ("x\n" * 30_000, "too many lines"),
        ("x" * 2_000_000, "too large"),
    ],
)
def test_not_a_digest(text: str, reason: str) -> None:
    with pytest.raises(DigestFormatError, match="not a digest") as excinfo:
        parse_digest(text)
    assert reason in str(excinfo.value)


def test_readme_fixture_is_not_a_digest() -> None:
    with pytest.raises(DigestFormatError, match="no title with a week or month"):
        parse_digest(load("not_a_digest.md"), source="not_a_digest.md")


# ---------------------------------------------------------------- speed and robustness


# Timing targets (one digest < 20 ms) live in benchmarks/bench_import.py, not in unit tests.
# These tests prove the parser finishes on hostile megabytes with a result or a clear refusal.


def _outcome(text: str) -> str:
    try:
        return f"parsed {len(parse_digest(text).items)} items"
    except DigestFormatError as exc:
        assert "not a digest" in str(exc)
        return "refused"


def test_ten_kilobyte_digest_parses_completely() -> None:
    text = load("english_weekly.md")
    body = text.split("# — Past Articles")[0]
    big = body + "\n".join(body.split("# 1. Machine Learning Papers")[1] for _ in range(4))
    assert len(big.encode()) > 10_000
    assert len(parse_digest(big).items) == 25


@pytest.mark.parametrize("newline_every", [0, 60, 400])
def test_megabyte_of_hostile_text_is_fast(newline_every: int) -> None:
    rng = random.Random(newline_every)
    chars = '<>&"*[]()#_!` —-.:/hpts'
    junk = "".join(rng.choice(chars) for _ in range(1_000_000))
    if newline_every:
        junk = "\n".join(junk[i : i + newline_every] for i in range(0, len(junk), newline_every))
    assert _outcome(junk) == "refused"
    assert _outcome(MINIMAL + junk) in {"refused", *(f"parsed {n} items" for n in range(1, 99))}


@pytest.mark.parametrize(
    "pattern", ["[", "[a](", "![](", "**a", "[## x](", "https://www . x ", "*a [u](http://a.b)* "]
)
def test_megabyte_of_repeated_markdown_fragments_is_fast(pattern: str) -> None:
    line = (pattern * (80 // len(pattern) + 1))[:80]
    text = MINIMAL + "\n".join([line] * 12_000)
    assert _outcome(text).startswith(("parsed", "refused"))
