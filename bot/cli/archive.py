"""``digestbot import|issues|show|search``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.text import Text

from bot.cli import render
from bot.cli.common import UserError, console, container, plural, print_json
from bot.cli.fast import archive
from bot.config import Settings
from bot.domain.model import LANGUAGES, SECTIONS, SearchFilters, Section
from bot.services.archive_reads import AmbiguousIssue, SearchResult, UnknownIssue

if TYPE_CHECKING:  # `import` and `issues rm` load the app; the read commands do not
    from bot.app import Container
    from bot.services.archive import ImportReport, Removal


def register(sub: Any) -> None:
    imp = sub.add_parser("import", help="import digests from files, folders or http(s) URLs")
    imp.add_argument("targets", nargs="+", metavar="PATH_OR_URL")
    imp.add_argument("--enqueue", action="store_true", help="also queue the new papers")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=import_cmd)

    issues = sub.add_parser("issues", help="list archived issues, newest first")
    issues.add_argument("--json", action="store_true")
    issues.set_defaults(handler=issues_cmd)
    verbs = issues.add_subparsers(dest="issues_verb", metavar="rm")
    rm = verbs.add_parser("rm", help="remove an issue with its items; cancel its queued posts")
    rm.add_argument("key", help="2020-W39 or 2020-09 (any case)")
    rm.add_argument("--lang", choices=LANGUAGES, help="which language, when there are several")
    rm.add_argument("--json", action="store_true")
    rm.set_defaults(handler=issues_rm_cmd)

    show = sub.add_parser("show", help="one issue with its items")
    show.add_argument("key", help="2020-W39 or 2020-09 (any case)")
    show.add_argument("--lang", choices=LANGUAGES, help="default: the language imported first")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_cmd)

    search = sub.add_parser("search", help="search past issues (Chinese and English)")
    search.add_argument(
        "query", nargs="+", help="words to find (a query starting with - goes after --: -- -gan)"
    )
    search.add_argument("--limit", type=int, default=None)
    search.add_argument("--section", choices=SECTIONS)
    search.add_argument("--picks", action="store_true", help="editor's picks only")
    search.add_argument("--year", type=int)
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=search_cmd)


async def import_cmd(args: argparse.Namespace, settings: Settings) -> int:
    if any(not target.strip() for target in args.targets):
        raise UserError("an empty path cannot be imported: give a file, folder or URL", code=2)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

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
        f"queued {plural(len(queued.papers), 'paper post')} and "
        f"{plural(len(queued.digests), 'digest post')} "
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
    async with archive(settings) as reader:
        rows = await reader.issues()
    if args.json:
        print_json({"issues": [render.summary_json(r) for r in rows]})
    elif not rows:
        console.print("the archive is empty: `digestbot import PATH_OR_URL` adds digests")
    else:
        console.print(render.issues_table(rows))
    return 0


async def issues_rm_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with container(settings) as app:
        try:
            removed = await app.archive.remove(args.key, args.lang)
        except (UnknownIssue, AmbiguousIssue) as exc:
            raise UserError(str(exc), code=exc.code) from None
        if removed.cancelled_posts:
            await app.queue.reslot()  # the posts left take the freed slots
    if args.json:
        print_json({"removed": render.removal_json(removed)})
    else:
        console.print(_removal_line(removed), markup=False)
    return 0


def _removal_line(removed: Removal) -> str:
    return (
        f"removed {removed.key} ({', '.join(removed.languages)}): "
        f"{plural(removed.items, 'item')}, {plural(removed.papers, 'paper')} nothing else used; "
        f"cancelled {plural(removed.cancelled_posts, 'queued post')} (sent posts stay in the "
        "ledger)"
    )


async def show_cmd(args: argparse.Namespace, settings: Settings) -> int:
    async with archive(settings) as reader:
        try:
            issue = await reader.issue(args.key, args.lang)
        except UnknownIssue as exc:
            raise UserError(str(exc)) from None
        languages = await reader.languages(issue.key)
    if args.json:
        print_json({**render.issue_json(issue), "languages": list(languages)})
        return 0
    console.print(render.issue_table(issue))
    others = [lang for lang in languages if lang != issue.language]
    if others:
        console.print(
            f"languages: {', '.join(languages)} (showing {issue.language}; "
            f"{' or '.join(f'--lang {lang}' for lang in others)} for the other)",
            markup=False,
        )
    for warning in issue.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    return 0


async def search_cmd(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit is not None and not 1 <= args.limit <= 100:
        raise UserError("--limit must be between 1 and 100", code=2)
    section: Section | None = args.section
    filters = SearchFilters(section=section, picks_only=args.picks, year=args.year)
    from bot.domain.search import QueryTooLong

    async with archive(settings) as reader:
        try:
            result = await reader.search(" ".join(args.query), limit=args.limit, filters=filters)
        except QueryTooLong as exc:
            raise UserError(str(exc)) from None
    if args.json:
        print_json(
            {
                "query": result.query,
                "relaxed": result.relaxed,
                "results": [render.hit_json(h) for h in result.hits],
            }
        )
    else:
        print_search(result)
    return 0


RELAXED_NOTE = "no result has every word; showing results with any of them"


def print_search(result: SearchResult) -> None:
    """The results table, a note when they have only some of the words, or "nothing found"."""
    if not result.hits:
        console.print(Text(f"nothing found for {result.query!r}"))
        return
    if result.relaxed:
        console.print(RELAXED_NOTE, markup=False)
    console.print(render.search_table(result))
