"""``digestbot run`` watches the feeds by itself: a digest published on the feed appears in
the archive and the queue, and the maintainer alert says so (a real worker process)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import build
from bot.config import load_settings
from tests.builders import scalar
from tests.feeds.conftest import week41, week45_zh
from tests.feeds.feed_site import FeedSite

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], deadline: float = 60.0) -> bool:
    """Poll an observable condition (not a timing assumption), bounded."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


async def _watch(db_url: str, feed_url: str) -> None:
    """Watch the feed and read it once: what it carries now is the backlog, not queued."""
    app = build(load_settings(database_url=db_url))
    try:
        await app.feeds.add(feed_url, enqueue=True)
        (first,) = await app.feeds.check()
        assert first.baseline and first.enqueued is None
    finally:
        await app.aclose()


def _count(db_url: str, sql: str) -> int:
    return int(scalar(db_url, sql))


def test_worker_imports_and_queues_a_new_digest_from_the_feed(
    db_url: str, tmp_path: Path, base_url: str, site: FeedSite
) -> None:
    site.items = [week45_zh()]
    asyncio.run(_watch(db_url, f"{base_url}/feed.xml"))
    site.items = [week41(), week45_zh()]  # published while nobody looks: the worker finds it
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_FEEDS__POLL_MINUTES": "0.01",  # every 0.6 s
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        imported = wait_for(
            lambda: _count(db_url, "SELECT count(*) FROM posts WHERE kind = 'digest'") == 1
        )
        requests = len(site.requests)
        wait_for(lambda: len(site.requests) > requests)  # polled again: a 304, nothing new
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert imported, output
    assert _count(db_url, "SELECT count(*) FROM issues WHERE key = '2020-W41'") == 1
    assert _count(db_url, "SELECT count(*) FROM posts p JOIN issues i ON p.issue_id = i.id "
                  "WHERE i.key = '2020-W45'") == 0  # the backlog stays unqueued
    assert _count(db_url, "SELECT count(*) FROM posts WHERE kind = 'paper'") >= 3
    assert "maintainer alert: new digest 2020-W41 (en)" in output
    assert site.requests[-1][1] is not None  # the later polls were conditional
    assert proc.returncode == 0, output
