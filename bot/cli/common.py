"""Shared CLI plumbing: errors, printing, JSON, the container, schema checks."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from bot.app import Container, build
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.store.db import sqlite_path
from bot.store.migrate import schema_revision

console = Console(highlight=False, soft_wrap=False)
_stderr = Console(stderr=True, highlight=False)


class UserError(Exception):
    """An error the user can act on: printed as one clear line, no traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def err(message: str) -> None:
    _stderr.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def require_schema(database_url: str) -> None:
    current, head = schema_revision(database_url)
    if current != head:
        where = "has no tables yet" if current is None else f"is at revision {current}"
        raise UserError(
            f"the database {where}; digestbot needs revision {head}: run `digestbot db upgrade`"
        )


@contextmanager
def rehearsal(settings: Settings, dry_run: bool) -> Iterator[Settings]:
    """``--dry-run``: work on a throw-away copy of the SQLite database, so a rehearsal never
    consumes the real queue; posts go to the console."""
    if not dry_run:
        yield settings
        return
    path = sqlite_path(settings.database_url)
    if path is None:
        raise UserError(
            "--dry-run rehearses on a copy of a SQLite database; use `digestbot "
            "preview` with PostgreSQL"
        )
    with tempfile.TemporaryDirectory(prefix="digestbot-dry-run-") as tmp:
        copy = Path(tmp) / "rehearsal.db"
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        _stderr.print(
            "dry run: rehearsing on a copy of the database; nothing is published "
            "and your queue is unchanged"
        )
        yield settings.model_copy(update={"database_url": f"sqlite:///{copy}"})


@asynccontextmanager
async def container(settings: Settings, clock: Clock = system_clock) -> AsyncIterator[Container]:
    app = build(settings, clock)
    try:
        yield app
    finally:
        await app.aclose()


async def show_config(args: argparse.Namespace, settings: Settings) -> int:
    data = settings.masked()
    if args.json:
        print_json(data)
        return 0
    for section, value in data.items():
        if isinstance(value, dict):
            console.print(f"[bold]\\[{section}][/]")
            for key, item in value.items():
                console.print(f"  {key} = {json.dumps(item, ensure_ascii=False)}", markup=False)
        else:
            console.print(f"{section} = {json.dumps(value, ensure_ascii=False)}", markup=False)
    return 0
