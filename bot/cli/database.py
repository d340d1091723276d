"""``digestbot db upgrade|check``."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import UserError, console, print_json
from bot.config import Settings
from bot.store import migrate


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database migrations")
    verbs = db.add_subparsers(dest="db_command", required=True, metavar="VERB")
    up = verbs.add_parser("upgrade", help="apply the Alembic migrations up to head")
    up.set_defaults(handler=upgrade, needs_db=False)
    check = verbs.add_parser("check", help="fail when the database or migrations drift from models")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=check_drift, needs_db=False)


async def upgrade(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    current, head = migrate.schema_revision(settings.database_url)
    console.print(f"database upgraded to {current} (head {head})", markup=False)
    return 0


def describe(diff: str) -> str:
    """Alembic's diff tuples are long reprs; keep the operation and the object's name."""
    op, _, rest = diff.strip("()").partition(",")
    name = rest.split("'")[1] if "'" in rest else rest.strip()[:60]
    return f"{op.strip(chr(39))}: {name}"


async def check_drift(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

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
        console.print(f"database, migrations and models agree (revision {report.head})")
        return 0
    lines = []
    if report.current != report.head:
        lines.append(f"database revision is {report.current}, migrations head is {report.head}")
    lines.extend(describe(d) for d in report.differences)
    raise UserError("schema drift:\n  " + "\n  ".join(lines))
