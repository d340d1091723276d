"""The maintainer services the CLI and Telegram share: ``now`` (make due + connect + tick),
retry / reschedule / skip of a post sent in part, the dry-run copy, previews, and import from
an uploaded document with its follow-ups."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Container
from bot.clock import FrozenClock
from bot.publish.base import Permanent
from bot.services.audit import Actor
from bot.services.preview import PreviewError, PreviewService
from bot.services.queue import QueueError
from bot.services.release import ReleaseError, rehearsal_settings
from bot.services.uploads import UploadError
from bot.store.models import Delivery, Post
from tests.builders import dump, execute, item, scalar, store, weekly
from tests.conftest import FIXTURES
from tests.fakes import ScriptedPublisher

CAROL = Actor.telegram(333, "Carol")


class Wired:
    def __init__(self, app: Container) -> None:
        self.app = app
        self.x = ScriptedPublisher("x")
        self.tg = ScriptedPublisher("telegram")
        app.publishers = {"x": self.x, "telegram": self.tg}
        app.destinations = ["x", "telegram:channel"]

    async def enqueue(self, n: int) -> list[int]:
        items = [item(i, f"Comment {i}.", arxiv=f"2601.{i:05d}") for i in range(1, n + 1)]
        await store(self.app, weekly("2026-W10", items))
        return (await self.app.queue.enqueue_issues(["2026-W10"])).papers

    async def states(self, post_id: int) -> tuple[str, dict[str, str]]:
        async with self.app.sessions() as session:
            post = await session.get(Post, post_id)
            assert post is not None
            rows = await session.scalars(select(Delivery).where(Delivery.post_id == post_id))
            return post.state, {d.destination: d.state for d in rows}


@pytest.fixture
def wired(app: Container) -> Wired:
    return Wired(app)


async def test_now_sends_at_once_and_is_audited(wired: Wired) -> None:
    ids = await wired.enqueue(3)
    report = await wired.app.release.now(ids[2], actor=CAROL)
    assert (ids[2], "x") in report.tick.sent and (ids[2], "telegram:channel") in report.tick.sent
    assert not report.failed and f"post {ids[2]} sent to x" in report.lines()
    assert wired.x.posts() == [ids[2]]
    (entry,) = [e for e in await wired.app.audit.recent() if e.verb == "now"]
    assert entry.actor_id == 333 and entry.post_id == ids[2]
    with pytest.raises(QueueError, match="cannot undo now"):
        await wired.app.queue.undo()  # sent since


async def test_now_without_destinations_changes_nothing(app: Container) -> None:
    await store(app, weekly("2026-W10", [item(1, "One.", arxiv="2601.00001")]))
    [post] = (await app.queue.enqueue_issues(["2026-W10"])).papers
    slot = (await app.queue.view()).posts[0].slot
    with pytest.raises(ReleaseError, match="no destination is configured"):
        await app.release.now(post, actor=CAROL)
    assert (await app.queue.view()).posts[0].slot == slot
    assert [e.verb for e in await app.audit.recent()] == ["enqueue"]


async def test_now_on_a_paused_queue_says_why_nothing_went_out(wired: Wired) -> None:
    ids = await wired.enqueue(2)
    await wired.app.queue.set_paused(True)
    report = await wired.app.release.now(ids[1])
    assert report.tick.sent == [] and report.paused
    assert any("the queue is paused" in line for line in report.lines())


@pytest.mark.parametrize("bad", [0, -5, 2**63, 10**30, 999])
async def test_now_with_unknown_ids(wired: Wired, bad: int) -> None:
    await wired.enqueue(1)
    with pytest.raises(QueueError, match=f"no post with id {bad}"):
        await wired.app.release.now(bad)


async def test_retry_reschedule_and_skip_a_post_sent_in_part(
    wired: Wired, clock: FrozenClock
) -> None:
    ids = await wired.enqueue(3)
    wired.x.script.append(Permanent("X refused it"))
    await wired.app.release.now(ids[0])
    assert await wired.states(ids[0]) == ("sent", {"x": "failed", "telegram:channel": "sent"})
    # Retry (the alert's button = release.now): the failed X delivery is sent again
    report = await wired.app.release.now(ids[0], actor=CAROL)
    assert (ids[0], "x") in report.tick.sent
    assert await wired.states(ids[0]) == ("sent", {"x": "sent", "telegram:channel": "sent"})
    assert (await wired.app.audit.recent(1))[0].verb == "retry"
    # Reschedule: the failed delivery waits for the next slot no queued post holds
    clock.advance(minutes=10)  # (the channel's pace spaces posts out)
    wired.x.script.append(Permanent("X refused it"))
    await wired.app.release.now(ids[1])
    assert await wired.states(ids[1]) == ("sent", {"x": "failed", "telegram:channel": "sent"})
    taken = {p.slot for p in (await wired.app.queue.view()).posts}
    due = await wired.app.queue.reschedule(ids[1], actor=CAROL)
    assert due > clock.now and due not in taken
    async with wired.app.sessions() as session:
        x = await session.scalar(
            select(Delivery).where(Delivery.post_id == ids[1], Delivery.destination == "x")
        )
    assert x is not None and x.state == "pending" and x.due_at == due
    # Skip: what is left is given up, the post counts as sent (Telegram got it)
    assert await wired.app.queue.skip(ids[1], actor=CAROL) == 1
    assert await wired.states(ids[1]) == ("sent", {"x": "cancelled", "telegram:channel": "sent"})
    with pytest.raises(QueueError, match="nothing left to send"):
        await wired.app.queue.skip(ids[1])
    with pytest.raises(QueueError, match="still queued"):
        await wired.app.queue.reschedule(ids[2])
    with pytest.raises(QueueError, match="no post with id -1"):
        await wired.app.queue.skip(-1)
    verbs = [e.verb for e in await wired.app.audit.recent()]
    assert {"retry", "reschedule", "skip"} <= set(verbs)
    # undo passes over retry/reschedule/skip: the newest other change is the `now` of ids[1]
    with pytest.raises(QueueError, match=f"cannot undo now: post {ids[1]} has been sent since"):
        await wired.app.queue.undo()


@pytest.fixture
async def two_queued(wired: Wired) -> list[int]:
    return await wired.enqueue(2)


def test_rehearsal_copy_leaves_the_original_alone(
    wired: Wired, two_queued: list[int], db_url: str
) -> None:
    """Both stores rehearse on a private SQLite copy: SQLite's backup of the file, a snapshot
    copy of a PostgreSQL database."""
    settings = wired.app.settings
    ids = two_queued
    queued = "SELECT count(*) FROM posts WHERE state = 'queued'"
    original = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    before = original.read_bytes() if original is not None else dump(db_url)
    with rehearsal_settings(settings, True) as copy:
        assert copy.database_url != settings.database_url
        assert copy.database_url.startswith("sqlite:///")
        path = Path(copy.database_url.removeprefix("sqlite:///"))
        assert path.exists() and path.stat().st_mode & 0o077 == 0
        assert scalar(copy.database_url, queued) == scalar(db_url, queued) == len(ids) + 1
        execute(copy.database_url, "UPDATE posts SET state = 'sent'")  # the rehearsal sends
    assert not path.exists()
    assert (original.read_bytes() if original is not None else dump(db_url)) == before
    assert scalar(db_url, queued) == len(ids) + 1
    with rehearsal_settings(settings, False) as same:
        assert same is settings


async def test_preview_text_and_post(wired: Wired) -> None:
    ids = await wired.enqueue(1)
    text = wired.app.preview.text("<b>bold</b> & claims")
    assert text.x_text == "<b>bold</b> & claims" and text.x_valid
    assert "&lt;b&gt;" in text.telegram_text and text.telegram_parse_mode == "HTML"
    post = await wired.app.preview.post(ids[0])
    assert post.x_text is not None and "arxiv" in post.x_text.lower()
    assert post.x_weight is not None and post.x_weight <= 280
    for bad in (0, -1, 2**64, 12345):
        with pytest.raises(PreviewError, match="no post with id"):
            await wired.app.preview.post(bad)
    with pytest.raises(PreviewError, match="too long"):
        PreviewService.for_text(wired.app.settings).text("x" * 100_000)
    with pytest.raises(PreviewError, match="empty"):
        wired.app.preview.text("  \n ")


async def test_queue_view_has_pick_marks_weights_and_pages(wired: Wired) -> None:
    items = [item(i, f"Comment {i}.", arxiv=f"2601.{i:05d}", pick=i == 2) for i in range(1, 6)]
    await store(wired.app, weekly("2026-W10", items))
    await wired.app.queue.enqueue_issues(["2026-W10"])
    first = await wired.app.queue.view(limit=2)
    assert first.total == 6 and [p.pick for p in first.posts] == [True, False]
    assert all(p.x_weight and 0 < p.x_weight <= 280 for p in first.posts)
    second = await wired.app.queue.view(limit=2, offset=2)
    assert second.total == 6 and len(second.posts) == 2
    assert {p.id for p in first.posts}.isdisjoint({p.id for p in second.posts})
    last = await wired.app.queue.view(limit=10, offset=5)
    assert (
        len(last.posts) == 1 and last.posts[0].kind == "digest" and last.posts[0].x_weight is None
    )


async def test_import_a_document_then_enqueue_and_plan(app: Container, clock: FrozenClock) -> None:
    data = (FIXTURES / "digests" / "english_weekly.md").read_bytes()
    outcome = await app.uploads.import_document(data, "week41.md")
    assert outcome.issue_keys == ["2020-W41"] and outcome.report.added
    papers = {p.paper for p in outcome.new_papers}
    assert "arxiv:2010.11929" in papers and all(
        p.issue_key == "2020-W41" for p in outcome.new_papers
    )
    assert "1 added" in outcome.summary()
    enqueued = await app.uploads.enqueue_new_papers("2020-w41", actor=CAROL)
    assert len(enqueued.papers) == len(outcome.new_papers) and enqueued.digests == []
    planned = await app.uploads.plan_weekly_post("2020-W41", actor=CAROL)
    assert planned.papers == [] and len(planned.digests) == 1
    again = await app.uploads.plan_weekly_post("2020-W41", actor=CAROL)
    assert again.digests == []  # announced once
    # importing the same file again: unchanged, and no new papers left
    second = await app.uploads.import_document(data, "week41.md")
    assert second.report.unchanged and second.new_papers == []
    entries = [e for e in await app.audit.recent() if e.verb == "enqueue"]
    assert len(entries) == 2 and all(e.actor_id == 333 for e in entries)
    clock.advance(minutes=1)
    await app.queue.undo(actor=CAROL)  # the weekly post goes again
    assert all(p.kind == "paper" for p in (await app.queue.view()).posts)


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"# hi", "digest.pdf", "not a digest file"),
        (b"\xff\xfe\x00bad", "digest.md", "not UTF-8"),
        (b"a\x00b", "digest.txt", "not a text file"),
        (b"x" * 3_000_000, "big.md", "too large"),
        (b"# hi", "../../etc/<b>x</b>.exe", "not a digest file"),
    ],
)
async def test_hostile_uploads_are_refused(
    app: Container, data: bytes, name: str, message: str
) -> None:
    with pytest.raises(UploadError, match=message):
        await app.uploads.import_document(data, name)
    assert await app.archive.issues() == []


async def test_upload_that_is_not_a_digest_reports_failure(app: Container) -> None:
    data = (FIXTURES / "digests" / "not_a_digest.md").read_bytes()
    outcome = await app.uploads.import_document(data, "notes.md")
    assert outcome.report.failed and outcome.warnings and outcome.new_papers == []
    with pytest.raises(UploadError, match="no issue"):
        await app.uploads.enqueue_new_papers("2031-W01")
    with pytest.raises(UploadError, match="not an http"):
        await app.uploads.import_url("file:///etc/passwd")
