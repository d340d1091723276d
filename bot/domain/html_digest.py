"""HTML digests (a saved Medium page, a Medium URL, a feed item's ``content:encoded``) turned
into the Markdown that Medium exports, so that ``parse_digest`` keeps every rule in one place.

Pure: a string in, a string out, parsed by selectolax (lexbor), never by regular expressions.

* ``h1``-``h6`` become ``#`` headings of the same level; ``p`` become paragraphs whose ``br``
  are line breaks; ``em``/``strong`` become ``*``/``**``; ``a`` become ``[text](href)``.
* A link card (an ``a`` block holding a title, a description and a domain line, in Medium's
  page markup with ``h2``/``h3``/``p`` or its feed markup with ``strong``/``em``) becomes the
  ``[## title\\n\\n### description\\n\\ndomain](href)`` block of Medium's Markdown export.
* A figure becomes its image line(s); its caption is dropped (it describes the picture, it
  is not the item's summary). Lists become ``*`` / ``1.`` lines, ``hr`` a separator.
* Scripts, styles, forms, navigation, frames and comments are dropped; ``javascript:`` and
  other non-web links keep their text only. Tracking parameters are stripped later, by the
  parser's ``resolve_link``, exactly as for Markdown.
* The page's canonical URL (``link rel=canonical`` / ``og:url``) is returned apart: the
  parser uses it as the source (key from the slug, issue URL) when the text names none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from bot.domain.model import DigestFormatError

if TYPE_CHECKING:  # selectolax loads with the first HTML digest, not with every command
    from selectolax.lexbor import LexborHTMLParser, LexborNode

MAX_HTML_CHARS = 8_000_000  # a saved Medium page with its scripts is 0.3-2 MB
MAX_DEPTH = 120  # deeper nesting is read as plain text (no recursion blow-up)

_SKIP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "svg",
        "math",
        "canvas",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "button",
        "input",
        "select",
        "textarea",
        "head",
        "title",
        "meta",
        "link",
        "audio",
        "video",
        "source",
        "base",
        "-comment",
    }
)
_NEVER_TEXT = ("script", "style", "noscript", "template", "iframe", "object", "svg", "math")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = frozenset(
    {
        *_HEADINGS,
        "p",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "ul",
        "ol",
        "li",
        "figure",
        "figcaption",
        "hr",
        "pre",
        "table",
        "thead",
        "tbody",
        "tr",
        "td",
        "th",
        "dl",
        "dt",
        "dd",
        "body",
        "html",
        "picture",
    }
)
_WEB_HREF = ("http://", "https://", "/", "#", "./", "../")
_WS = re.compile(r"[ \t\r\n\f\u200b]+")
_HTML_START = re.compile(
    r"<(?:!doctype\s+html|html|head|body|article|section|div|p|h[1-6]|figure|meta|ul|ol"
    r"|blockquote|main)[\s>/]",
    re.IGNORECASE,
)
SEPARATOR_LINE = "— — — — — — — —"


@dataclass(frozen=True, slots=True)
class HtmlDigest:
    """The Markdown of an HTML digest and the page's canonical URL (None when it has none)."""

    markdown: str
    canonical: str | None = None


def looks_like_html(text: str) -> bool:
    """True when ``text`` is an HTML document or fragment rather than Markdown or plain text:
    it starts (after blanks and a BOM) with an HTML tag or doctype."""
    head = text[:4096].lstrip("\ufeff \t\r\n")
    for _ in range(8):  # leading comments and an XML declaration say nothing either way
        opener = "<!--" if head.startswith("<!--") else "<?" if head.startswith("<?") else None
        if opener is None:
            break
        end = head.find("-->" if opener == "<!--" else "?>")
        if end < 0:
            return False
        head = head[end + (3 if opener == "<!--" else 2) :].lstrip()
    return head.startswith("<") and _HTML_START.match(head) is not None


def html_to_markdown(html: str) -> HtmlDigest:
    """Medium-style Markdown for ``html``; raises ``DigestFormatError`` when it is too large or
    has no text at all."""
    if len(html) > MAX_HTML_CHARS:
        raise DigestFormatError(
            f"not a digest: HTML too large ({len(html)} characters, limit {MAX_HTML_CHARS})"
        )
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    tree.strip_tags(list(_NEVER_TEXT))  # gone with their content, even past MAX_DEPTH
    canonical = _canonical(tree)
    root = _content_root(tree)
    blocks: list[str] = []
    if root is not None:
        _Walker(blocks, _base(tree)).block(root, 0)
    markdown = "\n\n".join(b for b in blocks if b.strip())
    if not markdown.strip():
        raise DigestFormatError("not a digest: the HTML page has no text")
    return HtmlDigest(markdown + "\n", canonical)


