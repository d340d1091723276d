"""The time zone in /settings: picked with buttons (region, then a page of zones), in English
and Chinese; stale or forged buttons; quiet hours released in the chosen zone across DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.app import Container
from bot.domain.quiet import release_time, zone
from bot.sandbox import SentMessage
from bot.store import subscribers as subscribers_repo
from bot.telegram import keyboards, zones
from bot.telegram.keyboards import SettingChoice, SettingsMenu, ZoneMenu
from bot.telegram.texts import EN, ZH
from tests.telegram.conftest import USER, ZH_USER, Harness


def unmarked(label: str) -> str:
    return label.removeprefix("✓ ")


async def open_settings(bot: Harness, *, user: int = USER, lang: str = "en") -> SentMessage:
    await bot.send("/settings", user=user, lang=lang)
    return bot.last(user)


async def pick_zone(
    bot: Harness, message: SentMessage, region: str, city: str, *, user: int = USER
) -> None:
    """Time zone button -> region -> (pages) -> the city's button, as a user would."""
    lang = "zh" if user == ZH_USER else "en"
    t = ZH if lang == "zh" else EN
    [zone_button] = [label for label in bot.buttons(message) if label.startswith("🌐")]
    await bot.press(message, bot.buttons(message)[zone_button], user=user, lang=lang)
    [data] = [d for label, d in bot.buttons(message).items() if unmarked(label) == region]
    await bot.press(message, data, user=user, lang=lang)
    for _ in range(5):
        found = [d for label, d in bot.buttons(message).items() if unmarked(label).startswith(city)]
        if found:
            await bot.press(message, found[0], user=user, lang=lang)
            return
        await bot.press(message, bot.buttons(message)[t.next], user=user, lang=lang)
    raise AssertionError(f"no button for {city}")


async def test_picking_a_zone_with_buttons_saves_and_shows_it(
    bot: Harness, archive: Container
) -> None:
    message = await open_settings(bot)
    assert "Time zone: Asia/Tokyo (UTC+9)" in message.visible_text
    assert bot.buttons(message)["🌐 Time zone: Tokyo (UTC+9)"] == "1|z"
    await bot.press(message, "1|z")
    assert message.visible_text == EN.choose_region
    regions = bot.buttons(message)
    assert list(regions) == [
        "✓ Asia",
        "Europe",
        "Americas",
        "Oceania",
        "Africa",
        "UTC",
        "« Back",
    ]
    await bot.press(message, regions["Americas"])
    assert message.visible_text == "Choose your time zone (Americas):"
    page1 = bot.buttons(message)
    assert "New York (UTC−5)" in page1 and "Next »" in page1 and "« Prev" not in page1
    await bot.press(message, page1["Next »"])
    page2 = bot.buttons(message)
    assert "Buenos Aires (UTC−3)" in page2 and "« Prev" in page2 and "Next »" not in page2
    assert page2["Buenos Aires (UTC−3)"] == "1|c|z|America/Argentina/Buenos_Aires"
    await bot.press(message, page2["« Prev"])
    await bot.press(message, bot.buttons(message)["New York (UTC−5)"])
    assert "Time zone: America/New_York (UTC−5)" in message.visible_text
    assert "🌐 Time zone: New York (UTC−5)" in bot.buttons(message)
    found = await archive.subscribers.get(USER)
    assert found is not None and found.timezone == "America/New_York"
    answers = [a.get("text") for a in bot.state.callback_answers]
    assert answers[-1] == EN.saved and answers[:-1] == [None] * (len(answers) - 1)
    # the current zone is marked on the way back in
    await bot.press(message, "1|z")
    assert "✓ Americas" in bot.buttons(message)
    await bot.press(message, "1|z|am|1")
    assert "✓ New York (UTC−5)" in bot.buttons(message)
    await bot.press(message, "1|v")  # back to the settings, nothing changed
    assert message.visible_text.startswith("Settings")
    assert (await archive.subscribers.get(USER)) == found


async def test_chinese_picker_and_utc(bot: Harness, archive: Container) -> None:
    message = await open_settings(bot, user=ZH_USER, lang="zh")
    assert "时区: Asia/Tokyo (UTC+9)" in message.visible_text
    await pick_zone(bot, message, "欧洲", "伦敦", user=ZH_USER)
    assert "时区: Europe/London (UTC)" in message.visible_text  # winter: GMT
    assert "🌐 时区：伦敦 (UTC)" in bot.buttons(message)
    assert bot.state.callback_answers[-1]["text"] == ZH.saved
    await bot.press(message, "1|z", user=ZH_USER, lang="zh")
    assert message.visible_text == ZH.choose_region
    assert "« 返回" in bot.buttons(message)
    await bot.press(message, bot.buttons(message)["UTC"], user=ZH_USER, lang="zh")
    found = await archive.subscribers.get(ZH_USER)
    assert found is not None and found.timezone == "UTC"
    assert "时区: UTC\n" in message.visible_text


async def test_zone_then_quiet_hours_show_in_that_zone(bot: Harness, archive: Container) -> None:
    message = await open_settings(bot)
    await pick_zone(bot, message, "Asia", "Shanghai")
    await bot.press(message, bot.buttons(message)["23–08"])
    assert "Quiet hours: 23:00–08:00 (times in Asia/Shanghai)" in message.visible_text
    assert "Time zone: Asia/Shanghai (UTC+8)" in message.visible_text


