"""A worker process for ``test_workers_pg``: run as a script, talks over stdin/stdout.

``claim URL``: waits for a line on stdin (all processes start together), then reserves batches
of the broadcast (``TelegramPace.reserve``, what the broadcaster does) until no pending
delivery is left; prints one JSON line: ``[[id, destination, slot], ...]``. Its clock starts
at ``--now`` and, when nothing is due yet (a chat waits for its limit), jumps to the soonest
due moment: time is simulated, the database decides everything else.

``hold URL``: takes the ``telegram-pace`` lock, says ``held``, and keeps the transaction open
until killed (``--idle-ms``: the server's idle limit for that transaction).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.services.broadcast import batch_size
from bot.services.pace import TelegramPace
from bot.store import queue as repo
from bot.store.db import make_sync_engine
from bot.store.models import Delivery


def soonest_pending(session: Session) -> datetime | None:
    found: datetime | None = session.scalar(
        select(func.min(Delivery.due_at)).where(Delivery.state == "pending")
    )
    return found


def claim(url: str, now: datetime, per_second: int) -> None:
    engine = make_sync_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    pace = TelegramPace(per_second=per_second)
    mine: set[int] = set()
    out: list[tuple[int, str, str]] = []
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(100_000):
        with sessions.begin() as session:
            result = pace.reserve(session, now, 120.0, limit=batch_size(per_second), own=mine)
        mine.update(row.id for row, _ in result.claimed)
        out.extend((row.id, row.destination, at.isoformat()) for row, at in result.claimed)
        if result.claimed or result.lost:
            continue
        with sessions() as session:
            due = soonest_pending(session)
        if due is None:
            break
        now = max(now, due)  # a chat waits for its limit: simulated time moves on
    engine.dispose()
    print(json.dumps(out), flush=True)


def hold(url: str, idle_ms: int) -> None:
    repo.LOCK_HOLD_IDLE_MS = idle_ms
    engine = make_sync_engine(url)
    with Session(engine) as session, session.begin():
        repo.take_lock_sync(session, "telegram-pace", datetime.fromisoformat("2026-03-02T10:00Z"))
        print("held", flush=True)
        sys.stdin.readline()  # until killed (or told to let go)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["claim", "hold"])
    parser.add_argument("url")
    parser.add_argument("--now", default="2026-03-02T10:00:00+00:00")
    parser.add_argument("--per-second", type=int, default=30)
    parser.add_argument("--idle-ms", type=int, default=10_000)
    args = parser.parse_args()
    if args.mode == "claim":
        claim(args.url, datetime.fromisoformat(args.now), args.per_second)
    else:
        hold(args.url, args.idle_ms)


if __name__ == "__main__":
    main()