def _canonical(tree: LexborHTMLParser) -> str | None:
    for selector, attribute in (
        ('link[rel="canonical"]', "href"),
        ('meta[property="og:url"]', "content"),
    ):
        node = tree.css_first(selector)
        value = (node.attributes.get(attribute) or "").strip() if node is not None else ""
        if value.lower().startswith(("http://", "https://")):
            return value
    return None


def _base(tree: LexborHTMLParser) -> str | None:
    """``<base href>``: relative links resolve against it (a feed item's links, against the
    feed); without it they stay relative and the parser reads them as Medium links."""
    node = tree.css_first("base[href]")
    href = (node.attributes.get("href") or "").strip() if node is not None else ""
    return href if href.lower().startswith(("http://", "https://")) else None


def _content_root(tree: LexborHTMLParser) -> LexborNode | None:
    """The post itself: Medium's ``article`` when there is one, else the whole body."""
    article = tree.css_first("article")
    return article if article is not None else tree.body


def _collapse(text: str) -> str:
    return _WS.sub(" ", text)


def _safe(url: str, base: str | None) -> str:
    if base is not None and not url.lower().startswith(("http://", "https://")):
        url = urljoin(base, url)
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def _href(node: LexborNode, base: str | None = None) -> str | None:
    """A link target the parser may use; ``javascript:``, ``data:`` and the like: None."""
    href = (node.attributes.get("href") or "").strip()
    if not href or not href.lower().startswith(_WEB_HREF):
        return None
    return _safe(href, base)


def _img_src(node: LexborNode, base: str | None = None) -> str | None:
    """An image's source (its ``src``, else the first of its ``srcset``); None for a tracking
    pixel (1x1, as at the end of Medium's feed items)."""
    attrs = node.attributes
    if (attrs.get("width") or "").strip() == "1" and (attrs.get("height") or "").strip() == "1":
        return None
    src = (attrs.get("src") or "").strip()
    if not src:
        srcset = (attrs.get("srcset") or "").strip()
        src = srcset.split(",", 1)[0].strip().split(" ", 1)[0] if srcset else ""
    if not src or src.lower().startswith(("javascript:", "data:")):
        return None
    return _safe(src, base)


def _wrap(marker: str, text: str) -> str:
    """``*core*`` with the blanks around the core kept outside the markers."""
    core = text.strip()
    if not core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}{marker}{core}{marker}{trail}"


def _children(node: LexborNode) -> list[LexborNode]:
    out: list[LexborNode] = []
    child = node.child
    while child is not None:
        out.append(child)
        child = child.next
    return out


def _has_block(node: LexborNode) -> bool:
    return any((c.tag or "") in _BLOCKS or _is_card_link(c) for c in _children(node))


def _is_card_link(node: LexborNode) -> bool:
    """An ``a`` holding a card: headings, paragraphs or blocks (page markup), or a bold
    title (feed markup)."""
    if node.tag != "a":
        return False
    return node.css_first("h1, h2, h3, h4, h5, h6, p, div, strong, b") is not None


def _escape_line(line: str) -> str:
    """A paragraph line must not turn into a heading or a link card."""
    if line.startswith("#"):
        return "\\" + line
    return line


