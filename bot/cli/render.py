"""Turning service results into rich tables and the documented JSON shapes."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from bot.domain.model import IssueSummary, ParsedIssue, SearchHit
from bot.services.archive import ImportReport, SearchResult


def issue_json(issue: ParsedIssue) -> dict[str, Any]:
    return {
        "key": issue.key,
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
    }


def issues_table(rows: list[IssueSummary]) -> Table:
    table = Table(title=f"{len(rows)} issues, newest first")
    for column in ("key", "kind", "dates", "items", "picks", "warnings", "title"):
        table.add_column(column, overflow="fold")
    for s in rows:
        table.add_row(
            s.key,
            s.kind,
            f"{s.start}..{s.end}",
            str(s.items),
            str(s.picks),
            str(s.warnings),
            Text(s.title),
        )
    return table


def issue_table(issue: ParsedIssue) -> Table:
    table = Table(title=Text(f"{issue.key} · {issue.title}\n{issue.url or '(no source URL)'}"))
    for column in ("#", "section", "pick", "headline", "link"):
        table.add_column(column, overflow="fold")
    for it in issue.items:
        link = it.paper or it.url or "(no link)"
        table.add_row(str(it.position), it.section, "★" if it.pick else "", Text(it.headline), link)
    return table


def search_table(result: SearchResult) -> Table:
    table = Table(title=Text(f"search: {result.query}  ({len(result.hits)} results)"))
    for column in ("issue", "section", "headline", "snippet", "link"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        headline = Text(("★ " if hit.pick else "") + hit.headline)
        table.add_row(hit.issue, hit.section, headline, Text(hit.snippet), hit.url or "")
    return table
