"""A small cluster for the kill -9 test and the worker benchmark: worker and ``digestbot web``
processes against the strict fakes, one simulated clock shared by all of them, a seeded chaos
monkey that SIGKILLs workers, and read-only probes of the ledger and of the fakes' logs.

The clock: simulated time = real time + an offset kept in a file. Every worker process
(:mod:`tests.e2e.cluster_worker`) and the fakes read it, so they all see one timeline that runs
at real speed (Telegram's pace is real: 30 messages a second take a real second); the test
moves the offset forward between slots ("jumps") while nothing is being sent, which travels a
week in seconds.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from bot.store.models import Delivery, Post
from tests.builders import TELEGRAM_TOKEN, X_KEYS
from tests.e2e.conftest import CHANNEL, DIGESTBOT

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_URL = "https://digest.example.org/telegram"
WEBHOOK_SECRET = "cluster-Secret_0123456789abcdef"


class SharedClock:
    """Simulated time for several processes: ``time.time()`` plus the offset in ``path``
    (re-read at most every ``refresh`` seconds; jumps happen while nothing is sent)."""

    def __init__(self, path: Path, refresh: float = 0.01) -> None:
        self.path = path
        self.refresh = refresh
        self._offset = float(path.read_text())
        self._read_at = time.monotonic()

    @classmethod
    def create(cls, path: Path, start: datetime) -> SharedClock:
        path.write_text(repr(start.timestamp() - time.time()))
        return cls(path)

    def epoch(self) -> float:
        if time.monotonic() - self._read_at > self.refresh:
            self._offset = float(self.path.read_text())
            self._read_at = time.monotonic()
        return time.time() + self._offset

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), UTC)

    def jump_to(self, moment: datetime) -> None:
        """Move simulated time forward to ``moment`` for every process (atomic replace)."""
        offset = moment.timestamp() - time.time()
        if offset < self._offset:
            raise ValueError(f"the shared clock only moves forward ({moment} is in its past)")
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(offset))
        os.replace(tmp, self.path)
        self._offset, self._read_at = offset, time.monotonic()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll an observable condition (another process's progress), bounded."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def base_env(db_url: str, telegram_url: str, x_url: str | None, **extra: str) -> dict[str, str]:
    """The environment an operator would give every process (webhook mode: nobody polls)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env.update(
        DIGESTBOT_DATABASE_URL=db_url,
        DIGESTBOT_LOG_LEVEL="INFO",
        DIGESTBOT_TELEGRAM__TOKEN=TELEGRAM_TOKEN,
        DIGESTBOT_TELEGRAM__API_BASE_URL=telegram_url,
        DIGESTBOT_TELEGRAM__WEBHOOK_URL=WEBHOOK_URL,
        DIGESTBOT_TELEGRAM__WEBHOOK_SECRET=WEBHOOK_SECRET,
        NO_COLOR="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
    )
    if x_url is not None:
        env.update(
            DIGESTBOT_TWITTER__API_BASE_URL=x_url,
            **{f"DIGESTBOT_TWITTER__{k.upper()}": v for k, v in X_KEYS.items()},
        )
    env.update(extra)
    return env