class _Walker:
    """Appends Markdown blocks to ``out`` while walking the tree."""

    def __init__(self, out: list[str], base: str | None = None) -> None:
        self.out = out
        self.base = base

    # ------------------------------------------------------------------ blocks
    def block(self, node: LexborNode, depth: int) -> None:
        tag = node.tag or ""
        if tag in _SKIP:
            return
        if depth > MAX_DEPTH:
            self.paragraph(_collapse(node.text(deep=True)))
            return
        if tag in _HEADINGS:
            text = _collapse(self.inline(node, depth)).strip()
            if text:
                self.out.append("#" * _HEADINGS[tag] + " " + text.replace("\n", " "))
        elif tag == "p":
            self.paragraph(self.inline(node, depth))
        elif tag == "hr":
            self.out.append(SEPARATOR_LINE)
        elif tag in ("ul", "ol"):
            self.listing(node, depth, ordered=tag == "ol")
        elif tag == "figure" or tag == "picture":
            self.figure(node)
        elif tag == "img":
            src = _img_src(node, self.base)
            if src:
                self.out.append(f"![]({src})")
        elif tag == "blockquote":
            inner: list[str] = []
            _Walker(inner, self.base).container(node, depth)
            lines = "\n\n".join(inner).split("\n")
            self.out.append("\n".join(f"> {ln}" if ln.strip() else ">" for ln in lines))
        elif tag == "pre":
            self.out.append("\n".join(ln.rstrip() for ln in node.text(deep=True).split("\n")))
        elif tag == "a" and _is_card_link(node):
            self.out.append(self.card(node))
        elif tag in _BLOCKS or tag in ("-document", ""):
            self.container(node, depth)
        else:  # inline content standing alone (a span, a bare text node, a plain link)
            self.paragraph(self.inline(node, depth))

    def container(self, node: LexborNode, depth: int) -> None:
        """Block children in order; runs of inline children between them are paragraphs."""
        if not _has_block(node):
            self.paragraph(self.inline(node, depth))
            return
        run: list[str] = []
        for child in _children(node):
            tag = child.tag or ""
            if tag in _BLOCKS or tag == "img" or _is_card_link(child):
                self.paragraph("".join(run))
                run = []
                self.block(child, depth + 1)
            elif tag not in _SKIP:
                run.append(self.inline(child, depth + 1))
        self.paragraph("".join(run))

    def paragraph(self, text: str) -> None:
        lines = [_collapse(line).strip() for line in text.split("\n")]
        lines = [_escape_line(line) for line in lines if line]
        if lines:
            self.out.append("\n".join(lines))

    def listing(self, node: LexborNode, depth: int, *, ordered: bool) -> None:
        lines: list[str] = []
        number = 0
        for item in (c for c in _children(node) if c.tag == "li"):  # nested lists: inline
            text = _collapse(self.inline(item, depth + 1).replace("\n", " ")).strip()
            if not text:
                continue
            number += 1
            lines.append(f"{number}.  {text}" if ordered else f"*   {text}")
        if lines:
            self.out.append("\n".join(lines))

    def figure(self, node: LexborNode) -> None:
        images = [s for s in (_img_src(img, self.base) for img in node.css("img")) if s]
        if not images:  # a lazy page: the picture's sources carry the only URLs
            sources = (_img_src(src, self.base) for src in node.css("source"))
            images = [s for s in sources if s][:1]
        if images:
            self.out.append("".join(f"![]({src})" for src in dict.fromkeys(images)))

    def card(self, node: LexborNode) -> str:
        """A link card's Markdown (its text alone when the link is not usable)."""
        href = _href(node, self.base)
        headings = node.css("h1, h2, h3, h4, h5, h6")
        strong = node.css_first("strong, b")
        if href is None:
            return _collapse(node.text(deep=True)).strip() or ""
        if headings:
            title = _collapse(headings[0].text(deep=True)).strip()
            description = (
                _collapse(headings[1].text(deep=True)).strip() if len(headings) > 1 else ""
            )
            domains = [_collapse(p.text(deep=True)).strip() for p in node.css("p")]
            domain = next((d for d in domains if d), "")
        else:
            title = _collapse(strong.text(deep=True)).strip() if strong is not None else ""
            em = node.css_first("em, i")
            description = _collapse(em.text(deep=True)).strip() if em is not None else ""
            rest = _collapse(node.text(deep=True))
            for used in (title, description):
                rest = rest.replace(used, " ", 1) if used else rest
            domain = _collapse(rest).strip()
        if not (title or description or domain):
            return ""
        safe = [t.replace("[", "(").replace("]", ")") for t in (title, description, domain)]
        parts = [f"[## {safe[0]}"]
        if safe[1]:
            parts.append(f"### {safe[1]}")
        parts.append(f"{safe[2]}]({href})" if safe[2] else f"]({href})")
        return "\n\n".join(parts)

    # ------------------------------------------------------------------ inline
    def inline(self, node: LexborNode, depth: int) -> str:
        tag = node.tag or ""
        if tag == "-text":
            return _collapse(node.text_content or "")
        if tag in _SKIP or depth > MAX_DEPTH:
            return ""
        if tag == "br":
            return "\n"
        if tag == "img":
            src = _img_src(node, self.base)
            return f"![]({src})" if src else ""
        inner = "".join(self.inline(child, depth + 1) for child in _children(node))
        if tag in _HEADINGS or tag in ("p", "div", "li", "figcaption", "blockquote", "tr"):
            return " " + inner + " " if tag in ("li", "tr") else inner + "\n"
        if tag in ("em", "i", "cite"):
            return _wrap("*", inner) if "\n" not in inner.strip() else inner
        if tag in ("strong", "b"):
            return _wrap("**", inner) if "\n" not in inner.strip() else inner
        if tag == "a":
            return self.link(node, inner)
        return inner

    def link(self, node: LexborNode, inner: str) -> str:
        href = _href(node, self.base)
        text = inner.replace("\n", " ")
        if href is None or "](" in text:
            return inner
        if not text.strip():
            return text  # an empty link (a card's picture) says nothing
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()) :]
        label = text.strip().replace("[", "(").replace("]", ")")
        return f"{lead}[{label}]({href}){trail}"
