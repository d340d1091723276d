"""A full simulated week through the production composition (tweepy + python-telegram-bot with
AIORateLimiter, as ``connect_publishers`` builds them) against both strict fakes.

Purpose: prove the whole path (queue -> slots -> ledger -> real HTTP clients -> strict API
validation) posts exactly one paper per slot to X and to the channel, in queue order, the
digest exactly once on Sunday 20:00 Tokyo, and that hostile comments arrive escaped and
within the platforms' limits (the fakes reject anything malformed, so zero rejections is the
proof that every request was valid)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.config import Settings
from bot.domain.model import ParsedItem
from bot.domain.x_text import weighted_length
from bot.sandbox.telegram_html import utf16_len
from tests.builders import item
from tests.e2e.conftest import Rig, comments, open_rig

TOKYO = ZoneInfo("Asia/Tokyo")
INVISIBLE = "\u200b\u200c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
MARKUP = '<script>alert("pwn")</script> & "quoted" *bold* _under_ `code` <b>not bold</b>'
RTL = (
    "Safe\u202etxt.exe\u202c zero\u200bwidth jo\u200dined \u2066isolate\u2069 \ufeffbom \u200fmark"
)
CJK = "这篇论文提出了一种新的稀疏专家混合模型，在长上下文推理上显著优于基线。" * 12
MEGA_UNIT = "<&> mega comment word "  # escaping grows it: a cut after escaping would break HTML
MEGA = (MEGA_UNIT * (1_000_000 // len(MEGA_UNIT) + 1))[:1_000_000]


def expected_slots(start: datetime, end: datetime) -> list[datetime]:
    """09:00, 13:00, 19:00 Tokyo on every day, strictly after ``start`` up to ``end``."""
    out = []
    day: date = start.astimezone(TOKYO).date()
    while True:
        for hour in (9, 13, 19):
            at = datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO).astimezone(UTC)
            if start < at <= end:
                out.append(at)
        if datetime(day.year, day.month, day.day, tzinfo=TOKYO) > end:
            return out
        day += timedelta(days=1)


def hostile_items() -> list[ParsedItem]:
    texts = [MARKUP, RTL, CJK, MEGA]
    return [
        item(i, text, arxiv=f"2602.{i:05d}", title=f"T{i} <i>&</i>")
        for i, text in enumerate(texts, 1)
    ]


@pytest.mark.slow
async def test_a_week_of_slots_through_the_real_adapters(
    settings: Settings, clock: FrozenClock
) -> None:
    async with open_rig(settings, clock) as rig:
        await run_week(rig)


async def run_week(rig: Rig) -> None:
    clock = rig.clock
    items = [*hostile_items(), *comments(26, start=5)]
    ids, digest = await rig.enqueue(items)
    assert len(ids) == 30
    hostile = ids[:4]  # hostile comments go out in the first four slots
    start = clock.now
    end = start + timedelta(days=7)
    releases: list[tuple[datetime, int]] = []
    while clock.now < end:
        clock.advance(minutes=15)
        report = await rig.dispatcher.tick()
        assert report.failed == [] and report.retrying == [], report
        assert report.waiting == []
        releases.extend((clock.now, post) for post in report.released)
        assert sorted(report.sent) == sorted(
            (p, d) for p in report.released for d in ("x", "telegram:channel")
        )

    slots = expected_slots(start, end)
    sunday = datetime(2026, 3, 8, 20, 0, tzinfo=TOKYO).astimezone(UTC)
    assert len(slots) == 21
    # the queue, slot by slot: one paper per slot in queue order, the digest once on Sunday
    expected = sorted([*zip(slots, ids, strict=False), (sunday, digest)])
    assert releases == expected
    order = [post for _, post in expected]

    # zero rejected requests: every request passed strict validation (auth, schema, HTML)
    assert rig.x.rejected == []
    assert rig.telegram.rejected == []
    assert rig.telegram.faults.injected == [] and rig.x.faults.injected == []

    # X: exactly one post per slot, at the slot, with exactly the composed text, in order
    tweets = rig.tweets()
    outgoing = {post: await rig.outgoing(post) for post in order}
    assert [t.text for t in tweets] == [outgoing[p].x_text for p in order]
    assert [t.created for t in tweets] == [at.timestamp() for at, _ in expected]
    assert Counter(t.created for t in tweets).most_common(1)[0][1] == 1

    # Telegram channel: the same, one message per slot, stamped with the simulated time
    channel = rig.channel()
    assert [m.text for m in channel] == [outgoing[p].telegram.text for p in order]
    assert [m.date for m in channel] == [int(at.timestamp()) for at, _ in expected]
    assert [m.parse_mode for m in channel] == ["HTML"] * len(order)
    assert len(rig.telegram.messages()) == len(order)  # nothing anywhere else (no alerts)

    # the ledger agrees with the platforms
    rows = await rig.ledger()
    assert {(r.post_id, r.destination) for r in rows} == {
        (p, d) for p in order for d in ("x", "telegram:channel")
    }
    assert all(r.state == "sent" and r.attempts == 1 and r.duplicates == 0 for r in rows)
    remote = {(r.post_id, r.destination): r.remote_id for r in rows}
    assert [remote[(p, "x")] for p in order] == [t.id for t in tweets]
    assert [remote[(p, "telegram:channel")] for p in order] == [str(m.message_id) for m in channel]
    posts = await rig.posts()
    assert {p for p, post in posts.items() if post.state == "sent"} == set(order)
    assert all(posts[p].state == "queued" for p in ids[21:])

    # hostile comments: escaped for Telegram HTML, plain on X, cleaned, within the limits
    by_post = dict(zip(order, zip(tweets, channel, strict=True), strict=True))
    for post in hostile:
        tweet, message = by_post[post]
        assert weighted_length(tweet.text) <= 280
        assert utf16_len(message.visible_text) <= 4096
        for text in (tweet.text, message.visible_text, message.text):
            assert not set(text) & set(INVISIBLE), (post, text[:80])
    markup_tweet, markup_msg = by_post[hostile[0]]
    assert MARKUP in markup_tweet.text  # X is plain text: no HTML escaping there
    assert MARKUP in markup_msg.visible_text  # shown literally, not interpreted
    assert "&lt;script&gt;" in markup_msg.text and "<script>" not in markup_msg.text
    assert "<b>not bold</b>" not in markup_msg.text
    assert [e["type"] for e in markup_msg.entities if e["type"] == "bold"] == []
    assert "T1 <i>&</i>" in markup_msg.visible_text  # the title is escaped too
    rtl_tweet, rtl_msg = by_post[hostile[1]]
    assert "Safetxt.exe zerowidth joined isolate bom mark" in rtl_msg.visible_text
    assert "Safetxt.exe zerowidth joined isolate bom mark" in rtl_tweet.text
    cjk_tweet, cjk_msg = by_post[hostile[2]]
    assert CJK in cjk_msg.visible_text  # fits Telegram whole
    assert cjk_tweet.text.startswith(CJK[:40]) and "…" in cjk_tweet.text  # cut for X (weight 2)
    assert weighted_length(cjk_tweet.text) > 140  # cut at a sentence end, not dropped
    mega_tweet, mega_msg = by_post[hostile[3]]
    assert mega_tweet.text.startswith(MEGA_UNIT.strip()) and "arXiv:2602.00004" in mega_tweet.text
    assert 3500 < utf16_len(mega_msg.visible_text) <= 4096  # filled to the limit, not dropped
    assert mega_msg.visible_text.startswith(MEGA_UNIT.strip()) and "…" in mega_msg.visible_text
    assert "arXiv:2602.00004" in mega_msg.visible_text  # the footer survived the cut