@pytest.mark.parametrize(
    "data",
    [
        "1|z|",
        "1|z|xx|1",  # no such region
        "1|z|am|0",
        "1|z|am|3",  # past the last page
        "1|z|am|1|x",
        "1|z|am",
        "1|c|z|Mars/Olympus_Mons",
        "1|c|z|Europe/Nowhere",
        "1|c|z|Asia/Shanghai|x",
        "1|c|z|asia/shanghai",
        "1|c|z|Etc/GMT+5",  # a real zone, but not one of the buttons
        "1|v|",
        "1|vx",
    ],
)
async def test_stale_or_forged_zone_buttons_get_a_short_answer(
    bot: Harness, archive: Container, data: str
) -> None:
    message = await open_settings(bot)
    before = message.visible_text
    await bot.press(message, data)
    [answer] = bot.state.callback_answers
    assert answer["text"] == EN.stale_button
    assert message.visible_text == before and message.edits == []
    found = await archive.subscribers.get(USER)
    assert found is not None and found.timezone == "Asia/Tokyo"


async def test_pressing_the_current_zone_again_does_not_edit(bot: Harness) -> None:
    message = await open_settings(bot)
    await bot.press(message, "1|c|z|Asia/Tokyo")
    assert message.edits == []  # same text and keyboard: no "message is not modified"
    assert bot.state.callback_answers[-1]["text"] == EN.saved


def test_every_zone_button_exists_fits_and_decodes() -> None:
    now = datetime(2026, 7, 1, tzinfo=UTC)
    assert zones.UTC_ZONE in zones.ZONES
    for name in zones.ZONES:
        assert zone(name).key == name
    for t in (EN, ZH):
        markups = [keyboards.region_keyboard(t, "Asia/Tokyo")]
        for region in zones.REGIONS:
            assert len(region.zones) == len(set(region.zones))
            for page in range(1, zones.pages(region) + 1):
                markups.append(keyboards.zone_keyboard(t, region, page, "UTC", now))
        for markup in markups:
            for row in markup.inline_keyboard:
                assert len(row) <= 2
                for button in row:
                    data = button.callback_data
                    assert isinstance(data, str) and len(data.encode()) <= 64
                    assert isinstance(
                        keyboards.decode(data), SettingChoice | ZoneMenu | SettingsMenu
                    )
    assert all(name in zones.ZH_CITIES for r in zones.REGIONS for name in r.zones)


@pytest.mark.parametrize(
    ("name", "when", "expected"),
    [
        ("Asia/Kolkata", datetime(2026, 1, 1, tzinfo=UTC), "UTC+5:30"),
        ("America/St_Johns", datetime(2026, 1, 1, tzinfo=UTC), "UTC−3:30"),
        ("America/New_York", datetime(2026, 7, 1, tzinfo=UTC), "UTC−4"),
        ("America/New_York", datetime(2026, 1, 1, tzinfo=UTC), "UTC−5"),
        ("UTC", datetime(2026, 1, 1, tzinfo=UTC), "UTC"),
    ],
)
def test_offsets_follow_the_date(name: str, when: datetime, expected: str) -> None:
    assert zones.utc_offset(name, when) == expected


async def released_for(archive: Container, chat_id: int, now: datetime) -> datetime:
    """When a post released at ``now`` reaches ``chat_id``: the audience rows the dispatcher
    reads, through the same release_time it calls."""
    async with archive.sessions() as session:
        recipients = await subscribers_repo.audience(session, "paper")
    [r] = [r for r in recipients if r.chat_id == chat_id]
    return release_time(now, r.quiet_start, r.quiet_end, r.timezone)


@pytest.mark.parametrize(
    ("city", "now", "expected"),
    [
        # spring forward 2026-03-08: 07:00 EDT (UTC-4) is 11:00 UTC, not 12:00
        (
            "New York",
            datetime(2026, 3, 8, 4, 0, tzinfo=UTC),
            datetime(2026, 3, 8, 11, 0, tzinfo=UTC),
        ),
        # fall back 2026-11-01: 07:00 EST (UTC-5) is 12:00 UTC, not 11:00
        (
            "New York",
            datetime(2026, 11, 1, 3, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        ),
        # Sydney's autumn change 2026-04-05: 07:00 AEST (UTC+10) is 21:00 UTC the day before
        (
            "Sydney",
            datetime(2026, 4, 4, 14, 0, tzinfo=UTC),
            datetime(2026, 4, 4, 21, 0, tzinfo=UTC),
        ),
        # outside the quiet hours: at once
        (
            "New York",
            datetime(2026, 3, 8, 16, 0, tzinfo=UTC),
            datetime(2026, 3, 8, 16, 0, tzinfo=UTC),
        ),
    ],
)
async def test_quiet_hours_release_in_the_chosen_zone_across_dst(
    bot: Harness, archive: Container, city: str, now: datetime, expected: datetime
) -> None:
    message = await open_settings(bot)
    await bot.press(message, bot.buttons(message)["Subscribe"])
    await pick_zone(bot, message, "Oceania" if city == "Sydney" else "Americas", city)
    await bot.press(message, bot.buttons(message)["22–07"])
    assert await released_for(archive, USER, now) == expected
