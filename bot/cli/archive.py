"""``digestbot import|issues|show|search``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from bot.app import Container
from bot.cli import render
from bot.cli.common import UserError, console, container, print_json
from bot.config import Settings
from bot.domain.model import SECTIONS, SearchFilters, Section
from bot.domain.search import QueryTooLong
from bot.services.archive import ImportReport, UnknownIssue


def register(sub: Any) -> None:
    imp = sub.add_parser("import", help="import digests from files, folders or http(s) URLs")
    imp.add_argument("targets", nargs="+", metavar="PATH_OR_URL")
    imp.add_argument("--enqueue", action="store_true", help="also queue the new papers")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=import_cmd)

    issues = sub.add_parser("issues", help="list archived issues, newest first")
    issues.add_argument("--json", action="store_true")
    issues.set_defaults(handler=issues_cmd)

    show = sub.add_parser("show", help="one issue with its items")
    show.add_argument("key", help="2020-W39 or 2020-09")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_cmd)

    search = sub.add_parser("search", help="search past issues (Chinese and English)")
    search.add_argument("query", nargs="+")
    search.add_argument("--limit", type=int, default=None)
    search.add_argument("--section", choices=SECTIONS)
    search.add_argument("--picks", action="store_true", help="editor's picks only")
    search.add_argument("--year", type=int)
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=search_cmd)


async def import_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        if args.json:
            report = await app.archive.import_targets(args.targets)
        else:
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("", total=None)

                def tick(done: int, total: int, name: str) -> None:
                    bar.update(task, completed=done, total=total, description=name[-50:])

                report = await app.archive.import_targets(args.targets, tick)
        enqueue_note = await _enqueue(args, app, report)
    if args.json:
        data = render.report_json(report)
        if enqueue_note:
            data["enqueue"] = enqueue_note
        print_json(data)
    else:
        print_report(report)
        if enqueue_note:
            console.print(enqueue_note, markup=False)
    return 0 if report.ok else 1


async def _enqueue(args: argparse.Namespace, app: Container, report: ImportReport) -> str | None:
    if not args.enqueue:
        return None
    keys = report.added + report.updated + report.unchanged
    queued = await app.queue.enqueue_issues(keys)
    return (
        f"queued {len(queued.papers)} paper posts and {len(queued.digests)} digest posts "
        f"({queued.already_known} already queued or posted, {queued.without_link} without "
        "a usable link skipped)"
    )


def print_report(report: ImportReport) -> None:
    console.print(
        f"added {len(report.added)}, updated {len(report.updated)}, "
        f"unchanged {len(report.unchanged)}, failed {len(report.failed)}, "
        f"warnings {len(report.warnings)}",
        markup=False,
    )
    for source, reason in report.failed:
        console.print(Text(f"  failed  {source}: {reason}", style="red"))
    for key, warning in report.warnings:
        console.print(Text(f"  warning {key}: {warning}", style="yellow"))


async def issues_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        rows = await app.archive.issues()
    if args.json:
        print_json({"issues": [render.summary_json(r) for r in rows]})
    elif not rows:
        console.print("the archive is empty: `digestbot import PATH_OR_URL` adds digests")
    else:
        console.print(render.issues_table(rows))
    return 0


async def show_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        try:
            issue = await app.archive.issue(args.key)
        except UnknownIssue as exc:
            raise UserError(str(exc)) from None
    if args.json:
        print_json(render.issue_json(issue))
    else:
        console.print(render.issue_table(issue))
        for warning in issue.warnings:
            console.print(Text(f"warning: {warning}", style="yellow"))
    return 0


async def search_cmd(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit is not None and not 1 <= args.limit <= 100:
        raise UserError("--limit must be between 1 and 100", code=2)
    section: Section | None = args.section
    filters = SearchFilters(section=section, picks_only=args.picks, year=args.year)
    async with container(settings) as app:
        try:
            result = await app.archive.search(
                " ".join(args.query), limit=args.limit, filters=filters
            )
        except QueryTooLong as exc:
            raise UserError(str(exc)) from None
    if args.json:
        print_json({"query": result.query, "results": [render.hit_json(h) for h in result.hits]})
    elif not result.hits:
        console.print(Text(f"nothing found for {result.query!r}"))
    else:
        console.print(render.search_table(result))
    return 0
