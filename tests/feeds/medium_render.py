"""A test-only renderer: a Markdown digest (Medium's export format) as the HTML Medium serves
for the same post, so that tests can check both parse to the same issue.

Cards become Medium's page markup (``a`` holding ``h2`` title, ``h3`` description and a ``p``
domain) or its feed markup (``strong``/``em`` and a domain); images become figures with a
caption; line breaks inside a paragraph become ``br``; links get Medium's ``?source=`` tracking
query unless they already have a query.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark")
_CARD = re.compile(
    r"(?:\[\]\((?P<lead>[^()\s]*)\)[ \t]*)?\[##[ \t]+(?P<title>[^\n]*)\n\n"
    r"(?:###[ \t]+(?P<desc>[^\n]*)\n\n)?(?P<domain>[^\n\]]*)\]\((?P<href>[^()\s]*)\)"
)
_HEADING = re.compile(r"(#{1,6})[ \t]+(.*)")
_IMAGES = re.compile(r"(?:!\[[^\]]*\]\([^()\s]*\))+")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^()\s]*)\)")
_BULLET = re.compile(r"[*\-+][ \t]+(.*)")
_NUMBER = re.compile(r"\d{1,2}\.[ \t]+(.*)")


def _inline(text: str) -> str:
    return _MD.renderInline(text)


def _card(m: re.Match[str], style: str) -> str:
    href = html.escape(m.group("href"))
    title, desc, domain = (html.escape(m.group(k) or "") for k in ("title", "desc", "domain"))
    if style == "feed":
        return (
            f'<div class="graf--mixtapeEmbed"><a href="{href}" class="markup--mixtapeEmbed-anchor">'
            f"<strong>{title}</strong><br><em>{desc}</em>{domain}</a>"
            f'<a href="{href}" class="js-mixtapeImage"></a></div>'
        )
    return (
        f'<div class="card"><a href="{href}" rel="noopener" target="_blank"><div><div>'
        f"<h2>{title}</h2><div><h3>{desc}</h3></div><div><p>{domain}</p></div></div>"
        f'<div class="thumb"></div></div></a></div>'
    )


def render(markdown: str, *, style: str = "page", head: str = "") -> str:
    """``style``: "page" (a saved Medium page, in ``article``) or "feed" (``content:encoded``)."""
    cards: list[str] = []

    def stash(m: re.Match[str]) -> str:
        cards.append(_card(m, style))
        return f"\n\n\x00{len(cards) - 1}\x00\n\n"

    text = _CARD.sub(stash, markdown.replace("\r\n", "\n"))
    out: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        para: list[str] = []

        def flush(para: list[str] = para) -> None:
            if para:
                out.append("<p>" + "<br>".join(_inline(ln.strip()) for ln in para) + "</p>")
                para.clear()

        items: list[str] = []
        ordered = False
        for line in lines:
            stripped = line.strip()
            bullet = _BULLET.fullmatch(stripped)
            number = _NUMBER.fullmatch(stripped)
            if bullet or number:
                flush()
                ordered = bullet is None
                items.append(f"<li>{_inline((bullet or number).group(1))}</li>")  # type: ignore[union-attr]
                continue
            if items:
                out.append(_list(items, ordered))
                items = []
            if stripped.startswith("\x00"):
                flush()
                out.append(cards[int(stripped.strip("\x00"))])
            elif heading := _HEADING.fullmatch(stripped):
                flush()
                level = len(heading.group(1))
                out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            elif _IMAGES.fullmatch(stripped):
                flush()
                for src in _IMAGE.findall(stripped):
                    out.append(
                        f'<figure><div><img alt="" src="{html.escape(src)}" width="700"></div>'
                        "<figcaption>A picture from the paper</figcaption></figure>"
                    )
            elif stripped.startswith(">"):
                flush()
                out.append(f"<blockquote><p>{_inline(stripped.lstrip('> '))}</p></blockquote>")
            else:
                para.append(stripped)
        flush()
        if items:
            out.append(_list(items, ordered))
    body = "\n".join(out)
    if style == "feed":
        return body
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}<title>digest</title>"
        "<script>window.__APOLLO_STATE__ = {'# 1. Papers': 1}</script></head><body>"
        "<nav><a href='/'>Medium</a><a href='/m/signin'>Sign in</a></nav>"
        f"<article><section>{body}</section></article>"
        "<footer><p>Help Status About</p></footer></body></html>"
    )


def _list(items: list[str], ordered: bool) -> str:
    tag = "ol" if ordered else "ul"
    return f"<{tag}>{''.join(items)}</{tag}>"
