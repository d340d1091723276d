"""Turning service results into rich tables and the documented JSON shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from bot.cli.common import plural
from bot.domain.model import IssueSummary, ParsedIssue, SearchHit

if TYPE_CHECKING:  # the services (and SQLAlchemy) load only with the commands that use them
    from bot.services.archive import ImportReport, Removal
    from bot.services.archive_reads import SearchResult
    from bot.services.dispatch import TickReport


def issue_json(issue: ParsedIssue) -> dict[str, Any]:
    return {
        "key": issue.key,
        "language": issue.language,
        "kind": issue.kind,
        "year": issue.year,
        "week": issue.week,
        "month": issue.month,
        "title": issue.title,
        "url": issue.url,
        "start": issue.start.isoformat(),
        "end": issue.end.isoformat(),
        "picks": list(issue.picks),
        "warnings": list(issue.warnings),
        "neighbours": list(issue.neighbours),
        "items": [
            {
                "position": it.position,
                "section": it.section,
                "headline": it.headline,
                "title": it.title,
                "url": it.url,
                "paper": it.paper,
                "summary": it.summary,
                "images": list(it.images),
                "pick": it.pick,
            }
            for it in issue.items
        ],
    }


def summary_json(s: IssueSummary) -> dict[str, Any]:
    return {
        "key": s.key,
        "language": s.language,
        "kind": s.kind,
        "title": s.title,
        "url": s.url,
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "items": s.items,
        "picks": s.picks,
        "warnings": s.warnings,
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "issue": hit.issue,
        "section": hit.section,
        "headline": hit.headline,
        "title": hit.title,
        "url": hit.url,
        "paper": hit.paper,
        "snippet": hit.snippet,
        "pick": hit.pick,
    }


def report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "failed": [{"source": s, "reason": r} for s, r in report.failed],
        "warnings": [{"issue": k, "warning": w} for k, w in report.warnings],
        "imported": [
            {"key": i.key, "language": i.language, "outcome": i.outcome, "source": i.source}
            for i in report.imported
        ],
    }


def removal_json(removed: Removal) -> dict[str, Any]:
    return {
        "key": removed.key,
        "languages": list(removed.languages),
        "items": removed.items,
        "papers": removed.papers,
        "cancelled_posts": removed.cancelled_posts,
    }


def issues_table(rows: list[IssueSummary]) -> Table:
    table = Table(title=f"{plural(len(rows), 'issue')}, newest first")
    for column in ("key", "lang", "kind", "dates", "items", "picks", "warnings", "title"):
        table.add_column(column, overflow="fold")
    for s in rows:
        table.add_row(
            s.key,
            s.language,
            s.kind,
            f"{s.start}..{s.end}",
            str(s.items),
            str(s.picks),
            str(s.warnings),
            Text(s.title),
        )
    return table


def issue_table(issue: ParsedIssue) -> Table:
    heading = f"{issue.key} ({issue.language}) · {issue.title}\n{issue.url or '(no source URL)'}"
    table = Table(title=Text(heading))
    for column in ("#", "section", "pick", "headline", "link"):
        table.add_column(column, overflow="fold")
    for it in issue.items:
        link = it.paper or it.url or "(no link)"
        table.add_row(str(it.position), it.section, "★" if it.pick else "", Text(it.headline), link)
    return table


def search_table(result: SearchResult) -> Table:
    found = len(result.hits)
    count = f"{found} result" if found == 1 else f"{found} results"
    table = Table(title=Text(f"search: {result.query}  ({count})"))
    for column in ("issue", "section", "headline", "snippet", "link"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        headline = Text(("★ " if hit.pick else "") + hit.headline)
        table.add_row(hit.issue, hit.section, headline, Text(hit.snippet), hit.url or "")
    return table


def tick_json(report: TickReport, problems: Sequence[str] = ()) -> dict[str, Any]:
    """One dispatcher run, as ``dispatch --once --json`` and ``queue now --json`` print it;
    ``problems``: platforms that could not start, a database that stayed locked."""
    return {
        "released": report.released,
        "sent": [{"post": p, "destination": d} for p, d in report.sent],
        "retrying": [{"post": p, "destination": d, "reason": r} for p, d, r in report.retrying],
        "failed": [{"post": p, "destination": d, "reason": r} for p, d, r in report.failed],
        "waiting": report.waiting,
        "problems": [*problems, *report.problems],
    }
