"""``digestbot db upgrade|check``."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import UserError, console, plural, print_json
from bot.config import Settings
from bot.store import migrate, revision
from bot.store.db import prepare_sqlite_file


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database migrations")
    verbs = db.add_subparsers(dest="db_command", required=True, metavar="VERB")
    up = verbs.add_parser("upgrade", help="apply the Alembic migrations up to head")
    up.set_defaults(handler=upgrade, needs_db=False)
    check = verbs.add_parser("check", help="fail when the database or migrations drift from models")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=check_drift, needs_db=False)
    copy = verbs.add_parser(
        "copy",
        help="copy every table from one database to another (SQLite <-> PostgreSQL)",
        description="Copy archive, queue, ledger, subscribers, audit and feeds from SOURCE to "
        "TARGET in one transaction; a TARGET without tables is migrated first. URLs may "
        "carry passwords: they are never printed.",
    )
    copy.add_argument(
        "source", metavar="SOURCE_URL", help="the database to copy from (left unchanged)"
    )
    copy.add_argument(
        "target", metavar="TARGET_URL", help="the database to copy into (migrated first if empty)"
    )
    copy.add_argument(
        "--force", action="store_true", help="replace the rows a non-empty target already holds"
    )
    copy.add_argument("--json", action="store_true")
    copy.set_defaults(handler=copy_database, needs_db=False)


def reachable(database_url: str, *, create: bool) -> str:
    """Open the database before Alembic does, so a bad URL or file is one line (exit 2);
    ``create`` makes a missing SQLite file (0600, in a 0700 folder). Returns its name."""
    name = revision.describe(database_url)
    try:
        if create:
            prepare_sqlite_file(database_url)
        revision.current_revision(database_url)
    except revision.DatabaseMissing:
        what = "schema drift: " if not create else ""
        raise UserError(
            f"{what}there is no database at {name} yet: `digestbot db upgrade` creates it"
        ) from None
    except revision.DatabaseUnavailable as exc:
        raise UserError(str(exc), code=2) from None
    except OSError as exc:
        raise UserError(f"cannot create the database {name}: {exc.strerror}", code=2) from None
    return name


async def upgrade(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    name = reachable(settings.database_url, create=True)
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    current = revision.current_revision(settings.database_url)
    head = revision.head_revision()
    console.print(f"database {name} upgraded to {current} (head {head})", markup=False)
    return 0


def describe(diff: str) -> str:
    """Alembic's diff tuples are long reprs; keep the operation and the object's name."""
    op, _, rest = diff.strip("()").partition(",")
    name = rest.split("'")[1] if "'" in rest else rest.strip()[:60]
    return f"{op.strip(chr(39))}: {name}"


async def check_drift(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    name = reachable(settings.database_url, create=False)
    report = await asyncio.to_thread(migrate.check, settings.database_url)
    if args.json:
        print_json(
            {
                "ok": report.ok,
                "current": report.current,
                "head": report.head,
                "differences": list(report.differences),
            }
        )
        return 0 if report.ok else 1
    if report.ok:
        console.print(
            f"database {name}, migrations and models agree (revision {report.head})",
            markup=False,
        )
        return 0
    lines = []
    if report.current != report.head:
        lines.append(f"database revision is {report.current}, migrations head is {report.head}")
    lines.extend(describe(d) for d in report.differences)
    count = plural(len(report.differences), "difference")
    raise UserError(f"schema drift in {name} ({count}):\n  " + "\n  ".join(lines))


async def copy_database(args: argparse.Namespace, settings: Settings) -> int:
    """``digestbot db copy SOURCE TARGET``: the counts per table, source then target."""
    import asyncio

    from rich.table import Table

    from bot.services import dbcopy

    report = await asyncio.to_thread(
        dbcopy.copy_database, args.source, args.target, replace=args.force
    )
    if args.json:
        print_json(
            {
                "ok": report.ok,
                "source": report.source,
                "target": report.target,
                "revision": report.revision,
                "tables": {
                    t.table: {"source": t.source, "target": t.target} for t in report.tables
                },
            }
        )
        return 0
    table = Table(title=f"{report.source} -> {report.target} (revision {report.revision})")
    table.add_column("table")
    table.add_column("source rows", justify="right")
    table.add_column("target rows", justify="right")
    for t in report.tables:
        table.add_row(t.table, str(t.source), str(t.target))
    console.print(table)
    console.print(f"copied {plural(report.rows, 'row')}, counts match", markup=False)
    return 0
