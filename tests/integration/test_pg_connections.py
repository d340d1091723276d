"""Every PostgreSQL connection digestbot opens runs without JIT: the search's statements take a
few ms, and a plan above ``jit_above_cost`` would spend tens of ms compiling each of them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.store.db import make_engine, make_sync_engine

pytestmark = pytest.mark.postgres


def test_sync_connections_run_without_jit(pg_url: str) -> None:
    engine = make_sync_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        engine.dispose()


async def test_async_connections_run_without_jit(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW jit"))).scalar_one() == "off"
    finally:
        await engine.dispose()
