"""FeedService against the local feed site and a real database (the run's store): imports, 304s, new
and edited items, enqueueing without re-queueing posted papers, back-off and one alert."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from bot.app import Container
from bot.clock import FrozenClock
from bot.publish.notify import LogNotifier
from bot.services.feed_source import FeedError
from bot.services.feeds import FeedService
from bot.store.models import Feed, Issue, Post
from tests.conftest import FIXTURES
from tests.feeds.conftest import (
    WEEK45_ZH,
    digest_item,
    english_weekly,
    make_service,
    note_item,
    week41,
    week45_zh,
)
from tests.feeds.feed_site import FeedSite


async def _posts(app: Container) -> list[Post]:
    async with app.sessions() as session:
        return list(await session.scalars(select(Post).order_by(Post.id)))


async def _feed_row(app: Container, url: str) -> Feed:
    async with app.sessions() as session:
        row = await session.scalar(select(Feed).where(Feed.url == url))
    assert row is not None
    return row


async def test_add_list_remove(feeds: FeedService, base_url: str) -> None:
    url = f"{base_url}/feed.xml"
    view, new = await feeds.add(url)
    assert new and not view.enqueue
    view, new = await feeds.add(f" {url} ", enqueue=True)
    assert not new and view.enqueue
    assert [f.url for f in await feeds.feeds()] == [url]
    await feeds.remove(url)
    assert await feeds.feeds() == []
    with pytest.raises(FeedError, match="is not watched"):
        await feeds.remove(url)
    with pytest.raises(FeedError, match="http:// or https://"):
        await feeds.add("ftp://example.org/feed")


async def test_first_check_imports_digests_and_lists_skipped_items(
    app: Container, feeds: FeedService, base_url: str, site: FeedSite
) -> None:
    site.items = [week41(), note_item(), week45_zh()]
    url = f"{base_url}/feed.xml"
    await feeds.add(url)
    (check,) = await feeds.check()
    assert check.status == "ok" and check.enqueued is None
    outcomes = {(e.outcome, e.key, e.language) for e in check.entries}
    assert outcomes == {
        ("added", "2020-W41", "en"),
        ("added", "2020-W45", "zh"),
        ("skipped", None, None),
    }
    (skipped,) = [e for e in check.entries if e.outcome == "skipped"]
    assert skipped.title == "A note on holidays" and "not a digest" in (skipped.reason or "")
    issue = await app.archive.issue("2020-W41")
    assert len(issue.items) == 5 and (issue.items[0].title or "").startswith("An Image is")
    assert issue.url is not None and "source=" not in issue.url
    assert issue.warnings == ()
    assert issue.items[2].url == "https://medium.com/@someone/a-visual-tour-of-attention-heads-1234abcd"
    assert await _posts(app) == []  # this feed does not enqueue
    row = await _feed_row(app, url)
    assert row.etag and row.ok_at is not None and row.failures == 0

    # the second check asks conditionally and gets 304: nothing is read or imported
    (again,) = await feeds.check()
    assert again.status == "not_modified" and again.entries == []
    assert site.requests[-1][1] == row.etag


async def test_backlog_is_not_queued_new_items_are_and_edits_never_requeue_a_posted_paper(
    app: Container, feeds: FeedService, base_url: str, site: FeedSite
) -> None:
    url = f"{base_url}/feed.xml"
    site.items = [week45_zh()]
    await feeds.add(url, enqueue=True)
    (first,) = await feeds.check()  # the backlog: imported, not queued
    assert first.baseline and first.enqueued is None
    assert [(e.key, e.outcome) for e in first.entries] == [("2020-W45", "added")]
    assert await _posts(app) == []

    # a new item appears: imported and queued; the backlog item is unchanged
    site.items = [week41(), week45_zh()]
    (second,) = await feeds.check()
    assert not second.baseline
    assert {(e.key, e.outcome, e.new) for e in second.entries} == {
        ("2020-W41", "added", True),
        ("2020-W45", "unchanged", False),
    }
    assert second.enqueued is not None and len(second.enqueued.digests) == 1
    papers = [p for p in await _posts(app) if p.kind == "paper"]
    assert len(papers) == len(second.enqueued.papers) > 2
    async with app.sessions.begin() as session:  # the first paper goes out
        await session.execute(update(Post).where(Post.id == papers[0].id).values(state="sent"))
    count_before_edit = len(await _posts(app))

    # the author edits week 41 (a summary changes, a paper is added) and week 45 (a word)
    edited = english_weekly().replace(
        "Training needs roughly ten times fewer epochs.",
        "Training needs about a tenth of the epochs.",
    ).replace(
        "# 2. Technical Articles",
        "# A new paper added in an edit\n\n*Later Addition*\n"
        "[https://arxiv.org/abs/2010.99999](https://arxiv.org/abs/2010.99999)\n\n"
        "Added after publication.\n\n# 2. Technical Articles",
    )
    zh = (FIXTURES / "digests" / "chinese_picks.md").read_text("utf-8")
    assert "用来估计产量" in zh
    site.items = [
        week41(edited),
        digest_item(
            "chinese_picks.md",
            WEEK45_ZH,
            "https://medium.com/p/w45",
            "Akira 的 ML 新闻# 2020 年第 45 周",
            zh.replace("用来估计产量", "用来预估产量"),
        ),
    ]
    async with app.sessions() as session:
        issue_id = await session.scalar(select(Issue.id).where(Issue.key == "2020-W41"))
    (third,) = await feeds.check()
    assert {(e.key, e.outcome, e.new) for e in third.entries} == {
        ("2020-W41", "updated", False),
        ("2020-W45", "updated", False),
    }
    async with app.sessions() as session:
        rows = list(await session.scalars(select(Issue).where(Issue.key == "2020-W41")))
    assert [r.id for r in rows] == [issue_id]  # updated in place
    issue = await app.archive.issue("2020-W41")
    assert "a tenth of the epochs" in issue.items[1].summary
    # only the paper the edit added; the backlog issue (never queued) stays unqueued
    assert third.enqueued is not None
    assert len(third.enqueued.papers) == 1 and third.enqueued.digests == []
    after = await _posts(app)
    assert len(after) == count_before_edit + 1
    live = [p.paper_id for p in after if p.kind == "paper" and p.state != "cancelled"]
    assert len(live) == len(set(live))  # no paper twice, the posted one not re-queued
    assert {p.issue_id for p in after} == {issue_id}


async def test_check_enqueue_flag_overrides_the_feed_setting(
    app: Container, feeds: FeedService, base_url: str
) -> None:
    await feeds.add(f"{base_url}/feed.xml", enqueue=True)
    (check,) = await feeds.check(enqueue=False)
    assert check.enqueued is None and await _posts(app) == []
    with pytest.raises(FeedError, match="not watched"):
        await feeds.check([f"{base_url}/other.xml"])


async def test_hostile_feeds_fail_cleanly_and_import_nothing(
    app: Container, clock: FrozenClock, notifier: LogNotifier, base_url: str
) -> None:
    feeds = make_service(app, clock, notifier, max_bytes=1_000_000, max_redirects=3)
    paths = ["/broken.xml", "/huge.xml", "/loop-a", "/to-file", "/to-ftp", "/forever/0"]
    for path in paths:
        await feeds.add(base_url + path)
    checks = await feeds.check()
    errors = {c.url.removeprefix(base_url): c.error for c in checks}
    assert all(c.status == "failed" for c in checks)
    assert "invalid XML" in (errors["/broken.xml"] or "")
    assert "byte limit" in (errors["/huge.xml"] or "")
    assert "redirect loop" in (errors["/loop-a"] or "")
    assert "file: URL refused" in (errors["/to-file"] or "")
    assert "ftp: URL refused" in (errors["/to-ftp"] or "")
    assert "more than 3 redirects" in (errors["/forever/0"] or "")
    assert await app.archive.issues() == []


async def test_worker_poll_backs_off_and_alerts_once_after_a_day(
    app: Container, clock: FrozenClock, notifier: LogNotifier, base_url: str, site: FeedSite
) -> None:
    feeds = make_service(app, clock, notifier, poll_minutes=60, backoff_cap_minutes=240,
                         alert_after_hours=24)
    url = f"{base_url}/feed.xml"
    await feeds.add(url)
    site.fail = 500
    (check,) = await feeds.poll()
    assert check.status == "failed" and "HTTP 500" in (check.error or "")
    row = await _feed_row(app, url)
    assert row.failures == 1 and row.next_check_at == clock() + __import__("datetime").timedelta(
        minutes=60
    )
    assert await feeds.poll() == []  # still backing off: not fetched
    requests = len(site.requests)
    waits = []
    for _ in range(12):  # a day and more of failures, each poll after the back-off
        row = await _feed_row(app, url)
        assert row.next_check_at is not None
        waits.append((row.next_check_at - clock()).total_seconds() / 60)
        clock.set(row.next_check_at)
        await feeds.poll()
    assert waits[:4] == [60, 120, 240, 240]  # doubled, capped
    assert len(site.requests) == requests + 12
    failing = [a for a in notifier.alerts if "has failed" in a]
    assert len(failing) == 1 and url in failing[0] and "HTTP 500" in failing[0]

    site.fail = None
    clock.set((await _feed_row(app, url)).next_check_at)  # type: ignore[arg-type]
    (ok,) = await feeds.poll()
    assert ok.status == "ok"
    assert notifier.alerts[-2].startswith("feed ") and "works again" in notifier.alerts[-2]
    last = notifier.alerts[-1]
    assert last.startswith("first check of") and "2020-W41 (en)" in last
    row = await _feed_row(app, url)
    assert (row.failures, row.failing_since, row.alerted) == (0, None, False)


async def test_worker_poll_tells_what_it_imported_and_queued(
    app: Container, feeds: FeedService, notifier: LogNotifier, base_url: str, site: FeedSite
) -> None:
    site.items = [week45_zh()]
    await feeds.add(f"{base_url}/atom.xml", enqueue=True)
    (first,) = await feeds.poll()
    assert first.status == "ok" and first.baseline
    (note,) = notifier.alerts
    assert note.startswith("first check of") and "2020-W45 (zh)" in note and "not queued" in note
    site.items = [week41(), week45_zh()]
    (second,) = await feeds.poll()
    assert second.status == "ok"
    note = notifier.alerts[-1]
    assert "new digest 2020-W41 (en)" in note and "5 items" in note
    assert "queued 5 paper posts and 1 digest posts" in note
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 6


async def test_check_with_enqueue_queues_an_issue_imported_earlier(
    app: Container, feeds: FeedService, base_url: str, site: FeedSite
) -> None:
    url = f"{base_url}/feed.xml"
    await feeds.add(url)
    await feeds.check()  # imported, not queued
    (plain,) = await feeds.check()
    assert plain.status == "not_modified"
    (forced,) = await feeds.check(force=True)
    assert forced.status == "ok" and forced.enqueued is None
    assert site.requests[-1][1] is None  # no If-None-Match
    (asked,) = await feeds.check(enqueue=True)  # read in full, whatever the validators
    assert site.requests[-1][1] is None
    assert [e.outcome for e in asked.entries] == ["unchanged"]
    assert asked.enqueued is not None and asked.enqueued.papers and asked.enqueued.digests


async def test_poll_alert_names_the_unqueued_issue_for_buttons_and_the_queued_one_without(
    app: Container, feeds: FeedService, notifier: LogNotifier, base_url: str, site: FeedSite
) -> None:
    site.items = [week45_zh()]
    plain, queueing = f"{base_url}/feed.xml", f"{base_url}/atom.xml"
    await feeds.add(plain)  # imports, never queues
    await feeds.poll()  # the backlog: told, no buttons
    assert [(a.kind, a.issue_keys) for a in notifier.details] == [("info", ("2020-W45",))]
    site.items = [week41(), week45_zh()]
    (check,) = await feeds.poll()
    assert check.enqueued is None and await _posts(app) == []
    alert = notifier.details[-1]
    assert (alert.kind, alert.issue_keys, alert.post_id) == ("issue", ("2020-W41",), None)
    assert alert.actionable and "new digest 2020-W41 (en)" in alert.text

    await feeds.remove(plain)
    await feeds.add(queueing, enqueue=True)
    site.items = [week45_zh()]
    await feeds.poll()  # its backlog
    site.items = [week41(), week45_zh()]
    (queued,) = await feeds.poll()
    assert queued.enqueued is not None and queued.queued_keys == ["2020-W41"]
    alert = notifier.details[-1]
    assert (alert.kind, alert.issue_keys) == ("info", ("2020-W41",))  # queued: no buttons
    assert not alert.actionable


async def test_an_edit_never_requeues_a_paper_the_maintainer_dropped(
    app: Container, feeds: FeedService, base_url: str, site: FeedSite
) -> None:
    site.items = [week45_zh()]
    await feeds.add(f"{base_url}/feed.xml", enqueue=True)
    await feeds.check()  # the backlog
    site.items = [week41(), week45_zh()]
    (second,) = await feeds.check()
    assert second.enqueued is not None and len(second.enqueued.papers) > 2
    dropped, other = second.enqueued.papers[0], second.enqueued.papers[1]
    await app.queue.remove(dropped)
    async with app.sessions.begin() as session:  # another one was skipped after a failure
        await session.execute(update(Post).where(Post.id == other).values(state="cancelled"))
        paper_ids = {
            p.id: p.paper_id for p in await session.scalars(select(Post)) if p.kind == "paper"
        }
    edited = english_weekly().replace(
        "# 2. Technical Articles",
        "# A new paper added in an edit\n\n*Later Addition*\n"
        "[https://arxiv.org/abs/2010.99999](https://arxiv.org/abs/2010.99999)\n\n"
        "Added after publication.\n\n# 2. Technical Articles",
    )
    site.items = [week41(edited), week45_zh()]
    (third,) = await feeds.check()
    assert third.enqueued is not None and len(third.enqueued.papers) == 1  # only the added one
    after = await _posts(app)
    requeued = [
        p for p in after if p.state != "cancelled" and p.paper_id in
        {paper_ids[dropped], paper_ids[other]}
    ]
    assert requeued == []
    assert len(after) == len(paper_ids) + len(second.enqueued.digests) + 1
