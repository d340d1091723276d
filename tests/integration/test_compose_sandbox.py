"""Digest announcements, hostile ones included, sent through the production adapters (tweepy and
python-telegram-bot) to the strict fake X and Telegram servers: zero rejected requests."""

from __future__ import annotations

from dataclasses import replace

from bot.clock import FrozenClock
from bot.config import Settings
from bot.domain.model import ParsedItem
from bot.domain.x_text import weighted_length
from bot.sandbox.telegram_html import utf16_len
from tests.builders import item, store, weekly
from tests.e2e.conftest import CHANNEL, Rig, open_rig

NASTY = '<script>alert("x")</script> & "q" *bold* <b>not bold</b>'
MEGA = "<&> mega headline word " * 45_000  # about 1 MB


def picks(headlines: list[str], *, links: bool = True) -> list[ParsedItem]:
    return [
        item(n, h, arxiv=f"2602.{n:05d}" if links else None, pick=True)
        for n, h in enumerate(headlines, 1)
    ]


CASES: list[tuple[str, str, str, list[ParsedItem]]] = [
    ("2026-W10", "2026 年第 10 周", "zh", picks(["剪枝的新方法", "小波 <变换> & 更多"])),
    ("2026-W11", NASTY, "en", picks([NASTY, NASTY + " again"])),
    ("2026-W12", "ML news 2026-W12", "en", picks([f"Pick {n} <&>" for n in range(100)])),
    ("2026-W13", "ML news 2026-W13", "en", picks([MEGA, "after the mega pick"])),
    ("2026-W14", "\u200b ", "en", picks(["pick under a missing title"])),
    ("2026-W15", "ML news 2026-W15", "en", []),
]


async def send_digest(
    rig: Rig, key: str, title: str, language: str, items: list[ParsedItem]
) -> int:
    issue = replace(weekly(key, items), title=title, language=language)  # type: ignore[arg-type]
    await store(rig.app, issue)
    report = await rig.app.queue.enqueue_issues([key])
    (digest,) = report.digests
    outgoing = await rig.outgoing(digest)
    assert outgoing.x_text is not None
    await rig.app.publishers["x"].send("x", outgoing)
    await rig.app.publishers["telegram"].send("telegram:channel", outgoing)
    rig.clock.advance(minutes=5)  # the channel's pace: well under 20 messages a minute
    return digest


async def test_digests_pass_the_strict_fakes(settings: Settings, clock: FrozenClock) -> None:
    async with open_rig(settings, clock) as rig:
        for key, title, language, items in CASES:
            await send_digest(rig, key, title, language, items)
        assert rig.x.rejected == []
        assert rig.telegram.rejected == []
        tweets, channel = rig.tweets(), rig.telegram.messages(CHANNEL)
        assert len(tweets) == len(channel) == len(CASES)
        for tweet, message, (key, _, _, items) in zip(tweets, channel, CASES, strict=True):
            url = f"https://medium.com/@demo/ml-news-{key.lower()}"
            assert weighted_length(tweet.text) <= 280
            assert tweet.text.endswith(f"\n\n{url}")
            assert utf16_len(message.visible_text) <= 4096
            count = sum(1 for i in items if i.section == "papers")
            line = message.visible_text.split("\n")[1] if count else ""
            assert line in (f"{count} papers", "1 paper", f"本期 {count} 篇论文", "")
        zh = channel[0]
        assert zh.visible_text.startswith(
            "2026 年第 10 周\n本期 2 篇论文\n\n编辑精选\n• 剪枝的新方法"
        )
        assert "小波 <变换> & 更多" in zh.visible_text
        assert NASTY in channel[1].visible_text and "<script>" not in channel[1].text
        assert [e["type"] for e in channel[1].entities].count("bold") == 2  # title + heading
        assert channel[4].visible_text.startswith("New issue\n1 paper")
