"""HTML digests (Medium pages, feed items) parse to the same issue as their Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.digest import parse_digest
from bot.domain.html_digest import MAX_HTML_CHARS, html_to_markdown, looks_like_html
from bot.domain.model import DigestFormatError
from tests.conftest import FIXTURES, SHARED
from tests.feeds.medium_render import render

HTML = FIXTURES / "html"
MARKDOWN = sorted(
    p for p in [*FIXTURES.glob("digests/*.md"), *FIXTURES.glob("bilingual/*.md")]
    if p.name != "not_a_digest.md"
)


@pytest.mark.parametrize("style", ["page", "feed"])
@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.name)
def test_markdown_fixture_rendered_as_medium_html_parses_to_the_same_issue(
    path: Path, style: str
) -> None:
    markdown = path.read_text(encoding="utf-8")
    page = render(markdown, style=style)
    assert looks_like_html(page) and not looks_like_html(markdown)
    assert parse_digest(page, source=path.name) == parse_digest(markdown, source=path.name)


def test_seeds_rendered_as_html_parse_like_their_markdown() -> None:
    seeds = sorted((SHARED / "seeds").glob("*.txt")) if (SHARED / "seeds").is_dir() else []
    if not seeds:
        pytest.skip("no seeds in ../shared/seeds")
    for seed in seeds:
        text = seed.read_text(encoding="utf-8")
        for style in ("page", "feed"):
            assert parse_digest(render(text, style=style), source=seed.name) == parse_digest(
                text, source=seed.name
            ), (seed.name, style)


def test_english_medium_page() -> None:
    issue = parse_digest((HTML / "medium_page_en.html").read_text(encoding="utf-8"), "saved.html")
    assert issue.key == "2021-W07" and issue.language == "en"
    assert issue.title == "Akira's ML news #Week 7, 2021"
    # the canonical link is the issue's URL
    assert issue.url == "https://medium.com/@akira/akiras-ml-news-week-7-2021-5e6f7a8b9c0d"
    first, unlinked, article = issue.items
    assert (first.section, first.headline) == ("papers", "Gradients that skip a layer now and then")
    assert first.title == "Stochastic Layer Skipping for Deep Residual Networks"
    assert first.url == "https://arxiv.org/abs/2102.00011"  # ?source=... stripped
    assert first.paper == "arxiv:2102.00011" and first.pick
    assert first.images == ("https://miro.medium.com/max/700/1*skip.png",)
    assert "grey" not in first.summary  # the figure caption is not the summary
    assert first.summary.startswith("During training each residual block")
    assert unlinked.url is None and unlinked.paper is None
    assert any("A benchmark nobody has solved yet" in w and "no usable link" in w
               for w in issue.warnings)
    # the link card: its title is the item's title, tracking parameters are gone
    assert (article.section, article.title) == ("articles", "Pruning, measured")
    assert article.url == "https://blog.example.net/pruning-notes"
    assert issue.picks == ("arxiv:2102.00011", "https://blog.example.net/pruning-notes")
    # the script that writes a section heading is not read; a javascript: link keeps its text
    assert {i.section for i in issue.items} == {"papers", "articles"}
    assert "Click here for nothing." in article.summary
    assert "javascript" not in repr(issue) and "alert" not in repr(issue)


def test_chinese_medium_page_with_a_feed_style_card() -> None:
    issue = parse_digest((HTML / "medium_page_zh.html").read_text(encoding="utf-8"), "zh.html")
    assert issue.key == "2021-W08" and issue.language == "zh"
    assert issue.url == "https://medium.com/@akira/ml-news-2021-week-8-zh-a1b2c3"
    paper, note, article = issue.items
    assert paper.title == "少样本目标检测的简单基线" and paper.pick
    assert paper.paper == "arxiv:2102.00021"
    assert paper.images == ("https://miro.medium.com/max/700/1*det.png",)
    assert note.url is None and note.summary
    assert article.title == "把模型量化到八位"
    assert article.url == "https://tech.example.cn/quantize"
    assert "alert" not in article.summary and "脚本" not in article.summary
    assert issue.picks == ("arxiv:2102.00021",)


def test_markdown_output_of_a_card_figure_and_list() -> None:
    page = html_to_markdown(
        '<html><head><link rel="canonical" href="https://medium.com/p/abc"></head><body>'
        "<h2>Title</h2><ol><li>one</li><li><b>two</b></li></ol>"
        '<figure><img src="a.png"><figcaption>cap</figcaption></figure>'
        '<div><a href="https://x.example/p?source=rss"><div><h2>T</h2><h3>D</h3><p>x.example</p>'
        "</div></a></div><p># not a heading</p><hr></body></html>"
    )
    assert page.canonical == "https://medium.com/p/abc"
    assert page.markdown.split("\n\n") == [
        "## Title",
        "1.  one\n2.  **two**",
        "![](a.png)",
        "[## T",
        "### D",
        "x.example](https://x.example/p?source=rss)",
        "\\# not a heading",
        "— — — — — — — —\n",
    ]


def test_html_detection() -> None:
    assert looks_like_html("\ufeff  <!doctype html><html><body></body></html>")
    assert looks_like_html("<h3>Akira's ML news</h3><p>x</p>")
    assert looks_like_html("<figure><img src=a></figure>")
    assert not looks_like_html("# 2020 年第 39 周\n<https://medium.com/x>")
    assert not looks_like_html("<https://medium.com/x> is the source")
    assert not looks_like_html("plain text")
    assert looks_like_html('<?xml version="1.0"?><!-- saved --><html><body></body></html>')
    assert not looks_like_html("<!-- exported -->\n# Akira's ML news #Week 41, 2020\n")


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<html><body><script>x()</script></body></html>", "has no text"),
        ("<p>hello</p><p>no digest here</p>", "no title with a week or month"),
        ("<h1>Week 3, 2021</h1><p>nothing numbered</p>", "no numbered section headings"),
    ],
)
def test_html_that_is_not_a_digest_is_refused_clearly(html: str, reason: str) -> None:
    with pytest.raises(DigestFormatError, match=reason):
        parse_digest(html)


def test_oversized_and_deeply_nested_html() -> None:
    with pytest.raises(DigestFormatError, match="HTML too large"):
        html_to_markdown("<p>" + "x" * (MAX_HTML_CHARS + 1))
    deep = "<div>" * 5000 + "# 1. Papers<script>steal()</script>" + "</div>" * 5000
    page = html_to_markdown(f"<h1>Week 3, 2021</h1>{deep}")
    assert "1. Papers" in page.markdown  # read as text, no recursion error
    assert "steal" not in page.markdown


def test_medium_feed_item_with_card_figure_and_tracking_pixel() -> None:
    from bot.services.feed_source import parse_feed
    from bot.services.feeds import entry_text

    body = (HTML / "medium_feed_zh.xml").read_bytes()
    digest, holiday = parse_feed(body, "https://medium.com/feed/@akira").entries
    issue = parse_digest(entry_text(digest), digest.link)
    assert issue.key == "2021-W09" and issue.language == "zh"
    assert issue.url == "https://medium.com/@akira/ml-news-2021-week-9-zh-9f8e7d6c5b4a"
    paper, unlinked, article = issue.items
    assert paper.title == "单样本适配的生成对抗网络" and paper.pick
    assert paper.url == "https://arxiv.org/abs/2103.00031"
    assert paper.images == ("https://cdn-images-1.medium.com/max/1024/1*gen.png",)
    assert unlinked.url is None
    assert article.title == "训练变慢的真正原因"
    assert article.url == "https://blog.example.cn/dataloader"
    assert article.images == ()  # the 1x1 tracking pixel is not an image of the item
    assert issue.picks == ("arxiv:2103.00031",)
    with pytest.raises(DigestFormatError, match="not a digest"):
        parse_digest(entry_text(holiday), holiday.link)


def test_lazy_medium_figure_takes_its_picture_source() -> None:
    page = html_to_markdown(
        '<figure><picture><source srcset="https://miro.medium.com/v2/1*a.png 640w, '
        'https://miro.medium.com/v2/1*a.png 1400w" type="image/webp">'
        '<img alt="" width="700" height="394" loading="lazy"></picture></figure>'
    )
    assert page.markdown.strip() == "![](https://miro.medium.com/v2/1*a.png)"
