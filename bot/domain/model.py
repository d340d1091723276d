"""Dataclasses shared by the domain functions, services and handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Section = Literal["papers", "articles", "use_cases", "other"]
SECTIONS: tuple[Section, ...] = ("papers", "articles", "use_cases", "other")
IssueKind = Literal["weekly", "monthly"]
Language = Literal["en", "zh", "ja"]
LANGUAGES: tuple[Language, ...] = ("en", "zh", "ja")


class DigestFormatError(ValueError):
    """The text is not a digest this program understands (the message says why)."""


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One entry of a digest, as read from its text."""

    position: int  # 1-based, in reading order across the whole issue
    section: Section
    headline: str  # heading text, markdown emphasis removed
    title: str | None  # italic title or link-card title
    url: str | None  # the item's own link (None when no usable link)
    paper: str | None  # paper identity (arxiv:NNNN.NNNNN or normalized URL), None without url
    summary: str  # the paragraph(s), markdown links reduced to their text
    images: tuple[str, ...] = ()
    pick: bool = False


@dataclass(frozen=True, slots=True)
class ParsedIssue:
    """One published digest (weekly or monthly)."""

    key: str  # "2020-W39" or "2020-09"
    kind: IssueKind
    year: int
    week: int | None
    month: int | None
    title: str
    url: str | None  # canonical source URL, tracking query stripped
    start: date  # first day covered (Monday of the ISO week / first of the month)
    end: date  # last day covered (Sunday / last of the month)
    items: tuple[ParsedItem, ...]
    picks: tuple[str, ...]  # paper identities of the editor's picks, in list order
    warnings: tuple[str, ...] = ()
    neighbours: tuple[str, ...] = field(default=())  # URLs of neighbouring issues
    language: Language = "en"  # detected from the text; an issue is key + language


@dataclass(frozen=True, slots=True)
class IssueSummary:
    """One archived issue as listed by ``digestbot issues``."""

    key: str
    kind: IssueKind
    title: str
    url: str | None
    start: date
    end: date
    items: int
    picks: int
    warnings: int
    language: Language = "en"


@dataclass(frozen=True, slots=True)
class SearchFilters:
    section: Section | None = None
    picks_only: bool = False
    year: int | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    issue: str
    section: Section
    headline: str
    title: str | None
    url: str | None
    paper: str | None
    snippet: str
    pick: bool
