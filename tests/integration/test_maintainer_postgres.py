"""The maintainer services on PostgreSQL: audit rows and undo, slots override, stats' grouped
queries (a throw-away database; skipped when the service is absent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.services.audit import Actor
from bot.store.migrate import upgrade
from tests.integration.test_stats import seed

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_app(pg_url: str) -> AsyncIterator[Container]:
    upgrade(pg_url)
    app = build(
        load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, 8, tzinfo=UTC))
    )
    try:
        yield app
    finally:
        await app.aclose()


async def test_audit_undo_slots_and_stats_on_postgres(pg_app: Container) -> None:
    clock = pg_app.clock
    assert isinstance(clock, FrozenClock)
    ids = await seed(pg_app, clock)
    dana = Actor.telegram(2**40, "Dana")  # a Telegram id beyond 32 bits
    await pg_app.queue.edit(ids[3], "<i>new</i> words", actor=dana)
    await pg_app.queue.set_slots(["08:00"], ["mon"], actor=dana)
    assert (await pg_app.queue.slots()).overridden
    await pg_app.queue.undo(actor=dana)
    assert not (await pg_app.queue.slots()).overridden
    await pg_app.queue.undo(actor=dana)
    texts = {p.id: p.text for p in (await pg_app.queue.view()).posts}
    assert texts[ids[3]] == "Comment 4."
    (last,) = await pg_app.audit.recent(1)
    assert last.verb == "undo" and last.actor_id == 2**40
    stats = await pg_app.stats.stats()
    assert (stats.active, stats.blocked) == (7, 2)
    assert stats.sent_per_destination == {"subscribers": 2, "telegram:channel": 1, "x": 2}
    assert stats.weeks[-1].posts_sent == 1 and stats.weeks[-3].x_spend_usd == pytest.approx(0.2)
    assert sum(w.new_subscribers for w in stats.weeks) == 8
