"""Pure parts of the handlers: callback data, the flood gate, rendering limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.sandbox.telegram_html import parse_html
from bot.services.browse import Entry, SearchPage, WeekView
from bot.services.subscribers import Subscriber
from bot.telegram import keyboards, render
from bot.telegram.flood import FloodGate
from bot.telegram.keyboards import SearchNav, SettingChoice, WeekNav, ZoneMenu
from bot.telegram.texts import EN, TEXTS, ZH

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
QUERIES = ["model", "模型 剪枝", "😀" * 30, "a|b|c", "x" * 200, "ok " * 20, "\u202e" + "y" * 10]


def all_data(markup: Any) -> list[str]:
    return [b.callback_data for row in markup.inline_keyboard for b in row]


@pytest.mark.parametrize("query", QUERIES)
def test_search_buttons_fit_and_decode_back_to_the_query(query: str) -> None:
    store: dict[Any, Any] = {}
    markup = keyboards.search_keyboard(query, 2, True, True, EN, store)
    assert markup is not None
    for data in all_data(markup):
        assert len(data.encode("utf-8")) <= keyboards.MAX_DATA_BYTES
        action = keyboards.decode(data)
        assert isinstance(action, SearchNav) and action.page in (1, 3)
        assert (action.query or keyboards.kept_query(store, action.token or "")) == query


def test_settings_and_week_buttons_decode_to_their_actions() -> None:
    sub = Subscriber(1, "zh", "drip", "23:00", "08:00", "Asia/Tokyo", "active")
    for t in TEXTS.values():
        for data in all_data(keyboards.subscriber_keyboard(t, sub, NOW)):
            assert len(data.encode()) <= 64
            assert isinstance(keyboards.decode(data), SettingChoice | ZoneMenu)
    markup = keyboards.subscriber_keyboard(ZH, sub, NOW)
    labels = [b.text for row in markup.inline_keyboard for b in row]
    assert "✓ 仅论文" in labels and "✓ 23–08" in labels and "✓ 中文" in labels
    assert "取消订阅" in labels and "🌐 时区：东京 (UTC+9)" in labels
    assert keyboards.decode(keyboards.week_data("2020-W39")) == WeekNav("2020-W39")


def test_custom_quiet_hours_mark_no_preset() -> None:
    assert keyboards.quiet_preset("21:30", "06:00") == ""
    assert keyboards.quiet_preset(None, None) == "off"
    assert keyboards.quiet_preset("00:00", "09:00") == "00-09"


def test_long_queries_kept_per_chat_are_bounded() -> None:
    store: dict[Any, Any] = {}
    tokens = []
    for n in range(keyboards.KEPT_QUERIES + 5):
        data = keyboards.search_data(f"{n} " + "long query " * 10, 2, store)
        tokens.append(data.rsplit("|", 1)[1])
    assert keyboards.kept_query(store, tokens[0]) is None  # the oldest are forgotten
    assert keyboards.kept_query(store, tokens[-1]) == f"{len(tokens) - 1} " + "long query " * 10
    assert len(store["search_queries"]) == keyboards.KEPT_QUERIES


def test_flood_gate_warns_once_then_drops_until_the_window_passes() -> None:
    gate = FloodGate(limit=3, window=60)
    assert [gate.check(1, 0.0) for _ in range(6)] == ["ok", "ok", "ok", "warn", "drop", "drop"]
    assert gate.check(2, 1.0) == "ok"  # another user is not affected
    assert gate.check(1, 59.9) == "drop"
    assert gate.check(1, 60.0) == "ok"  # the first three left the window
    assert gate.check(1, 60.0) == "ok"
    assert gate.check(1, 60.0) == "ok"
    assert gate.check(1, 60.1) == "warn"  # a new burst gets one warning again


def test_flood_gate_sliding_window_counts_only_recent_updates() -> None:
    gate = FloodGate(limit=20, window=60)
    verdicts = [gate.check(7, t * 3.0) for t in range(200)]  # one every 3 s: 20 per minute
    assert set(verdicts) == {"ok"}
    verdicts = [gate.check(8, t * 2.9) for t in range(200)]  # a little faster: slowed down
    assert "warn" in verdicts and verdicts.count("ok") < 200


def test_flood_gate_memory_is_bounded() -> None:
    gate = FloodGate(limit=5, window=60, max_users=100)
    for user in range(1000):
        gate.check(user, float(user))
    assert len(gate) <= 100
    with pytest.raises(ValueError):
        FloodGate(limit=0)


def entry(n: int, headline: str) -> Entry:
    return Entry(headline, f"Title {n}", f"https://arxiv.org/abs/2401.{n:05d}", "2024-W01", True)


@pytest.mark.parametrize("headline", ["a <b> & c " * 60, "😀" * 400, "模型" * 300])
def test_rendered_lists_stay_within_one_message(headline: str) -> None:
    entries = [entry(n, headline) for n in range(1, 200)]
    view = WeekView("2024-W01", "T <x>", "https://e.org/1", entries, entries, "2023-W52", None)
    page = SearchPage("q <&>", [], 1, 5, False, False, False)
    for t in (EN, ZH):
        for html_text in (render.week(view, t), render.entries("Picks", entries, t)):
            parsed = parse_html(html_text)
            units = len(parsed.text.encode("utf-16-le")) // 2
            assert 3000 < units <= render.MAX_UNITS
            assert t.more.split("{")[0] in parsed.text
        assert parse_html(render.search(page, t)).text.endswith(("q <&>.", "q <&>。"))


def test_link_labels() -> None:
    assert render.link_label("https://arxiv.org/abs/2009.05697v2") == "arXiv:2009.05697"
    assert render.link_label("https://arxiv.org/pdf/2009.05697.pdf") == "arXiv:2009.05697"
    assert render.link_label("https://www.example.org/a?b=c") == "example.org"


def test_unsafe_urls_are_not_links() -> None:
    bad = Entry("h", None, "javascript:alert(1)", "2024-W01", False)
    text = render.entries("Picks", [bad], EN)
    assert "<a " not in text and "javascript" not in text
