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
