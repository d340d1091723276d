"""The feed worker's message about a new digest it did not queue carries Enqueue papers /
Plan weekly post / Skip buttons (the /import follow-ups), behind the maintainer check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import Settings
from bot.publish.notify import LogNotifier
from bot.sandbox import ServerThread, TelegramState
from bot.sandbox.clock import FakeClock
from bot.sandbox.telegram_state import SentMessage
from bot.telegram.maintainer import keyboards
from bot.telegram.maintainer.texts import MAINT_EN
from tests.feeds.conftest import week41, week45_zh
from tests.feeds.feed_site import FeedSite
from tests.telegram.maint_support import (
    MAINTAINER,
    OUTSIDER,
    SECOND_MAINTAINER,
    MaintHarness,
    audit_count,
    maint_harness,
    maint_settings,
    posts_snapshot,
)

KEY = "2020-W41"
ENQUEUE, PLAN, SKIP = f"Enqueue new papers {KEY}", f"Plan weekly post {KEY}", f"Skip {KEY}"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return maint_settings(db_url)


@pytest.fixture
def site() -> FeedSite:
    return FeedSite(items=[week45_zh()])


@pytest.fixture
def feed_url(site: FeedSite) -> Iterator[str]:
    with ServerThread(site.app()) as url:
        yield f"{url}/feed.xml"


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


async def _new_digest_alert(
    maint: MaintHarness, app: Container, site: FeedSite, url: str, *, enqueue: bool
) -> SentMessage:
    """The worker polls a watched feed twice: its backlog, then a new item (week 41)."""
    await app.feeds.add(url, enqueue=enqueue)
    await app.feeds.poll()
    maint.fake_clock.advance(1.1)
    site.items = [week41(), week45_zh()]
    (check,) = await app.feeds.poll()
    assert check.status == "ok" and not check.baseline
    return maint.last(MAINTAINER)


async def _paper_posts(app: Container, key: str) -> int:
    view = await app.queue.view(None)
    return sum(1 for p in view.posts if p.kind == "paper" and p.issue == key)


async def test_a_new_unqueued_digest_gets_enqueue_plan_and_skip_buttons(
    maint: MaintHarness, archive: Container, site: FeedSite, feed_url: str
) -> None:
    alert = await _new_digest_alert(maint, archive, site, feed_url, enqueue=False)
    assert f"new digest {KEY} (en)" in alert.visible_text
    buttons = maint.buttons(alert)
    assert buttons == {
        ENQUEUE: keyboards.import_data("enqueue", KEY),
        PLAN: keyboards.import_data("plan", KEY),
        SKIP: keyboards.import_data("skip", KEY),
    }
    assert all(len(d.encode()) <= keyboards.MAX_DATA_BYTES for d in buttons.values())
    assert maint.buttons(maint.last(SECOND_MAINTAINER)) == buttons
    assert maint.replies(OUTSIDER) == []
    assert isinstance(archive.notifier, LogNotifier)
    assert (archive.notifier.details[-1].kind, archive.notifier.details[-1].issue_keys) == (
        "issue",
        (KEY,),
    )

    assert await _paper_posts(archive, KEY) == 0
    await maint.press(alert, buttons[ENQUEUE], user=MAINTAINER)
    queued = await _paper_posts(archive, KEY)
    assert queued > 2
    assert maint.answers()[-1]["text"] == MAINT_EN.enqueued.format(papers=queued, digests=0)
    await maint.press(alert, buttons[PLAN], user=MAINTAINER)
    view = await archive.queue.view(None)
    assert [p.issue for p in view.posts if p.kind == "digest"].count(KEY) == 1
    assert [e.verb for e in await archive.audit.recent(2)] == ["enqueue", "enqueue"]


async def test_skip_takes_the_buttons_away_and_queues_nothing(
    maint: MaintHarness, archive: Container, site: FeedSite, feed_url: str
) -> None:
    alert = await _new_digest_alert(maint, archive, site, feed_url, enqueue=False)
    before, audited = await posts_snapshot(archive), await audit_count(archive)
    await maint.press(alert, keyboards.import_data("skip", KEY), user=MAINTAINER)
    assert maint.answers()[-1]["text"] == MAINT_EN.issue_skipped.format(key=KEY)
    assert maint.last(MAINTAINER).reply_markup is None  # the buttons are gone
    assert await posts_snapshot(archive) == before
    assert await audit_count(archive) == audited
    await maint.press(maint.last(MAINTAINER), keyboards.import_data("skip", KEY), user=MAINTAINER)
    assert maint.answers()[-1]["text"] == MAINT_EN.issue_skipped.format(key=KEY)  # twice: fine


async def test_a_digest_the_feed_queued_gets_no_enqueue_button(
    maint: MaintHarness, archive: Container, site: FeedSite, feed_url: str
) -> None:
    alert = await _new_digest_alert(maint, archive, site, feed_url, enqueue=True)
    assert "queued" in alert.visible_text and await _paper_posts(archive, KEY) > 2
    assert alert.reply_markup is None


@pytest.mark.parametrize("kind", ["enqueue", "plan", "skip"])
async def test_a_non_maintainer_pressing_them_is_refused_and_nothing_changes(
    maint: MaintHarness, archive: Container, site: FeedSite, feed_url: str, kind: str
) -> None:
    alert = await _new_digest_alert(maint, archive, site, feed_url, enqueue=False)
    before, audited = await posts_snapshot(archive), await audit_count(archive)
    data = keyboards.import_data(kind, KEY)  # type: ignore[arg-type]
    await maint.press(alert, data, user=OUTSIDER)
    [answer] = maint.answers()
    assert answer["text"].startswith(MAINT_EN.not_allowed) and answer["show_alert"] is True
    await maint.press_as(OUTSIDER, data, user=OUTSIDER)
    assert maint.answers()[-1]["text"] == MAINT_EN.not_allowed
    assert maint.replies(OUTSIDER) == []
    assert maint.buttons(maint.last(MAINTAINER)) == maint.buttons(alert)  # still there
    assert await posts_snapshot(archive) == before
    assert await audit_count(archive) == audited


def test_skip_data_is_strict() -> None:
    assert keyboards.decode(keyboards.import_data("skip", KEY)) == keyboards.ImportAct("skip", KEY)
    assert keyboards.decode("m|i|s|2020-W4") is None
    assert keyboards.decode("m|i|z|2020-W41") is None
