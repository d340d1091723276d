"""The X daily cap and monthly budget hold whatever runs at once: four ``dispatch --once``
processes started together against 12 waiting X deliveries, on SQLite and on PostgreSQL.

Before the reservation moved into the claim's transaction each process read the day's usage
once and counted in memory: four processes with a cap of 2 posted 8 times that day.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from bot.sandbox import ServerThread, XState, make_x_app
from bot.store.migrate import upgrade
from bot.store.models import Delivery, Post
from tests.builders import SQLITE_SIDE, X_KEYS
from tests.e2e.conftest import DIGESTBOT

pytestmark = pytest.mark.slow
WAITING = 12
PROCESSES = 4


def _sync(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=[pytest.param("sqlite", marks=SQLITE_SIDE), "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cap.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    return url


def seed_waiting_x_deliveries(url: str, n: int) -> None:
    """``n`` released posts whose X delivery waits (as after a day at cap 0)."""
    engine = create_engine(_sync(url))
    past = datetime.now(UTC) - timedelta(minutes=5)
    try:
        with engine.begin() as conn:
            for i in range(1, n + 1):
                post_id = conn.execute(
                    insert(Post)
                    .values(
                        kind="paper",
                        text=f"Budget comment number {i}.",
                        rank=i,
                        slot=past,
                        state="sending",
                        created_at=past,
                        updated_at=past,
                    )
                    .returning(Post.id)
                ).scalar_one()
                conn.execute(
                    insert(Delivery).values(
                        post_id=post_id,
                        destination="x",
                        state="pending",
                        attempts=0,
                        due_at=past,
                        duplicates=0,
                        updated_at=past,
                    )
                )
    finally:
        engine.dispose()


def x_rows(url: str) -> list[tuple[str, float | None]]:
    engine = create_engine(_sync(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Delivery.state, Delivery.cost_usd)).all()
        return [(state, cost) for state, cost in rows]
    finally:
        engine.dispose()


def four_at_once(url: str, x_url: str, cwd: Path, **settings: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env.update(
        DIGESTBOT_DATABASE_URL=url,
        DIGESTBOT_TWITTER__API_BASE_URL=x_url,
        DIGESTBOT_TWITTER__LINK="none",
        **{f"DIGESTBOT_TWITTER__{k.upper()}": v for k, v in X_KEYS.items()},
        **{f"DIGESTBOT_TWITTER__{k.upper()}": v for k, v in settings.items()},
        NO_COLOR="1",
    )
    procs = [
        subprocess.Popen(
            [str(DIGESTBOT), "dispatch", "--once", "--json"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
        outputs.append(out + err)
    return outputs


def test_the_daily_cap_holds_across_four_processes(store_url: str, tmp_path: Path) -> None:
    seed_waiting_x_deliveries(store_url, WAITING)
    x = XState(clock=time.time, **X_KEYS)
    with ServerThread(make_x_app(x)) as x_url:
        outputs = four_at_once(store_url, x_url, tmp_path, DAILY_CAP="2")
    assert len(x.posts) == 2, [p.text for p in x.posts]
    states = [state for state, _ in x_rows(store_url)]
    assert states.count("sent") == 2 and states.count("pending") == WAITING - 2
    assert sum("X daily cap reached (2/2" in out for out in outputs) >= 1


def test_the_monthly_budget_holds_across_four_processes(store_url: str, tmp_path: Path) -> None:
    seed_waiting_x_deliveries(store_url, WAITING)
    x = XState(clock=time.time, **X_KEYS)
    with ServerThread(make_x_app(x)) as x_url:
        outputs = four_at_once(
            store_url,
            x_url,
            tmp_path,
            DAILY_CAP="100",
            MONTHLY_BUDGET_USD="0.05",
            COST_PER_POST_USD="0.015",
        )
    assert len(x.posts) == 3, [p.text for p in x.posts]  # 3 x $0.015 fit in $0.05, 4 do not
    spent = sum(cost or 0.0 for state, cost in x_rows(store_url) if state == "sent")
    assert spent == pytest.approx(0.045)
    assert any("X monthly budget reached" in out for out in outputs)
