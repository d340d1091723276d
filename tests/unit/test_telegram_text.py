"""Tests for bot.domain.telegram_text: cleaning, escaping and HTML message composition."""

from __future__ import annotations

import random
import re
import time
from html.parser import HTMLParser

import pytest

from bot.domain.telegram_text import (
    Button,
    TelegramMessage,
    clean_text,
    compose_digest_message,
    compose_drip_message,
    escape,
    is_http_url,
    truncate_units,
    visible_length,
)

ARXIV_URL = "https://arxiv.org/abs/2112.04426"
DIGEST_URL = "https://digest.example.com/2021-W50"
FAMILY = "👨\u200d👩\u200d👧\u200d👦"
ALLOWED_TAGS = {"b", "i", "a", "u", "s", "code", "pre"}
TAG_RE = re.compile(r'</?(?:b|i|u|s|code|pre|a)(?: href="[^"<>]*")?>')
ENTITY_RE = re.compile(r"&(?:amp|lt|gt|quot);")


class _TelegramHtmlChecker(HTMLParser):
    """Collects the visible text; records any tag Telegram would reject or mis-nest."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: list[str] = []
        self.errors: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.errors.append(f"tag <{tag}> not allowed")
        if tag == "a":
            if len(attrs) != 1 or attrs[0][0] != "href" or not attrs[0][1]:
                self.errors.append(f"bad <a> attributes {attrs}")
            else:
                self.hrefs.append(attrs[0][1])
        elif attrs:
            self.errors.append(f"<{tag}> has attributes {attrs}")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_comment(self, data: str) -> None:
        self.errors.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.errors.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.errors.append("processing instruction")


def visible_text(html: str) -> str:
    """Parse *html* as Telegram would; fail on anything it would reject."""
    outside_tags = TAG_RE.sub("", html)
    assert "<" not in outside_tags and ">" not in outside_tags
    assert "&" not in ENTITY_RE.sub("", outside_tags), "bare & outside an entity"
    checker = _TelegramHtmlChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == [], "unclosed tags"
    for href in checker.hrefs:
        assert is_http_url(href), href
    return "".join(checker.parts)


def assert_valid_message(message: TelegramMessage) -> str:
    text = visible_text(message.text)
    assert 0 < visible_length(text) <= 4096
    text.encode("utf-8")  # no lone surrogates
    for row in message.buttons:
        for button in row:
            assert is_http_url(button.url)
    return text


def assert_prefix(shown: str, cleaned: str) -> None:
    """*shown* is *cleaned*, or a prefix of it followed by an ellipsis."""
    if shown != cleaned:
        assert shown.endswith("…"), shown[-20:]
        assert cleaned.startswith(shown.removesuffix("…"))


# ---------------------------------------------------------------- helpers


def test_escape() -> None:
    assert escape('<a href="x">&amp;</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;amp;&lt;/a&gt;"
    assert escape("it's") == "it's"


def test_visible_length_counts_utf16_units() -> None:
    assert visible_length("a😀中") == 4
    assert visible_length(FAMILY) == 11
    assert visible_length("") == 0


def test_clean_text_removes_invisible_characters() -> None:
    dirty = "a\u200bb\u202ec\u2066d\ufeffe\x00f\x1bg\u200fh\U000e0041i"
    assert clean_text(dirty, keep_newlines=False) == "abcdefghi"


def test_clean_text_keeps_emoji_joiners_and_flags() -> None:
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert clean_text(f"{FAMILY} {england}", keep_newlines=False) == f"{FAMILY} {england}"
    assert clean_text("a\u200db", keep_newlines=False) == "ab"


def test_clean_text_whitespace() -> None:
    text = " one\t two \r\n\r\n\r\n three\u2028four "
    assert clean_text(text, keep_newlines=True) == "one two\n\nthree\nfour"
    assert clean_text(text, keep_newlines=False) == "one two three four"


def test_clean_text_surrogates() -> None:
    assert clean_text("x\ud83d\ude00y\ud83dz", keep_newlines=False) == "x😀yz"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://arxiv.org/abs/1", True),
        ("HTTP://Example.com", True),
        ("javascript:alert(1)", False),
        ("ftp://example.com", False),
        ("https://", False),
        ("https://exa mple.com", False),
        ("https://example.com/\u202e", False),
        ("//example.com", False),
        (None, False),
    ],
)
def test_is_http_url(url: str | None, ok: bool) -> None:
    assert is_http_url(url) is ok


def test_truncate_units() -> None:
    assert truncate_units("alpha beta gamma", 100) == "alpha beta gamma"
    assert truncate_units("alpha beta gamma", 12) == "alpha beta…"
    assert truncate_units("中文中文中文", 4) == "中文中…"
    assert truncate_units("😀😀😀", 5) == "😀😀…"
    assert truncate_units("😀😀😀", 4) == "😀…"
    assert truncate_units("x\u0301\u0301\u0301yz", 4) == "…"


# ---------------------------------------------------------------- drip messages

COMMENT = "Retrieval helps small models punch above their weight."
TITLE = "Improving language models by retrieving from trillions of tokens"


def test_drip_message_english_with_buttons() -> None:
    message = compose_drip_message(
        COMMENT,
        title=TITLE,
        url=ARXIV_URL,
        paper="arxiv:2112.04426",
        digest_url=DIGEST_URL,
        buttons=True,
        preview=False,
    )
    assert message == TelegramMessage(
        text=f'{COMMENT}\n\n<i>{TITLE}</i>\n<a href="{ARXIV_URL}">arXiv:2112.04426</a>',
        parse_mode="HTML",
        disable_preview=True,
        preview_url=None,
        buttons=((Button("Paper", ARXIV_URL), Button("Digest", DIGEST_URL)),),
    )


def test_drip_message_chinese_without_buttons() -> None:
    comment = "这篇论文展示了检索增强生成的简单改进。"
    url = "https://www.openai.com/blog/x?a=1&b=2"
    message = compose_drip_message(
        comment,
        title="检索 <增强>",
        url=url,
        paper=url,
        digest_url=DIGEST_URL,
        buttons=False,
        preview=True,
    )
    assert message.text == (
        f"{comment}\n\n<i>检索 &lt;增强&gt;</i>\n"
        '<a href="https://www.openai.com/blog/x?a=1&amp;b=2">openai.com</a> · '
        f'<a href="{DIGEST_URL}">Digest</a>'
    )
    assert message.buttons == ()
    assert message.disable_preview is False
    assert message.preview_url == url


def test_drip_message_escapes_everything() -> None:
    message = compose_drip_message(
        'a <b>bold</b> & "quoted" claim',
        title=None,
        url='https://example.com/?q="x"&y=<z>',
        paper=None,
        digest_url=None,
        buttons=False,
        preview=False,
    )
    assert message.text == (
        "a &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; claim\n\n"
        '<a href="https://example.com/?q=&quot;x&quot;&amp;y=&lt;z&gt;">example.com</a>'
    )
    assert assert_valid_message(message).startswith('a <b>bold</b> & "quoted" claim')


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://a.org", None])
def test_drip_message_drops_non_http_links(url: str | None) -> None:
    message = compose_drip_message(
        COMMENT, title=None, url=url, paper=None, digest_url=url, buttons=True, preview=True
    )
    assert message.text == COMMENT
    assert message.buttons == ()
    assert message.preview_url is None
    assert message.disable_preview is True


def test_drip_message_truncates_comment_at_word() -> None:
    message = compose_drip_message(
        "word " * 2000, title=TITLE, url=ARXIV_URL, paper=None, digest_url=None,
        buttons=False, preview=False,
    )  # fmt: skip
    shown = assert_valid_message(message)
    comment, _, footer = shown.rpartition("\n\n")
    assert footer == f"{TITLE}\narxiv.org"
    assert comment.endswith("word…")
    assert set(comment.removesuffix("…").split(" ")) == {"word"}
    assert visible_length(shown) >= 4090


def test_drip_message_never_splits_surrogate_pairs() -> None:
    message = compose_drip_message(
        "a" + "😀" * 3000, title=None, url=None, paper=None, digest_url=None,
        buttons=False, preview=False,
    )  # fmt: skip
    shown = assert_valid_message(message)
    assert shown == "a" + "😀" * 2047 + "…"


def test_drip_message_truncates_long_title() -> None:
    message = compose_drip_message(
        COMMENT, title="T" * 5000, url=None, paper=None, digest_url=None,
        buttons=False, preview=False,
    )  # fmt: skip
    shown = assert_valid_message(message)
    assert shown == f"{COMMENT}\n\n{'T' * 511}…"


def test_drip_message_empty_raises() -> None:
    with pytest.raises(ValueError):
        compose_drip_message(
            "\u200b", title=" ", url=None, paper=None, digest_url=None, buttons=True, preview=True
        )


def test_megabyte_comment_is_fast_and_valid() -> None:
    comment = ("<b>& " * 50_000 + "中文😀\u202e " * 50_000)[:1_000_000]
    started = time.process_time()  # this process's CPU only: immune to a loaded machine
    message = compose_drip_message(
        comment, title=TITLE, url=ARXIV_URL, paper=None, digest_url=DIGEST_URL,
        buttons=True, preview=True,
    )  # fmt: skip
    assert time.process_time() - started < 20  # generous: quadratic work would take hours
    shown = assert_valid_message(message)
    assert shown.startswith("<b>& <b>& ")


# ---------------------------------------------------------------- digest messages


def test_digest_message_exact() -> None:
    message = compose_digest_message(
        "ML Digest 2020-W39",
        [
            ("GPT-3 <explained>", "https://example.com/gpt3"),
            ("No link pick", None),
            ("Bad link", "ftp://example.com/x"),
            ("\u200b", "https://example.com/empty"),
        ],
        DIGEST_URL,
        buttons=True,
    )
    assert message.text == (
        f'<b><a href="{DIGEST_URL}">ML Digest 2020-W39</a></b>\n\n'
        "<b>Editor's picks</b>\n"
        '• <a href="https://example.com/gpt3">GPT-3 &lt;explained&gt;</a>\n'
        "• No link pick\n"
        "• Bad link"
    )
    assert message.buttons == ((Button("Read the issue", DIGEST_URL),),)
    assert message.preview_url == DIGEST_URL
    assert_valid_message(message)


def test_digest_message_without_picks_or_buttons() -> None:
    message = compose_digest_message("Weekly", [], DIGEST_URL, buttons=False)
    assert message.text == f'<b><a href="{DIGEST_URL}">Weekly</a></b>'
    assert message.buttons == ()


def test_digest_message_drops_picks_that_do_not_fit() -> None:
    picks = [(f"pick {n} " + "x" * 400, "https://example.com/p") for n in range(40)]
    message = compose_digest_message("T" * 1000, picks, DIGEST_URL, buttons=False)
    shown = assert_valid_message(message)
    assert shown.startswith("T" * 511 + "…\n\nEditor's picks\n• pick 0 ")
    assert 5 < shown.count("\n• ") < 40


# ---------------------------------------------------------------- properties

HOSTILE_PIECES = [
    "<", ">", "&", '"', "'", "*", "_", "<b>", "</i>", "&amp;", "<a href='x'>", "\u202e",
    "\u200b", "\u2066", "\ufeff", "😀", FAMILY, "🇫🇷", "中文", "。", ". ", " ", "\n", "\n\n\n",
    "\t", "\r\n", "\x00", "\x1b", "\u0301", "https://example.com/a?b=1&c=2", "\ud83d", "word",
    "long" * 40, "\U000e0041",
]  # fmt: skip


def _hostile_texts() -> list[str]:
    rng = random.Random(4096)
    texts = ["".join(rng.choices(HOSTILE_PIECES, k=rng.randint(0, 200))) for _ in range(200)]
    texts += ["".join(rng.choices(HOSTILE_PIECES, k=3000)) for _ in range(5)]
    texts += ['<&>"' * 250_000, "😀" * 500_000, "a" * 1_000_000, "\u200b" * 100_000]
    return texts


HOSTILE = _hostile_texts()
URLS = [ARXIV_URL, "javascript:alert(1)", 'https://e.com/?a="<b>"&c', None]


def test_drip_message_properties() -> None:
    rng = random.Random(7)
    for text in HOSTILE:
        title = rng.choice(HOSTILE)
        url, digest, buttons = rng.choice(URLS), rng.choice(URLS), rng.random() < 0.5
        try:
            message = compose_drip_message(
                text, title=title, url=url, paper="arxiv:2112.04426", digest_url=digest,
                buttons=buttons, preview=rng.random() < 0.5,
            )  # fmt: skip
        except ValueError:
            assert not clean_text(text, keep_newlines=True)
            assert not clean_text(title, keep_newlines=False)
            assert not is_http_url(url)
            continue
        shown = assert_valid_message(message)
        cleaned = clean_text(text, keep_newlines=True)
        clean_title = clean_text(title, keep_newlines=False)
        has_footer = bool(clean_title) or is_http_url(url) or (is_http_url(digest) and not buttons)
        comment, footer = (shown.rpartition("\n\n")[::2]) if has_footer else (shown, "")
        if cleaned and has_footer:
            assert_prefix(comment, cleaned)
        elif cleaned:
            assert_prefix(shown, cleaned)
        else:
            footer = shown
        if clean_title:
            assert_prefix(footer.split("\n")[0], clean_title)


def test_checker_rejects_bad_html() -> None:
    for bad in ["<b>x", "x</i>", "<b><i>x</b></i>", "<script>x</script>", "a & b", "a < b",
                '<a href="javascript:x">x</a>', "<br/>", "<b class='x'>x</b>"]:  # fmt: skip
        with pytest.raises(AssertionError):
            visible_text(bad)
    assert visible_text('<b>a &amp; <a href="https://x.org">b</a></b>') == "a & b"


def test_digest_message_properties() -> None:
    for index in range(0, len(HOSTILE) - 2, 3):
        picks = [(HOSTILE[index + 1], URLS[index % 4]), (HOSTILE[index + 2], None)] * 5
        message = compose_digest_message(HOSTILE[index], picks, ARXIV_URL, buttons=True)
        shown = assert_valid_message(message)
        heading = clean_text(HOSTILE[index], keep_newlines=False) or "New issue"
        assert_prefix(shown.split("\n")[0], heading)
