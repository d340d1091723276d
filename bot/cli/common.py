"""Shared CLI plumbing: errors, printing, JSON, the container, schema checks."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.errors import DigestbotError

if TYPE_CHECKING:  # the composition root (SQLAlchemy, services) loads when a command runs
    from bot.app import Container

console = Console(highlight=False, soft_wrap=False)
_stderr = Console(stderr=True, highlight=False)


class UserError(DigestbotError):
    """A command-line usage error the user can act on: printed as one clear line."""


def err(message: str) -> None:
    _stderr.print("[bold red]error:[/] ", markup=True, end="")
    _stderr.print(message, markup=False, soft_wrap=True)


def log_file() -> Path:
    """Where the full log (tracebacks included, secrets redacted) goes: $DIGESTBOT_LOG_FILE,
    else the per-user log folder (platformdirs)."""
    configured = os.environ.get("DIGESTBOT_LOG_FILE")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_log_path

    return user_log_path("digestbot") / "digestbot.log"


def warn(message: str) -> None:
    _stderr.print("[yellow]warning:[/] ", markup=True, end="")
    _stderr.print(message, markup=False, soft_wrap=True)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "post")`` is "1 post", ``plural(2, "post")`` "2 posts"."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def require_schema(database_url: str) -> None:
    """Every database command's first step, without Alembic (see bot.store.revision)."""
    from bot.store import revision

    name = revision.describe(database_url)
    try:
        current = revision.current_revision(database_url)
    except revision.DatabaseMissing:
        raise UserError(
            f"there is no database at {name} yet: run `digestbot db upgrade` to create it, "
            "or point DIGESTBOT_DATABASE_URL at your database"
        ) from None
    except revision.DatabaseUnavailable as exc:
        raise UserError(str(exc), code=2) from None
    head = revision.head_revision()
    if current != head:
        state = "has no tables yet" if current is None else f"is at revision {current}"
        raise UserError(
            f"the database {name} {state}; digestbot needs revision {head}: "
            "run `digestbot db upgrade`"
        )


@contextmanager
def rehearsal(settings: Settings, dry_run: bool) -> Iterator[Settings]:
    """``--dry-run``: work on a throw-away copy of the SQLite database, so a rehearsal never
    consumes the real queue; posts go to the console (bot.services.release)."""
    from bot.services.release import REHEARSAL_NOTE, rehearsal_settings

    with rehearsal_settings(settings, dry_run) as effective:
        if dry_run:
            _stderr.print(REHEARSAL_NOTE)
        yield effective


@asynccontextmanager
async def container(
    settings: Settings, clock: Clock = system_clock, *, real_clock: Clock | None = None
) -> AsyncIterator[Container]:
    from bot.app import build

    app = build(settings, clock, real_clock=real_clock)
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
