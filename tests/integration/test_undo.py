"""``undo``: the last queue change is reverted from its before-state, and the undo is audited;
clear messages when there is nothing to undo or the post has been sent since."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import update

from bot.app import Container
from bot.services.audit import Actor
from bot.services.queue import QueueError, QueueService
from bot.store.models import Post
from tests.builders import item, store, weekly

W10 = weekly(
    "2026-W10",
    [item(i, f"Comment {i}.", arxiv=f"2601.{i:05d}") for i in range(1, 6)],
)
BOB = Actor.telegram(222, "Bob")


async def seeded(app: Container) -> list[int]:
    await store(app, W10)
    return (await app.queue.enqueue_issues(["2026-W10"])).papers


async def snapshot(app: Container) -> list[tuple[int, str, str, object]]:
    """Every open post: (id, state, text, slot) in queue order, plus the paused flag."""
    view = await app.queue.view()
    return [(p.id, p.state, p.text, p.slot) for p in view.posts] + [(0, "", "", view.paused)]


async def set_state(app: Container, post_id: int, state: str) -> None:
    async with app.sessions.begin() as session:
        await session.execute(update(Post).where(Post.id == post_id).values(state=state))


Change = Callable[[QueueService, list[int]], Awaitable[object]]
CHANGES: dict[str, Change] = {
    "edit": lambda q, ids: q.edit(ids[1], "Other words.", actor=BOB),
    "drop": lambda q, ids: q.remove(ids[2], actor=BOB),
    "move": lambda q, ids: q.move(ids[4], 2, actor=BOB),
    "top": lambda q, ids: q.top(ids[3], actor=BOB),
    "up": lambda q, ids: q.up(ids[3], actor=BOB),
    "down": lambda q, ids: q.down(ids[0], actor=BOB),
    "shuffle": lambda q, ids: q.shuffle(actor=BOB),
    "now": lambda q, ids: q.make_due(ids[4], actor=BOB),
    "pause": lambda q, ids: q.set_paused(True, actor=BOB),
    "slots": lambda q, ids: q.set_slots(["06:00"], ["sat"], actor=BOB),
}


@pytest.mark.parametrize("verb", sorted(CHANGES))
async def test_undo_restores_the_queue_exactly(app: Container, verb: str) -> None:
    ids = await seeded(app)
    before = await snapshot(app)
    await CHANGES[verb](app.queue, ids)
    if verb != "shuffle":  # a shuffle may, rarely, keep the order: then nothing is recorded
        assert await snapshot(app) != before
    entries = await app.audit.recent()
    if entries[0].verb == "enqueue":
        return  # the shuffle kept the order
    result = await app.queue.undo(actor=BOB)
    assert result.undone.verb == verb
    assert await snapshot(app) == before
    undo, undone = await app.audit.recent(2)
    assert (
        undo.verb == "undo" and undo.actor_id == 222 and (undo.after or {})["undoes"] == undone.id
    )
    assert undone.undone


async def test_undo_walks_back_one_change_at_a_time(app: Container) -> None:
    ids = await seeded(app)
    start = await snapshot(app)
    await app.queue.edit(ids[0], "First edit.", actor=BOB)
    middle = await snapshot(app)
    await app.queue.top(ids[4], actor=BOB)
    await app.queue.undo()
    assert await snapshot(app) == middle
    await app.queue.undo()
    assert await snapshot(app) == start
    result = await app.queue.undo()  # the enqueue itself
    assert result.undone.verb == "enqueue" and "6 queued posts removed" in result.message
    assert (await app.queue.view()).posts == []
    with pytest.raises(QueueError, match="nothing to undo"):
        await app.queue.undo()


async def test_nothing_to_undo_on_a_fresh_database(app: Container) -> None:
    with pytest.raises(QueueError, match="nothing to undo"):
        await app.queue.undo(actor=BOB)
    assert await app.audit.recent() == []


async def test_a_post_sent_since_is_not_taken_back(app: Container) -> None:
    ids = await seeded(app)
    await app.queue.edit(ids[0], "Edited.", actor=BOB)
    await set_state(app, ids[0], "sent")  # the dispatcher sent it meanwhile
    with pytest.raises(QueueError, match=f"post {ids[0]} has been sent since"):
        await app.queue.undo(actor=BOB)
    (last,) = await app.audit.recent(1)
    assert last.verb == "edit" and not last.undone  # nothing changed, nothing recorded


async def test_undo_add_cancels_the_new_post(app: Container) -> None:
    post = await app.queue.add("https://arxiv.org/abs/2603.00001", "Fresh.", actor=BOB)
    result = await app.queue.undo(actor=BOB)
    assert f"post {post} is no longer queued" in result.message
    assert (await app.queue.view()).posts == []
    # the paper can be queued again afterwards
    await app.queue.add("https://arxiv.org/abs/2603.00001", "Fresh again.", actor=BOB)


async def test_undo_drop_refuses_when_the_paper_was_queued_again(app: Container) -> None:
    ids = await seeded(app)
    await app.queue.remove(ids[0], actor=BOB)
    await app.queue.add("https://arxiv.org/abs/2601.00001", "Again.", actor=BOB)
    await app.queue.undo(actor=BOB)  # undoes the add
    await app.queue.add("https://arxiv.org/abs/2601.00001", "Again.", actor=BOB)
    # the newest undoable change is this add; undo it and the drop can be undone
    await app.queue.undo(actor=BOB)
    result = await app.queue.undo(actor=BOB)
    assert result.undone.verb == "drop"
    assert ids[0] in [p.id for p in (await app.queue.view()).posts]


async def test_undo_enqueue_keeps_posts_sent_since(app: Container) -> None:
    ids = await seeded(app)
    await set_state(app, ids[0], "sent")
    result = await app.queue.undo(actor=BOB)
    assert f"posts {ids[0]} have been sent since and stay" in result.message
    assert [p.id for p in (await app.queue.view()).posts] == []


async def test_resume_platform_is_audited_and_undoable(app: Container) -> None:
    from bot.services import pauses

    now = app.clock()
    async with app.sessions.begin() as session:
        await pauses.set_pause(session, "x", now.replace(hour=10), "429 from X", now)
    await app.queue.resume_platform("x", actor=BOB)
    async with app.sessions() as session:
        assert await pauses.active_pauses(session, now) == []
    await app.queue.undo(actor=BOB)
    async with app.sessions() as session:
        (pause,) = await pauses.active_pauses(session, now)
    assert pause.platform == "x" and pause.reason == "429 from X"
    with pytest.raises(QueueError, match="unknown platform"):
        await app.queue.resume_platform("<b>myspace</b>", actor=BOB)
