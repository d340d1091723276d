"""Issue keys as people and titles spell them: ``2020-W39`` (weekly) or ``2020-09`` (monthly).

Kept apart from the digest parser so that reading a key (``digestbot show 2020-w39``, ``/week
2020-39``) does not load the parser's many patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TITLE_MAX_CHARS = 300

_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_MONTH_PREFIXES = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
_WEEK_PATTERNS = (
    re.compile(r"(\d{4})\s*年\s*第\s*(\d{1,2})\s*周"),
    re.compile(r"(\d{4})[\s,_-]*w(?:eek)?[\s_-]*(\d{1,2})(?!\d)", re.IGNORECASE),
)
_WEEK_FIRST = re.compile(
    r"\bweek[\s#_-]*(\d{1,2})(?!\d)[\s,/_-]*(?:of\s+)?(\d{4})(?!\d)", re.IGNORECASE
)
_MONTH_ZH = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月")
_MONTH_EN = re.compile(rf"\b({_MONTHS})\.?[\s,_-]*(\d{{4}})(?!\d)", re.IGNORECASE)
_MONTH_KEY = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])")
_GIVEN_WEEK = re.compile(r"(\d{4})[\s_-]*w(?:eek)?[\s_-]*(\d{1,2})", re.IGNORECASE)
_GIVEN_MONTH = re.compile(r"(\d{4})\s*[-/._]\s*(\d{1,2})")


@dataclass(frozen=True, slots=True)
class IssueKey:
    year: int
    week: int | None = None
    month: int | None = None

    @property
    def text(self) -> str:
        if self.week is not None:
            return f"{self.year}-W{self.week:02d}"
        return f"{self.year}-{self.month:02d}"


def _month_number(name: str) -> int:
    return _MONTH_PREFIXES.index(name[:3].lower()) + 1


def key_from_text(text: str) -> IssueKey | None:
    for pattern in _WEEK_PATTERNS:
        if m := pattern.search(text):
            return IssueKey(int(m.group(1)), week=int(m.group(2)))
    if m := _WEEK_FIRST.search(text):
        return IssueKey(int(m.group(2)), week=int(m.group(1)))
    if m := _MONTH_ZH.search(text):
        return IssueKey(int(m.group(1)), month=int(m.group(2)))
    if m := _MONTH_EN.search(text):
        return IssueKey(int(m.group(2)), month=_month_number(m.group(1)))
    if m := _MONTH_KEY.search(text):
        return IssueKey(int(m.group(1)), month=int(m.group(2)))
    return None


def normalize_key(text: str) -> str | None:
    """The canonical key for a key as people type it (``2020-w39``, ``2020W9``, ``2020-9``,
    ``2020 年第 39 周``, ``Week 39, 2020``): ``2020-W39`` or ``2020-09``; None if there is none."""
    text = text.strip()
    if len(text) > TITLE_MAX_CHARS:
        return None
    if m := _GIVEN_WEEK.fullmatch(text):
        return IssueKey(int(m.group(1)), week=int(m.group(2))).text
    if m := _GIVEN_MONTH.fullmatch(text):
        return IssueKey(int(m.group(1)), month=int(m.group(2))).text
    key = key_from_text(text)
    return key.text if key is not None else None