@dataclass
class Member:
    """One process of the cluster; its output goes to a file (a pipe nobody reads would fill
    and stall a chatty worker)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    out: TextIO
    base: str = ""  # web processes: http://127.0.0.1:PORT
    up: bool = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ready(self) -> bool:
        """A worker that connected and started its scheduler (it said so in its log)."""
        if not self.up and self.alive():
            self.up = "worker started" in self.text()
        return self.up and self.alive()

    def text(self) -> str:
        self.out.flush()
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    """Worker processes (``python -m tests.e2e.cluster_worker``) and ``digestbot web``
    processes (``python -m tests.e2e.cluster_web`` on the shared clock) sharing one
    environment; ``clock_file`` is the shared clock's."""

    env: dict[str, str]
    logs: Path
    clock_file: Path | None = None
    workers: list[Member] = field(default_factory=list)
    webs: list[Member] = field(default_factory=list)
    retired: list[Member] = field(default_factory=list)
    started: int = 0

    def _spawn(self, name: str, args: Sequence[str], **env: str) -> Member:
        self.started += 1
        log = self.logs / f"{self.started:03d}-{name}.log"
        out = log.open("w")
        proc = subprocess.Popen(
            list(args),
            cwd=self.logs,
            env={**self.env, "DIGESTBOT_LOG_FILE": str(log.with_suffix(".full")), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        return Member(name, proc, log, out)

    def start_worker(self) -> Member:
        assert self.clock_file is not None
        member = self._spawn(
            "worker",
            [sys.executable, "-m", "tests.e2e.cluster_worker"],
            CLUSTER_CLOCK_FILE=str(self.clock_file),
        )
        self.workers.append(member)
        return member

    def start_web(self) -> Member:
        """``digestbot web``; on the shared clock when the cluster has one
        (:mod:`tests.e2e.cluster_web`), so that its replies and the workers' slots are stamped
        on one timeline in the shared Telegram budget."""
        port = free_port()
        where = ["--host", "127.0.0.1", "--port", str(port)]
        if self.clock_file is None:
            member = self._spawn("web", [str(DIGESTBOT), "web", *where])
        else:
            member = self._spawn(
                "web",
                [sys.executable, "-m", "tests.e2e.cluster_web", *where],
                CLUSTER_CLOCK_FILE=str(self.clock_file),
            )
        member.base = f"http://127.0.0.1:{port}"
        self.webs.append(member)
        return member

    def kill(self, member: Member) -> None:
        """``kill -9``: nothing is finished, nothing is closed."""
        os.kill(member.proc.pid, signal.SIGKILL)
        member.proc.wait(timeout=30)
        self.workers.remove(member)
        self.retired.append(member)

    def stop(self, timeout: float = 60.0) -> dict[str, int]:
        """SIGTERM to everyone still running; their exit codes by name."""
        running = [m for m in self.workers + self.webs if m.alive()]
        for member in running:
            member.proc.send_signal(signal.SIGTERM)
        codes: dict[str, int] = {}
        for member in running:
            try:
                codes[member.log.name] = member.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                member.proc.kill()
                codes[member.log.name] = member.proc.wait()
        return codes

    def close(self) -> None:
        for member in self.workers + self.webs + self.retired:
            if member.alive():
                member.proc.kill()
                member.proc.wait()
            member.out.close()

    def all_members(self) -> list[Member]:
        return self.retired + self.workers + self.webs


@contextmanager
def cluster(env: dict[str, str], logs: Path, clock_file: Path | None) -> Iterator[Cluster]:
    logs.mkdir(parents=True, exist_ok=True)
    made = Cluster(env, logs, clock_file)
    try:
        yield made
    finally:
        made.close()


@dataclass(frozen=True)
class Kill:
    real: float  # time.monotonic()
    sim: datetime
    claims: int  # deliveries in state "sending" at that moment (every worker's, an upper bound)


class ChaosMonkey:
    """Every few seconds (seeded), ``kill -9`` of a random running worker (one that has
    started: killing processes still importing would test nothing) and a replacement at once
    (what a supervisor does), as long as ``keep`` workers stay up; :meth:`tick` is called from
    the test's polling loops."""

    def __init__(
        self,
        cluster: Cluster,
        rng: random.Random,
        clock: Callable[[], datetime],
        claims: Callable[[], int],
        every: tuple[float, float] = (2.0, 5.0),
        keep: int = 2,
    ) -> None:
        self.cluster = cluster
        self.rng = rng
        self.clock = clock
        self.claims = claims
        self.every = every
        self.keep = keep
        self.kills: list[Kill] = []
        self.active = True
        self._next = time.monotonic() + rng.uniform(*every)

    def tick(self) -> None:
        if not self.active or time.monotonic() < self._next:
            return
        victims = [m for m in self.cluster.workers if m.ready()]
        if len(victims) < self.keep:
            self._next = time.monotonic() + 0.2  # wait for the replacements to start
            return
        if victims:
            victim = self.rng.choice(victims)
            claims = self.claims()
            self.cluster.kill(victim)
            self.kills.append(Kill(time.monotonic(), self.clock(), claims))
            self.cluster.start_worker()
        self._next = time.monotonic() + self.rng.uniform(*self.every)


# --- the ledger, read while the workers write it -----------------------------------------------


def sync_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


class LedgerProbe:
    """Read-only queries of the ledger (a synchronous engine of its own)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(sync_url(url), pool_size=2)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self) -> list[Delivery]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def posts(self) -> dict[int, Post]:
        with Session(self.engine, expire_on_commit=False) as session:
            return {p.id: p for p in session.scalars(select(Post))}

    def sending(self) -> list[tuple[int, int, int]]:
        """(id, attempts, duplicates) of every claimed delivery: unchanged for a while means
        its worker is gone (a live one finishes a send in milliseconds)."""
        with Session(self.engine) as session:
            found = session.execute(
                select(Delivery.id, Delivery.attempts, Delivery.duplicates)
                .where(Delivery.state == "sending")
                .order_by(Delivery.id)
            ).all()
        return [(a, b, c) for a, b, c in found]

    def claims(self) -> int:
        with Session(self.engine) as session:
            count = session.scalar(select(func.count()).where(Delivery.state == "sending"))
        return int(count or 0)

    def due(self, until: datetime, skip_x: bool) -> int:
        """Pending deliveries due by ``until`` (X's left out when its cap says wait)."""
        stmt = select(func.count()).where(Delivery.state == "pending", Delivery.due_at <= until)
        if skip_x:
            stmt = stmt.where(Delivery.destination != "x")
        with Session(self.engine) as session:
            return int(session.scalar(stmt) or 0)

    def open_rows(self, until: datetime) -> list[tuple[int, int, str, str, str]]:
        """(id, post, destination, state, due or lease) of the deliveries not final: what a
        step that does not settle is waiting for."""
        stmt = (
            select(Delivery)
            .where(Delivery.state.in_(("pending", "sending")))
            .order_by(Delivery.id)
            .limit(20)
        )
        with Session(self.engine) as session:
            return [
                (r.id, r.post_id, r.destination, r.state, f"{r.due_at:%d %H:%M:%S}/{r.lease_until}")
                for r in session.scalars(stmt)
            ]

    def unfinished(self) -> tuple[int, int]:
        """(pending, sending) deliveries other than X's, whenever due."""
        stmt = (
            select(Delivery.state, func.count())
            .where(Delivery.state.in_(("pending", "sending")), Delivery.destination != "x")
            .group_by(Delivery.state)
        )
        with Session(self.engine) as session:
            found = {state: count for state, count in session.execute(stmt).all()}
        return int(found.get("pending", 0)), int(found.get("sending", 0))

    def x_used(self, start: datetime, end: datetime) -> int:
        """X posts reserved or sent in [start, end) (what the cap counts)."""
        stmt = select(func.count()).where(
            Delivery.destination == "x",
            Delivery.state.in_(("sending", "sent")),
            Delivery.sent_at >= start,
            Delivery.sent_at < end,
        )
        with Session(self.engine) as session:
            return int(session.scalar(stmt) or 0)

    def released(self, kind: str) -> list[int]:
        """Posts of ``kind`` that have deliveries (released), by id."""
        stmt = select(Post.id).where(Post.kind == kind, Post.deliveries.any()).order_by(Post.id)
        with Session(self.engine) as session:
            return list(session.scalars(stmt))


# --- the fakes' logs ---------------------------------------------------------------------


@dataclass
class FakeLog:
    """What the fake Bot API accepted, (fake-clock time, chat id) in the order of
    ``state.sent``, and each limit refusal it gave: (time, chat, how many messages had been
    accepted by then), in the order of its 429s in ``state.rejected``."""

    arrivals: list[tuple[float, int]] = field(default_factory=list)
    refusals: list[tuple[float, int, int]] = field(default_factory=list)

    def window(self, refusal: tuple[float, int, int]) -> list[int]:
        """Indexes of the messages accepted in the second before a refusal."""
        at, _, accepted = refusal
        return [i for i in range(accepted) if self.arrivals[i][0] > at - 1.0]


def record_arrivals(state: Any) -> FakeLog:
    """Log every message the fake Bot API accepts and every 429 its limiter gives."""
    log = FakeLog()
    record, retry_after = state.limiter.record, state.limiter.retry_after

    def stamp(chat_id: int, now: float) -> None:
        log.arrivals.append((now, chat_id))
        record(chat_id, now)

    def refuse(st: Any, chat_id: int, is_group: bool, *, paid: bool = False) -> int | None:
        wait: int | None = retry_after(st, chat_id, is_group, paid=paid)
        if wait is not None:
            log.refusals.append((st.clock(), chat_id, len(log.arrivals)))
        return wait

    state.limiter.record = stamp
    state.limiter.retry_after = refuse
    return log


def busiest(times: Iterable[float], width: float) -> int:
    """Most arrivals in any window ``[t, t + width)``."""
    ordered = sorted(times)
    most = 0
    for i, start in enumerate(ordered):
        most = max(most, bisect_left(ordered, start + width) - i)
    return most


def closest_per_chat(arrivals: Iterable[tuple[float, int]]) -> float:
    """The shortest time between two messages to one chat (inf when none got two)."""
    by_chat: dict[int, list[float]] = defaultdict(list)
    for at, chat in arrivals:
        by_chat[chat].append(at)
    gaps: list[float] = []
    for times in by_chat.values():
        ordered = sorted(times)
        gaps.extend(b - a for a, b in itertools.pairwise(ordered))
    return min(gaps, default=float("inf"))


def update(update_id: int, user: int, text: str) -> dict[str, Any]:
    """A private message from ``user`` as Telegram posts it to the webhook."""
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 1772438400,
        "chat": {"id": user, "type": "private", "first_name": "Chaos"},
        "from": {"id": user, "is_bot": False, "first_name": "Chaos", "language_code": "en"},
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def post_update(base: str, body: dict[str, Any]) -> int:
    """Deliver one update to a web process as Telegram would; its HTTP status."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    return httpx.post(f"{base}/telegram", json=body, headers=headers, timeout=60).status_code


def tokyo_day(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC) + timedelta(hours=9)  # Asia/Tokyo, no DST
    return moment.date().isoformat()


__all__ = [
    "CHANNEL",
    "ChaosMonkey",
    "Cluster",
    "FakeLog",
    "Kill",
    "LedgerProbe",
    "Member",
    "SharedClock",
    "base_env",
    "busiest",
    "closest_per_chat",
    "cluster",
    "free_port",
    "healthy",
    "post_update",
    "record_arrivals",
    "tokyo_day",
    "update",
    "wait_for",
]
