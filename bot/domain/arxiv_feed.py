"""The arXiv API's Atom answer, read without I/O: an entry's title and the first sentence of
its abstract, for the comment ``/add`` proposes (issue 8)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

ATOM = "{http://www.w3.org/2005/Atom}"
_ABBREVIATIONS = {"e.g", "i.e", "al", "vs", "fig", "figs", "eq", "eqs", "cf", "approx", "resp"}
_END = re.compile(r"[.!?](?=\s|$)")


class FeedError(ValueError):
    """The answer is not an arXiv Atom feed with the paper in it."""


@dataclass(frozen=True, slots=True)
class ArxivEntry:
    arxiv_id: str
    title: str
    summary: str

    @property
    def first_sentence(self) -> str:
        return first_sentence(self.summary)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def parse_entry(xml: bytes | str, arxiv_id: str) -> ArxivEntry:
    """The entry of ``arxiv_id`` in an Atom feed; FeedError when the XML is malformed, has no
    entry, or the entry is arXiv's error entry (an unknown or badly formed id)."""
    try:
        root = ET.fromstring(xml)  # expat refuses entity expansion bombs (Python >= 3.7.1)
    except ET.ParseError as exc:
        raise FeedError(f"malformed XML ({exc})") from None
    if root.tag != f"{ATOM}feed":
        raise FeedError("not an Atom feed")
    for found in root.iter(f"{ATOM}entry"):
        title = _clean(found.findtext(f"{ATOM}title"))
        summary = _clean(found.findtext(f"{ATOM}summary"))
        ident = _clean(found.findtext(f"{ATOM}id"))
        if title.lower() == "error" or "/api/errors" in ident:
            raise FeedError(f"arXiv answered with an error: {summary[:200]}")
        if not title:
            raise FeedError("the entry has no title")
        return ArxivEntry(arxiv_id, title, summary)
    raise FeedError(f"arXiv has no paper {arxiv_id}")


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (abbreviations like "e.g." and "et al." do not end it)."""
    cleaned = _clean(text)
    for match in _END.finditer(cleaned):
        before = cleaned[: match.start()]
        word = before.rsplit(" ", 1)[-1].lower()
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue  # "e.g.", "et al.", an initial ("J. Smith")
        return cleaned[: match.end()]
    return cleaned


def fit(text: str, fits: Callable[[str], bool], limit_words: int = 400) -> str:
    """``text`` cut at a word boundary with "…" until ``fits(text)`` is true; the whole text
    when it fits already ("" when not even one word fits)."""
    if fits(text):
        return text
    words = text.split()[:limit_words]
    while words:
        words.pop()
        candidate = " ".join(words).rstrip(",;:") + "…"
        if fits(candidate):
            return candidate
    return ""
