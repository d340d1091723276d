"""``digestbot demo``: a self-contained tour on a temporary database (never the user's)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from rich.rule import Rule

from bot.cli import render
from bot.cli.archive import print_report
from bot.cli.common import console, container
from bot.config import Settings
from bot.store import migrate

SAMPLES = Path(__file__).resolve().parent.parent / "demo_data"
DEMO_QUERIES = ("sparse experts", "小波")


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="import a bundled sample digest into a temporary database")
    demo.set_defaults(handler=run_demo, needs_db=False)


async def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    with tempfile.TemporaryDirectory(prefix="digestbot-demo-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        demo_settings = settings.model_copy(update={"database_url": url})
        console.print(Rule("digestbot demo (temporary database, your own data is untouched)"))
        await asyncio.to_thread(migrate.upgrade, url)
        async with container(demo_settings) as app:
            samples = sorted(str(p) for p in SAMPLES.glob("*.md"))
            report = await app.archive.import_targets(samples)
            print_report(report)
            console.print(render.issues_table(await app.archive.issues()))
            for key in report.added:
                console.print(render.issue_table(await app.archive.issue(key)))
            for query in DEMO_QUERIES:
                console.print(render.search_table(await app.archive.search(query)))
    return 0 if report.ok else 1
