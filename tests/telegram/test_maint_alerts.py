"""Failure alerts with buttons: the notifier sends them to every maintainer; Retry,
Reschedule, Edit and Skip act on the post through the queue services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import Settings
from bot.publish.notify import Alert, LogNotifier
from bot.sandbox import TelegramState
from bot.sandbox.clock import FakeClock
from bot.store.models import Delivery, Post
from bot.telegram.maintainer import commands, keyboards
from bot.telegram.maintainer.texts import MAINT_EN, MAINT_ZH
from tests.telegram.maint_support import (
    MAINTAINER,
    OUTSIDER,
    SECOND_MAINTAINER,
    MaintHarness,
    maint_harness,
    maint_settings,
)

#: tests drive the Application without starting it; background releases are awaited with
#: ``commands.settle()`` instead
pytestmark = pytest.mark.filterwarnings("ignore:Tasks created via:UserWarning")
DEAD_REASON = "gave up after 5 attempts: 503 Service Unavailable"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return maint_settings(db_url)


@pytest.fixture
async def maint(
    archive: Container, telegram_state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> AsyncIterator[MaintHarness]:
    telegram_state.start(MAINTAINER, SECOND_MAINTAINER)
    async with maint_harness(archive, telegram_state, fake_clock, clock) as h:
        archive.platforms.telegram = h.application  # the notifier sends through it
        try:
            yield h
        finally:
            archive.platforms.telegram = None


async def _partly_sent(app: Container, when: datetime) -> int:
    """A paper post sent to the channel whose X delivery went dead."""
    async with app.sessions.begin() as session:
        post = Post(
            kind="paper",
            text="Sparse attention, but cheaper",
            url="https://arxiv.org/abs/2603.04444",
            rank=1,
            slot=when,
            state="failed",
            created_at=when,
            updated_at=when,
        )
        session.add(post)
        await session.flush()
        session.add_all(
            [
                Delivery(
                    post_id=post.id,
                    destination="x",
                    state="dead",
                    attempts=5,
                    due_at=when,
                    last_error=DEAD_REASON,
                    updated_at=when,
                ),
                Delivery(
                    post_id=post.id,
                    destination="telegram:channel",
                    state="sent",
                    due_at=when,
                    sent_at=when,
                    remote_id="12",
                    updated_at=when,
                ),
            ]
        )
        return post.id


async def _x_delivery(app: Container, post_id: int) -> Delivery:
    async with app.sessions() as session:
        found = await session.scalar(
            select(Delivery).where(Delivery.post_id == post_id, Delivery.destination == "x")
        )
        assert found is not None
        return found


async def test_an_alert_about_a_post_reaches_every_maintainer_with_buttons(
    maint: MaintHarness, archive: Container
) -> None:
    await archive.notifier.alert(f"post 7 to x dead: {DEAD_REASON}", post_id=7, kind="dead")
    for chat in (MAINTAINER, SECOND_MAINTAINER):
        [alert] = maint.replies(chat)
        assert alert.visible_text == f"digestbot: post 7 to x dead: {DEAD_REASON}"
        assert maint.buttons(alert) == {
            "Retry": keyboards.alert_data("retry", 7),
            "Reschedule": keyboards.alert_data("reschedule", 7),
            "Edit #7": keyboards.alert_data("edit", 7),
            "Skip": keyboards.alert_data("skip", 7),
        }
    assert maint.replies(OUTSIDER) == []


async def test_budget_alerts_get_a_status_button_and_plain_alerts_none(
    maint: MaintHarness, archive: Container
) -> None:
    await archive.notifier.alert("X monthly budget reached ($100.00 of $100.00)", kind="budget")
    maint.fake_clock.advance(1.1)
    await archive.notifier.alert("x is connected again")  # the old call, text only
    budget, plain = maint.replies(MAINTAINER)
    assert maint.buttons(budget) == {"Status": keyboards.STATUS_DATA}
    assert plain.reply_markup is None
    await maint.press(budget, keyboards.STATUS_DATA, user=MAINTAINER)
    assert maint.last(MAINTAINER).visible_text.startswith(MAINT_EN.status_heading)
    assert isinstance(archive.notifier, LogNotifier)
    assert archive.notifier.details[-2:] == [
        Alert("X monthly budget reached ($100.00 of $100.00)", None, "budget"),
        Alert("x is connected again", None, "info"),
    ]


async def test_skip_gives_the_dead_delivery_up(
    maint: MaintHarness, archive: Container, clock: FrozenClock
) -> None:
    post_id = await _partly_sent(archive, clock())
    await archive.notifier.alert("post dead", post_id=post_id, kind="dead")
    alert = maint.last(MAINTAINER)
    await maint.press(alert, keyboards.alert_data("skip", post_id), user=MAINTAINER)
    assert (await _x_delivery(archive, post_id)).state == "cancelled"
    note = MAINT_EN.skipped.format(id=post_id, count=1)
    assert maint.answers()[-1]["text"] == note
    [entry] = await archive.audit.recent(1)
    assert (entry.verb, entry.post_id, entry.actor_id) == ("skip", post_id, MAINTAINER)
    await maint.press(alert, keyboards.alert_data("skip", post_id), user=MAINTAINER)  # again
    assert "nothing left to send" in maint.answers()[-1]["text"]


async def test_reschedule_puts_it_back_at_the_next_slot(
    maint: MaintHarness, archive: Container, clock: FrozenClock
) -> None:
    post_id = await _partly_sent(archive, clock())
    await archive.notifier.alert("post dead", post_id=post_id, kind="dead")
    alert = maint.last(MAINTAINER)
    await maint.press(alert, keyboards.alert_data("reschedule", post_id), user=MAINTAINER)
    found = await _x_delivery(archive, post_id)
    assert found.state == "pending" and found.due_at > clock()
    assert maint.last(MAINTAINER).visible_text.startswith(f"Post {post_id} goes out again at")


async def test_retry_sends_the_unsent_delivery_now(
    maint: MaintHarness, archive: Container, clock: FrozenClock
) -> None:
    post_id = await _partly_sent(archive, clock())
    await archive.notifier.alert("post dead", post_id=post_id, kind="dead")
    alert = maint.last(MAINTAINER)
    archive.platforms.telegram = None
    archive.platforms.rehearse()  # console publishers: what would be sent is printed
    await maint.press(alert, keyboards.alert_data("retry", post_id), user=MAINTAINER)
    await commands.settle()
    assert (await _x_delivery(archive, post_id)).state == "sent"
    assert maint.answers()[-1]["text"] == MAINT_EN.retried.format(id=post_id)
    assert f"post {post_id} sent to x" in maint.last(MAINTAINER).visible_text


async def test_retry_without_a_destination_says_so_and_changes_nothing(
    maint: MaintHarness, archive: Container, clock: FrozenClock
) -> None:
    post_id = await _partly_sent(archive, clock())
    await maint.press_as(MAINTAINER, keyboards.alert_data("retry", post_id), user=MAINTAINER)
    await commands.settle()
    assert "no destination is configured" in maint.last(MAINTAINER).visible_text
    assert (await _x_delivery(archive, post_id)).state == "dead"


async def test_edit_shows_how_to_change_the_text(
    maint: MaintHarness, archive: Container, clock: FrozenClock
) -> None:
    post_id = await _partly_sent(archive, clock())
    await maint.press_as(MAINTAINER, keyboards.alert_data("edit", post_id), user=MAINTAINER)
    hint = maint.last(MAINTAINER)
    assert hint.visible_text.startswith(MAINT_EN.edit_hint.format(id=post_id))
    assert "Sparse attention, but cheaper" in hint.visible_text


async def test_alert_buttons_on_an_unknown_post_are_one_line(maint: MaintHarness) -> None:
    for verb in ("reschedule", "skip", "edit"):
        await maint.press_as(MAINTAINER, keyboards.alert_data(verb, 999), user=MAINTAINER)  # type: ignore[arg-type]
    assert all("999" in a["text"] for a in maint.answers())


async def test_status_lists_the_deliveries_that_need_the_maintainer(
    maint: MaintHarness, archive: Container, clock: FrozenClock
) -> None:
    post_id = await _partly_sent(archive, clock())
    await maint.maint("/status")
    text = maint.last(MAINTAINER).visible_text
    assert "Needs you (1 of 1):" in text
    assert f"post {post_id} to x dead (5 attempts): {DEAD_REASON}" in text
    maint.fake_clock.advance(1.1)
    await maint.maint("/status", user=SECOND_MAINTAINER, lang="zh")
    chinese = maint.last(SECOND_MAINTAINER).visible_text
    assert chinese.startswith(MAINT_ZH.status_heading) and "需要处理（1 / 1）" in chinese
