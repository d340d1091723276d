"""Subscribers: /start, subscribe, settings, blocked and migrated chats, the broadcast audience."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import ScheduleSettings
from bot.services.subscribers import (
    InvalidSetting,
    Subscriber,
    SubscriberService,
    language_from_code,
)
from bot.store import subscribers as repo
from bot.store.subscribers import Recipient

SUPERGROUP = -1001234567890123  # beyond 32 bits


def test_language_from_telegram_code() -> None:
    assert language_from_code("zh-hans") == "zh"
    assert language_from_code("zh-TW") == "zh"
    assert language_from_code("ZH") == "zh"
    assert language_from_code("en-US") == "en"
    assert language_from_code("ja") == "en"
    assert language_from_code(None) == "en"
    assert language_from_code("") == "en"


async def test_start_creates_an_inactive_subscriber_with_defaults(app: Container) -> None:
    assert await app.subscribers.get(7) is None
    started = await app.subscribers.start(7, "zh-hans")
    tz = app.settings.schedule.timezone
    assert started == Subscriber(7, "zh", "both", None, None, tz, "inactive")
    assert await app.subscribers.get(7) == started
    assert await app.subscribers.counts() == {"active": 0, "inactive": 1, "blocked": 0}


async def test_new_subscribers_take_the_schedule_time_zone(app: Container) -> None:
    service = SubscriberService(app.sessions, app.clock, ScheduleSettings(timezone="Asia/Shanghai"))
    assert (await service.start(8, "en")).timezone == "Asia/Shanghai"


async def test_start_again_keeps_language_and_settings(app: Container) -> None:
    await app.subscribers.start(7, "zh")
    await app.subscribers.update(7, receive="digest", quiet=("23:00", "07:00"))
    again = await app.subscribers.start(7, "en-US")
    assert (again.language, again.receive, again.quiet_start, again.quiet_end) == (
        "zh",
        "digest",
        "23:00",
        "07:00",
    )


async def test_subscribe_and_unsubscribe(app: Container) -> None:
    await app.subscribers.start(1, "en")
    assert (await app.subscribers.subscribe(1)).state == "active"
    assert (await app.subscribers.subscribe(1)).state == "active"  # twice: no error
    assert await app.subscribers.counts() == {"active": 1, "inactive": 0, "blocked": 0}
    assert (await app.subscribers.unsubscribe(1)).state == "inactive"
    assert await app.subscribers.counts() == {"active": 0, "inactive": 1, "blocked": 0}


async def test_subscribe_or_settings_before_start_create_the_chat(app: Container) -> None:
    subscribed = await app.subscribers.subscribe(2, "zh-CN")
    assert (subscribed.state, subscribed.language) == ("active", "zh")
    updated = await app.subscribers.update(3, receive="drip")
    assert (updated.state, updated.receive, updated.language) == ("inactive", "drip", "en")
    gone = await app.subscribers.unsubscribe(4)
    assert gone.state == "inactive"
    assert await app.subscribers.counts() == {"active": 1, "inactive": 2, "blocked": 0}


async def test_update_settings(app: Container) -> None:
    await app.subscribers.subscribe(5, "en")
    s = await app.subscribers.update(5, receive="digest", language="zh")
    assert (s.receive, s.language, s.state) == ("digest", "zh", "active")
    s = await app.subscribers.update(5, quiet=("7:30", " 22:05 "))
    assert (s.quiet_start, s.quiet_end) == ("07:30", "22:05")
    s = await app.subscribers.update(5, timezone="America/New_York")
    assert s.timezone == "America/New_York"
    assert (s.quiet_start, s.receive) == ("07:30", "digest")  # untouched
    s = await app.subscribers.update(5, clear_quiet=True)
    assert (s.quiet_start, s.quiet_end) == (None, None)
    assert await app.subscribers.get(5) == s  # committed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quiet": ("25:00", "07:00")}, "25:00"),
        ({"quiet": ("23:00", "7h")}, "not a time of day"),
        ({"quiet": ("08:00", "08:00")}, "different times"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"timezone": ""}, "unknown time zone"),
        ({"receive": "everything"}, "drip, digest or both"),
        ({"language": "fr"}, "en or zh"),
    ],
)
async def test_bad_settings_are_one_clear_error_and_change_nothing(
    app: Container, change: dict[str, object], message: str
) -> None:
    before = await app.subscribers.update(6, receive="drip", quiet=("22:00", "06:00"))
    with pytest.raises(InvalidSetting, match=message) as caught:
        await app.subscribers.update(6, **change)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 150
    assert await app.subscribers.get(6) == before


async def test_blocked_then_start_restores_the_subscription(app: Container) -> None:
    await app.subscribers.subscribe(10, "zh")
    await app.subscribers.update(10, receive="drip", quiet=("23:00", "07:00"))
    await app.subscribers.mark_blocked(10)
    blocked = await app.subscribers.get(10)
    assert blocked is not None and blocked.state == "blocked"
    assert await app.subscribers.counts() == {"active": 0, "inactive": 0, "blocked": 1}
    async with app.sessions() as session:
        assert await repo.audience(session, "paper") == []
    back = await app.subscribers.start(10, "en")
    assert back == replace(blocked, state="active")  # settings and language kept


async def test_blocked_then_start_stays_unsubscribed_when_it_was(app: Container) -> None:
    await app.subscribers.start(11, "en")
    await app.subscribers.mark_blocked(11)
    assert (await app.subscribers.start(11, "en")).state == "inactive"
    await app.subscribers.subscribe(12)
    await app.subscribers.unsubscribe(12)
    await app.subscribers.mark_blocked(12)
    assert (await app.subscribers.start(12, None)).state == "inactive"


async def test_a_blocked_chat_that_presses_a_button_is_reachable_again(app: Container) -> None:
    await app.subscribers.subscribe(13)
    await app.subscribers.mark_blocked(13)
    assert (await app.subscribers.update(13, receive="digest")).state == "active"
    await app.subscribers.mark_blocked(13)
    assert (await app.subscribers.subscribe(13)).state == "active"


async def _updated_at(app: Container, chat_id: int) -> object:
    async with app.sessions() as session:
        row = await repo.find(session, chat_id)
        assert row is not None
        return row.updated_at


async def test_choices_already_in_effect_write_nothing(app: Container, clock: FrozenClock) -> None:
    """A button pressed twice (or a setting given again) leaves the row as it was."""
    await app.subscribers.subscribe(21)
    await app.subscribers.update(
        21, receive="digest", language="zh", quiet=("22:00", "07:00"), timezone="Asia/Tokyo"
    )
    written = await _updated_at(app, 21)
    clock.advance(minutes=5)
    same = await app.subscribers.update(21, receive="digest", quiet=("22:00", "07:00"))
    assert await app.subscribers.update(21, language="zh", timezone="Asia/Tokyo") == same
    assert (await app.subscribers.subscribe(21)).state == "active"
    assert await _updated_at(app, 21) == written
    await app.subscribers.update(21, clear_quiet=True)  # a change: written
    changed = await _updated_at(app, 21)
    assert changed != written
    clock.advance(minutes=5)
    await app.subscribers.update(21, clear_quiet=True)
    assert await _updated_at(app, 21) == changed
    await app.subscribers.unsubscribe(21)
    gone = await _updated_at(app, 21)
    assert gone != changed
    clock.advance(minutes=5)
    assert (await app.subscribers.unsubscribe(21)).state == "inactive"
    assert await _updated_at(app, 21) == gone


async def test_a_blocked_chat_pressing_its_current_choice_is_reachable_again(
    app: Container,
) -> None:
    await app.subscribers.subscribe(22)
    await app.subscribers.update(22, receive="drip")
    await app.subscribers.mark_blocked(22)
    assert (await app.subscribers.update(22, receive="drip")).state == "active"
    await app.subscribers.unsubscribe(22)
    await app.subscribers.mark_blocked(22)
    assert (await app.subscribers.unsubscribe(22)).state == "inactive"


async def test_mark_blocked_twice_and_unknown_chats_are_silent(app: Container) -> None:
    await app.subscribers.mark_blocked(404)
    assert await app.subscribers.get(404) is None
    await app.subscribers.subscribe(14)
    await app.subscribers.mark_blocked(14)
    await app.subscribers.mark_blocked(14)
    assert await app.subscribers.counts() == {"active": 0, "inactive": 0, "blocked": 1}


async def test_migrate_moves_the_chat_with_its_settings(app: Container) -> None:
    old = -4567
    await app.subscribers.subscribe(old, "zh")
    await app.subscribers.update(old, receive="digest", quiet=("00:00", "09:00"))
    before = await app.subscribers.get(old)
    await app.subscribers.migrate(old, SUPERGROUP)
    assert await app.subscribers.get(old) is None
    assert before is not None
    assert await app.subscribers.get(SUPERGROUP) == replace(before, chat_id=SUPERGROUP)
    await app.subscribers.migrate(old, SUPERGROUP)  # again (a resend): nothing to move
    await app.subscribers.migrate(SUPERGROUP, SUPERGROUP)
    assert await app.subscribers.counts() == {"active": 1, "inactive": 0, "blocked": 0}


async def test_migrate_onto_a_known_chat_keeps_that_chat(app: Container) -> None:
    await app.subscribers.subscribe(-1, "en")
    await app.subscribers.start(-1002, "zh")
    await app.subscribers.migrate(-1, -1002)
    assert await app.subscribers.get(-1) is None
    kept = await app.subscribers.get(-1002)
    assert kept is not None and (kept.language, kept.state) == ("zh", "inactive")


async def test_first_messages_at_once_make_one_subscriber(app: Container) -> None:
    results = await asyncio.gather(
        app.subscribers.start(20, "en"),
        app.subscribers.start(20, "en"),
        app.subscribers.subscribe(20, "en"),
        app.subscribers.update(20, receive="drip"),
    )
    assert {r.chat_id for r in results} == {20}
    final = await app.subscribers.get(20)
    assert final is not None and (final.state, final.receive) == ("active", "drip")
    assert sum((await app.subscribers.counts()).values()) == 1


async def test_losing_the_insert_race_retries_on_the_winners_row(
    app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await app.subscribers.subscribe(21, "zh")
    real_find, real_find_sync = repo.find, repo.find_sync
    misses = [True]  # the first look misses the row another update was inserting

    async def racing_find(session: object, chat_id: int, **kw: bool) -> object:
        if misses and misses.pop():
            return None
        return await real_find(session, chat_id, **kw)  # type: ignore[arg-type]

    def racing_find_sync(session: object, chat_id: int, **kw: bool) -> object:
        """The same where changes are written quietly (a synchronous session)."""
        if misses and misses.pop():
            return None
        return real_find_sync(session, chat_id, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "find", racing_find)
    monkeypatch.setattr(repo, "find_sync", racing_find_sync)
    again = await app.subscribers.update(21, receive="digest")
    assert not misses  # the race happened
    assert (again.state, again.language, again.receive) == ("active", "zh", "digest")
    assert sum((await app.subscribers.counts()).values()) == 1


async def test_audience_is_active_subscribers_wanting_the_kind(app: Container) -> None:
    s = app.subscribers
    await s.subscribe(1)  # both
    await s.subscribe(2)
    await s.update(2, receive="drip", quiet=("23:00", "07:00"), timezone="Asia/Shanghai")
    await s.subscribe(3)
    await s.update(3, receive="digest")
    await s.start(4, "en")  # started, never subscribed
    await s.subscribe(5)
    await s.unsubscribe(5)
    await s.subscribe(6)
    await s.mark_blocked(6)
    await s.subscribe(SUPERGROUP)
    async with app.sessions() as session:
        papers = await repo.audience(session, "paper")
        digests = await repo.audience(session, "digest")
    tz = app.settings.schedule.timezone
    assert papers == [
        Recipient(SUPERGROUP, None, None, tz),
        Recipient(1, None, None, tz),
        Recipient(2, "23:00", "07:00", "Asia/Shanghai"),
    ]
    assert [r.chat_id for r in digests] == [SUPERGROUP, 1, 3]
