"""The queue service: enqueueing, slots, editing verbs and their errors."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.app import Container
from bot.clock import FrozenClock
from bot.services.queue import QueueError, QueueService
from tests.builders import item, monthly, store, weekly

W10 = weekly(
    "2026-W10",
    [
        item(1, "Paper A", arxiv="2601.00001"),
        item(2, "Paper B", arxiv="2601.00002", pick=True),
        item(3, "Article C", url="https://example.org/c", section="articles"),
        item(4, "No link D", section="articles"),
        item(5, "Use case E", url="https://example.org/e", section="use_cases"),
        item(6, "Paper F", arxiv="2601.00006"),
    ],
)
M03 = monthly(
    "2026-03",
    [
        item(1, "Paper A again", arxiv="2601.00001"),
        item(2, "Paper G", arxiv="2601.00007"),
    ],
)


@pytest.fixture
def queue(app: Container, clock: FrozenClock) -> QueueService:
    # the fixture settings: Asia/Tokyo, slots 09:00 13:00 19:00 every day, digest Sunday 20:00
    return QueueService(
        app.sessions, clock, app.settings.schedule, app.settings.twitter, random.Random(3)
    )


async def texts(queue: QueueService) -> list[str]:
    return [p.text for p in (await queue.view()).posts if p.kind == "paper"]


async def test_enqueue_orders_picks_first_then_interleaves_sections(
    app: Container, queue: QueueService
) -> None:
    await store(app, W10)
    report = await queue.enqueue_issues(["2026-W10"])
    assert len(report.papers) == 5 and report.without_link == 1
    assert await texts(queue) == ["Paper B", "Paper A", "Article C", "Use case E", "Paper F"]
    assert len(report.digests) == 1


async def test_monthly_repeats_are_not_queued_again_and_digest_is_once_per_issue(
    app: Container, queue: QueueService
) -> None:
    await store(app, W10, M03)
    await queue.enqueue_issues(["2026-W10"])
    again = await queue.enqueue_issues(["2026-W10", "2026-03"])
    assert again.already_known >= 1
    assert (await texts(queue))[-1] == "Paper G"
    assert (await texts(queue)).count("Paper A") == 1
    assert "Paper A again" not in await texts(queue)
    digests = [p for p in (await queue.view()).posts if p.kind == "digest"]
    assert sorted(p.issue for p in digests if p.issue) == ["2026-03", "2026-W10"]
    assert again.digests and len(again.digests) == 1  # only the new issue got one


async def test_include_unlinked(app: Container, queue: QueueService) -> None:
    await store(app, W10)
    await queue.enqueue_issues(["2026-W10"], include_unlinked=True)
    assert "No link D" in await texts(queue)


async def test_slots_follow_the_schedule_in_the_author_timezone(
    app: Container, queue: QueueService
) -> None:
    # clock: 2026-03-02 08:00 UTC = 17:00 Tokyo; next slots 19:00, then 09:00, 13:00 next day
    await store(app, W10)
    await queue.enqueue_issues(["2026-W10"])
    papers = [p for p in (await queue.view()).posts if p.kind == "paper"]
    assert [p.slot for p in papers[:3]] == [
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 3, 4, 0, tzinfo=UTC),
    ]
    digest = next(p for p in (await queue.view()).posts if p.kind == "digest")
    assert digest.slot == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)  # Sunday 20:00 Tokyo


async def test_edit_verbs_reorder_and_recompute_slots(app: Container, queue: QueueService) -> None:
    await store(app, W10)
    await queue.enqueue_issues(["2026-W10"])
    ids = {p.text: p.id for p in (await queue.view()).posts}
    first_slot = (await queue.view()).posts[0].slot
    await queue.top(ids["Paper F"])
    assert (await texts(queue))[0] == "Paper F"
    assert (await queue.view()).posts[0].slot == first_slot
    await queue.move(ids["Paper F"], 3)
    assert (await texts(queue))[2] == "Paper F"
    await queue.remove(ids["Paper B"])
    assert "Paper B" not in await texts(queue)
    assert (await queue.view()).posts[0].slot == first_slot
    await queue.edit(ids["Paper A"], "A better comment & <b>bold</b> claim.")
    assert "A better comment & <b>bold</b> claim." in await texts(queue)
    before = await texts(queue)
    slots = [p.slot for p in (await queue.view()).posts]
    assert len(before) >= 4  # enough papers for a shuffle to show
    orders = []
    for _ in range(3):  # seeded RNG: deterministic, and not the identity every time
        await queue.shuffle()
        orders.append(await texts(queue))
        assert [p.slot for p in (await queue.view()).posts] == slots  # posts swap slots
    assert [sorted(order) for order in orders] == [sorted(before)] * 3
    assert any(order != before for order in orders)


async def test_pause_and_resume(queue: QueueService) -> None:
    await queue.set_paused(True)
    assert (await queue.view()).paused is True
    await queue.set_paused(False)
    assert (await queue.view()).paused is False


async def test_add_by_hand_and_refuse_duplicates(app: Container, queue: QueueService) -> None:
    post_id = await queue.add("https://arxiv.org/pdf/2601.09999v3.pdf", "Hand-picked paper.")
    view = await queue.view()
    assert [(p.id, p.paper) for p in view.posts] == [(post_id, "arxiv:2601.09999")]
    with pytest.raises(QueueError, match="already queued or posted"):
        await queue.add("https://arxiv.org/abs/2601.09999", "Again.")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q: q.remove(999), "no post with id 999"),
        (lambda q: q.edit(999, "x"), "no post with id 999"),
        (lambda q: q.top(999), "no post with id 999"),
        (lambda q: q.add("not a url", "x"), "not a usable http"),
        (lambda q: q.add("https://arxiv.org/abs/2601.00009", "   "), "text is empty"),
        (
            lambda q: q.add("https://arxiv.org/abs/2601.00009", "漢" * 200),
            r"text too long for X: \d+ weighted characters",
        ),
        (
            lambda q: q.add("https://arxiv.org/abs/2601.00009", "<&>*" * 250_000),
            "text too long for X: 1,000,000 characters",
        ),
    ],
)
async def test_clear_errors(queue: QueueService, call: object, message: str) -> None:
    with pytest.raises(QueueError, match=message):
        await call(queue)  # type: ignore[operator]


async def test_move_out_of_range(app: Container, queue: QueueService) -> None:
    await store(app, W10)
    await queue.enqueue_issues(["2026-W10"])
    post = (await queue.view()).posts[0]
    with pytest.raises(QueueError, match="out of range"):
        await queue.move(post.id, 99)
    with pytest.raises(QueueError, match="out of range"):
        await queue.move(post.id, 0)
