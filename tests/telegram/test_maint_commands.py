"""Every maintainer command through the real Application and the strict fake Bot API:
the same service functions as the CLI, hostile arguments, audit entries and undo."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import Settings
from bot.sandbox import TelegramState, running
from bot.sandbox.arxiv_api import ArxivState, make_arxiv_app
from bot.sandbox.clock import FakeClock
from bot.services import pauses
from bot.services.compose import compose_post
from bot.telegram.maintainer import commands, keyboards
from bot.telegram.maintainer.texts import MAINT_EN, MAINT_ZH
from tests.telegram.conftest import HOSTILE_HEADLINE
from tests.telegram.maint_support import (
    MAINTAINER,
    MaintHarness,
    audit_count,
    maint_harness,
    maint_settings,
    posts_snapshot,
)

#: tests drive the Application without starting it; background releases are awaited with
#: ``commands.settle()`` instead
pytestmark = pytest.mark.filterwarnings("ignore:Tasks created via:UserWarning")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "digests"
NEW_PAPER = "https://arxiv.org/abs/2604.01234"


@pytest.fixture
def arxiv_state() -> ArxivState:
    return ArxivState(
        papers={
            "2604.01234": (
                "Tiny <b>models</b> & big data",
                "We train tiny models on big data. Then we measure things.",
            )
        }
    )


@pytest.fixture
async def arxiv_url(arxiv_state: ArxivState) -> AsyncIterator[str]:
    async with running(make_arxiv_app(arxiv_state)) as url:
        yield url


@pytest.fixture
def settings(db_url: str, arxiv_url: str) -> Settings:
    return maint_settings(db_url, arxiv_url)


@pytest.fixture
async def queued(archive: Container) -> Container:
    await archive.queue.enqueue_issues(["2026-W07", "2026-W08", "2026-W09"])
    return archive


@pytest.fixture
async def maint(
    queued: Container, telegram_state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> AsyncIterator[MaintHarness]:
    async with maint_harness(queued, telegram_state, fake_clock, clock) as h:
        yield h


async def _order(app: Container) -> list[int]:
    view = await app.queue.view(None)
    return [p.id for p in view.posts if p.kind == "paper"]


# --- /queue and its buttons -----------------------------------------------------------------


async def test_queue_shows_slots_papers_picks_weights_and_cost(
    maint: MaintHarness, queued: Container
) -> None:
    await maint.maint("/queue")
    [shown] = maint.replies(MAINTAINER)
    text = shown.visible_text
    view = await queued.queue.view(5)
    assert text.startswith(f"Queue · {view.total} open posts · page 1/")
    assert "Expected X:" in text and "posts/month" in text
    first = view.posts[0]
    assert f"1. #{first.id}" in text
    assert "arXiv:" in text and "X " in text and "/280" in text
    assert "⭐" in text  # picks come first
    labels = maint.buttons(shown)
    assert labels[f"Edit #{first.id}"] == keyboards.queue_data("edit", first.id, 1)
    assert labels["Next »"] == keyboards.queue_data("page", 0, 2)
    assert {"Up", "Down", "Top", "Now", "Drop"} <= set(labels)
    assert all(len(d.encode()) <= 64 for d in labels.values())


async def test_queue_pages_forward_and_back(maint: MaintHarness, queued: Container) -> None:
    await maint.maint("/queue")
    shown = maint.last(MAINTAINER)
    await maint.press(shown, maint.buttons(shown)["Next »"], user=MAINTAINER)
    edited = maint.last(MAINTAINER)
    assert edited.message_id == shown.message_id and "page 2/" in edited.visible_text
    assert "6. #" in edited.visible_text
    await maint.press(edited, maint.buttons(edited)["« Prev"], user=MAINTAINER)
    assert "page 1/" in maint.last(MAINTAINER).visible_text
    await maint.maint("/queue 999")  # past the end: the last page
    assert "Next »" not in maint.buttons(maint.last(MAINTAINER))


async def test_queue_buttons_move_drop_and_top(maint: MaintHarness, queued: Container) -> None:
    order = await _order(queued)
    await maint.maint("/queue")
    shown = maint.last(MAINTAINER)
    await maint.press(shown, keyboards.queue_data("down", order[0], 1), user=MAINTAINER)
    assert (await _order(queued))[:2] == [order[1], order[0]]
    await maint.press(shown, keyboards.queue_data("up", order[0], 1), user=MAINTAINER)
    assert (await _order(queued))[:2] == order[:2]
    await maint.press(shown, keyboards.queue_data("top", order[3], 1), user=MAINTAINER)
    assert (await _order(queued))[0] == order[3]
    await maint.press(shown, keyboards.queue_data("drop", order[1], 1), user=MAINTAINER)
    assert order[1] not in await _order(queued)
    answers = [a.get("text") for a in maint.answers()]
    assert answers[-1] == MAINT_EN.dropped.format(id=order[1])
    assert f"#{order[1]}" not in maint.last(MAINTAINER).visible_text  # redrawn in place
    entries = await queued.audit.recent(10)
    assert [e.verb for e in entries[:4]] == ["drop", "top", "up", "down"]
    assert all(e.actor_id == MAINTAINER for e in entries[:4])


async def test_edit_button_shows_the_text_to_change(maint: MaintHarness, queued: Container) -> None:
    [first, *_] = await _order(queued)
    await maint.maint("/queue")
    await maint.press(
        maint.last(MAINTAINER), keyboards.queue_data("edit", first, 1), user=MAINTAINER
    )
    hint = maint.last(MAINTAINER)
    assert hint.visible_text.startswith(MAINT_EN.edit_hint.format(id=first))
    assert f"/edit {first} " in hint.visible_text
    assert any(e["type"] == "code" for e in hint.entities)


# --- queue verbs ----------------------------------------------------------------------------


async def test_edit_drop_move_top_shuffle_pause_resume(
    maint: MaintHarness, queued: Container
) -> None:
    order = await _order(queued)
    await maint.maint(f"/edit {order[0]} A <b>new</b> comment & more")
    view = await queued.queue.view(None)
    assert next(p for p in view.posts if p.id == order[0]).text == "A <b>new</b> comment & more"
    await maint.maint(f"/move {order[2]} 1")
    assert (await _order(queued))[0] == order[2]
    await maint.maint(f"/top {order[4]}")
    assert (await _order(queued))[0] == order[4]
    await maint.maint(f"/drop {order[5]}")
    assert order[5] not in await _order(queued)
    await maint.maint("/shuffle")
    assert sorted(await _order(queued)) == sorted(o for o in order if o != order[5])
    await maint.maint("/pause")
    assert (await queued.queue.view(1)).paused
    await maint.maint("/resume")
    assert not (await queued.queue.view(1)).paused
    assert maint.texts() == [
        MAINT_EN.done,
        MAINT_EN.moved.format(id=order[2], pos=1),
        MAINT_EN.topped.format(id=order[4]),
        MAINT_EN.dropped.format(id=order[5]),
        MAINT_EN.shuffled,
        MAINT_EN.paused,
        MAINT_EN.resumed,
    ]
    verbs = [e.verb for e in await queued.audit.recent(7)]
    assert verbs == ["resume", "pause", "shuffle", "drop", "top", "move", "edit"]


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("/drop", "drop"),
        ("/drop abc", "drop"),
        ("/drop -1", "drop"),
        ("/drop 0", "drop"),
        ("/drop 1 2", "drop"),
        ("/edit 1", "edit"),
        ("/edit x text", "edit"),
        ("/move 1", "move"),
        ("/move 1 two", "move"),
        ("/top", "top"),
        ("/now", "now"),
        ("/preview <b>", "preview"),
        ("/audit 1000", "audit"),
        ("/queue x", "queue"),
        ("/slots 9am", "slots"),
        ("/add", "add"),
    ],
)
async def test_malformed_arguments_get_the_usage_line(
    maint: MaintHarness, queued: Container, command: str, usage: str
) -> None:
    before, audited = await posts_snapshot(queued), await audit_count(queued)
    await maint.maint(command)
    assert maint.texts() == [MAINT_EN.usage[usage]]
    assert await posts_snapshot(queued) == before and await audit_count(queued) == audited


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/drop 99999", "no post with id 99999"),
        ("/edit 99999 text", "no post with id 99999"),
        ("/move 99999 1", "no post with id 99999"),
        ("/top 99999", "no post with id 99999"),
        ("/preview 99999", "99999"),
    ],
)
async def test_unknown_ids_are_one_clear_line(
    maint: MaintHarness, queued: Container, command: str, expected: str
) -> None:
    before = await posts_snapshot(queued)
    await maint.maint(command)
    [answer] = maint.texts()
    assert expected in answer and "\n" not in answer
    assert await posts_snapshot(queued) == before


async def test_hostile_positions_and_texts_change_nothing(
    maint: MaintHarness, queued: Container
) -> None:
    order = await _order(queued)
    before, audited = await posts_snapshot(queued), await audit_count(queued)
    await maint.maint(f"/move {order[0]} -3")
    await maint.maint(f"/move {order[0]} 0")
    await maint.maint(f"/edit {order[0]} " + "x" * 100_000)
    await maint.maint(f"/add {NEW_PAPER} " + "y" * 100_000)
    answers = maint.texts()
    assert len(answers) == 4 and all(len(a) < 400 for a in answers)
    assert "too long" in answers[2] and "too long" in answers[3]
    assert await posts_snapshot(queued) == before and await audit_count(queued) == audited


async def test_html_in_a_comment_is_stored_raw_and_shown_escaped(
    maint: MaintHarness, queued: Container
) -> None:
    await maint.maint(f"/add {NEW_PAPER} {HOSTILE_HEADLINE}")
    [added] = maint.texts()
    post_id = int(added.removeprefix("Queued post ").rstrip("."))
    await maint.maint(f"/queue {len(await _order(queued)) // 5 + 1}")
    shown = maint.last(MAINTAINER)
    assert HOSTILE_HEADLINE in shown.visible_text
    assert "<script>" not in shown.text
    [entry] = await queued.audit.recent(1)
    assert entry.verb == "add" and entry.post_id == post_id and entry.actor_id == MAINTAINER


# --- /add with a proposal -------------------------------------------------------------------


async def test_add_proposes_a_comment_from_arxiv_and_adds_on_confirm(
    maint: MaintHarness, queued: Container, arxiv_state: ArxivState
) -> None:
    before = await posts_snapshot(queued)
    await maint.maint(f"/add {NEW_PAPER}")
    proposal = maint.last(MAINTAINER)
    assert "Tiny <b>models</b> & big data" in proposal.visible_text
    assert "We train tiny models on big data." in proposal.visible_text
    assert arxiv_state.requests == ["2604.01234"]
    assert await posts_snapshot(queued) == before  # nothing until confirmed
    buttons = maint.buttons(proposal)
    await maint.press(proposal, buttons["Add"], user=MAINTAINER)
    done = maint.last(MAINTAINER)
    assert done.message_id == proposal.message_id and done.visible_text.startswith("Queued post")
    assert len(await posts_snapshot(queued)) == len(before) + 1
    await maint.press(proposal, buttons["Add"], user=MAINTAINER)  # twice: stale, no copy
    assert maint.answers()[-1]["text"] == MAINT_EN.stale
    assert len(await posts_snapshot(queued)) == len(before) + 1


async def test_add_cancel_adds_nothing(maint: MaintHarness, queued: Container) -> None:
    before = await posts_snapshot(queued)
    await maint.maint(f"/add {NEW_PAPER}")
    proposal = maint.last(MAINTAINER)
    await maint.press(proposal, maint.buttons(proposal)["Cancel"], user=MAINTAINER)
    assert maint.last(MAINTAINER).visible_text == MAINT_EN.cancelled
    assert await posts_snapshot(queued) == before


async def test_add_warns_when_the_paper_is_already_queued(
    maint: MaintHarness, queued: Container
) -> None:
    before = await posts_snapshot(queued)
    await maint.maint("/add https://arxiv.org/abs/2009.05697 Again")
    [refused] = maint.texts()
    assert refused.startswith(MAINT_EN.refused) and MAINT_EN.warnings in refused
    assert await posts_snapshot(queued) == before


@pytest.mark.parametrize("mode", ["503", "malformed"])
async def test_add_says_when_arxiv_cannot_answer(
    maint: MaintHarness, queued: Container, arxiv_state: ArxivState, mode: str
) -> None:
    arxiv_state.mode = mode  # type: ignore[assignment]
    before = await posts_snapshot(queued)
    await maint.maint(f"/add {NEW_PAPER}")
    [answer] = maint.texts()
    assert "arXiv" in answer and "\n" not in answer
    assert await posts_snapshot(queued) == before
    await maint.maint(f"/add {NEW_PAPER} My own comment")  # a comment needs no arXiv
    assert maint.texts()[-1].startswith("Queued post")


# --- undo and audit -------------------------------------------------------------------------


async def test_undo_reverts_the_last_change_and_audit_lists_it(
    maint: MaintHarness, queued: Container
) -> None:
    order = await _order(queued)
    await maint.maint(f"/move {order[3]} 1")
    await maint.maint("/undo")
    assert await _order(queued) == order
    assert "move" in maint.texts()[-1]
    await maint.maint("/audit")
    log = maint.texts()[-1]
    assert log.startswith(MAINT_EN.audit_heading)
    assert "undo" in log and f"move post {order[3]}" in log and str(MAINTAINER) in log


async def test_undo_with_nothing_to_undo_and_an_empty_audit_log(
    archive: Container, telegram_state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> None:
    async with maint_harness(archive, telegram_state, fake_clock, clock) as maint:
        await maint.maint("/undo")
        await maint.maint("/audit 5")
        undo, audit = maint.texts()
    assert "nothing" in undo.lower() and "\n" not in undo
    assert audit == MAINT_EN.audit_empty


# --- /slots ---------------------------------------------------------------------------------


async def test_slots_view_change_by_command_and_buttons(
    maint: MaintHarness, queued: Container
) -> None:
    await maint.maint("/slots")
    shown = maint.last(MAINTAINER)
    assert shown.visible_text.startswith(MAINT_EN.slots_heading)
    assert MAINT_EN.slots_config in shown.visible_text
    await maint.maint("/slots 10:00 15:30")
    assert (await queued.queue.slots()).times == ["10:00", "15:30"]
    changed = maint.last(MAINTAINER)
    assert (
        "10:00 15:30" in changed.visible_text and MAINT_EN.slots_overridden in changed.visible_text
    )
    days = (await queued.queue.slots()).days
    await maint.press(changed, keyboards.slots_data("day", days[0]), user=MAINTAINER)
    assert days[0] not in (await queued.queue.slots()).days
    await maint.press(changed, keyboards.slots_data("preset", "1"), user=MAINTAINER)
    assert (await queued.queue.slots()).times == list(keyboards.SLOT_PRESETS[1])
    await maint.press(changed, keyboards.slots_data("reset"), user=MAINTAINER)
    assert not (await queued.queue.slots()).overridden
    assert [e.verb for e in await queued.audit.recent(4)] == ["slots"] * 4


# --- /preview -------------------------------------------------------------------------------


async def test_preview_shows_the_exact_tweet_and_telegram_message(
    maint: MaintHarness, queued: Container
) -> None:
    [first, *_] = await _order(queued)
    await maint.maint(f"/preview {first}")
    x_part, telegram_part = maint.replies(MAINTAINER)
    async with queued.sessions() as session:
        outgoing = await compose_post(session, first, queued.settings)
    assert outgoing is not None and outgoing.x_text is not None
    assert x_part.visible_text.startswith("X (") and "/280, valid" in x_part.visible_text
    assert outgoing.x_text in x_part.visible_text
    assert telegram_part.text == outgoing.telegram.text
    assert telegram_part.parse_mode == outgoing.telegram.parse_mode


# --- /import --------------------------------------------------------------------------------


async def test_import_an_uploaded_file_then_enqueue_and_plan(
    maint: MaintHarness, queued: Container
) -> None:
    content = (FIXTURES / "english_weekly.md").read_bytes()
    await maint.upload(content, "week41.md", caption="/import")
    summary = maint.last(MAINTAINER)
    assert "getFile" in maint.state.calls
    assert "import: 1 added" in summary.visible_text and "2020-W41" in summary.visible_text
    buttons = maint.buttons(summary)
    before = len(await _order(queued))
    await maint.press(summary, buttons["Enqueue new papers 2020-W41"], user=MAINTAINER)
    assert len(await _order(queued)) > before
    await maint.press(summary, buttons["Plan weekly post 2020-W41"], user=MAINTAINER)
    view = await queued.queue.view(None)
    assert any(p.kind == "digest" and p.issue == "2020-W41" for p in view.posts)
    assert [e.verb for e in await queued.audit.recent(2)] == ["enqueue", "enqueue"]


async def test_import_from_a_url(maint: MaintHarness) -> None:
    content = (FIXTURES / "english_weekly.md").read_text(encoding="utf-8")
    site = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=content, content_type="text/markdown")

    site.router.add_get("/week41.md", page)
    async with running(site) as url:
        await maint.maint(f"/import {url}/week41.md")
    summary = maint.last(MAINTAINER)
    assert "2020-W41" in summary.visible_text
    assert "Plan weekly post 2020-W41" in maint.buttons(summary)


async def test_import_a_file_without_caption_from_a_maintainer(maint: MaintHarness) -> None:
    content = (FIXTURES / "english_weekly.md").read_bytes()
    await maint.upload(content, "week41.txt")
    assert "import: 1 added" in maint.last(MAINTAINER).visible_text


async def test_import_refuses_other_files(maint: MaintHarness) -> None:
    await maint.upload(b"\x89PNG", "chart.png", caption="/import")
    await maint.upload(b"x" * (3 * 1024 * 1024), "huge.md", caption="/import")
    await maint.maint("/import")
    assert maint.texts() == [
        MAINT_EN.import_bad_file.format(name="chart.png"),
        MAINT_EN.import_too_big.format(limit=2048),
        MAINT_EN.import_prompt,
    ]
    assert "getFile" not in maint.state.calls


async def test_import_a_file_that_is_not_a_digest(maint: MaintHarness) -> None:
    content = (FIXTURES / "not_a_digest.md").read_bytes()
    await maint.upload(content, "notes.md", caption="/import")
    [answer] = maint.texts()
    assert len(answer) < 1000


# --- /status /stats /now --------------------------------------------------------------------


async def test_status_with_a_button_to_resume_a_paused_platform(
    maint: MaintHarness, queued: Container, clock: FrozenClock
) -> None:
    await queued.queue.set_paused(True)
    async with queued.sessions.begin() as session:
        until = clock() + timedelta(hours=2)
        await pauses.set_pause(session, "x", until, "X rejected the credentials", clock())
    await maint.maint("/status")
    shown = maint.last(MAINTAINER)
    assert shown.visible_text.startswith(MAINT_EN.status_heading)
    assert "X rejected the credentials" in shown.visible_text
    buttons = maint.buttons(shown)
    assert buttons == {
        "Resume the queue": keyboards.resume_data("queue"),
        "Resume x": keyboards.resume_data("x"),
    }
    await maint.press(shown, buttons["Resume x"], user=MAINTAINER)
    async with queued.sessions() as session:
        assert await pauses.active_pauses(session, clock()) == []
    redrawn = maint.last(MAINTAINER)
    assert maint.buttons(redrawn) == {"Resume the queue": keyboards.resume_data("queue")}
    await maint.press(redrawn, keyboards.resume_data("queue"), user=MAINTAINER)
    assert not (await queued.queue.view(1)).paused


async def test_stats_sends_a_png_chart_with_the_figures(maint: MaintHarness) -> None:
    await maint.maint("/stats")
    [chart] = maint.replies(MAINTAINER)
    assert chart.kind == "photo" and chart.params["photo"].startswith("<upload:")
    assert chart.visible_text.startswith(MAINT_EN.stats_caption)
    assert "subscribers:" in chart.visible_text and "X spend this month" in chart.visible_text


async def test_now_without_a_destination_changes_nothing(
    maint: MaintHarness, queued: Container
) -> None:
    [first, *_] = await _order(queued)
    before = await posts_snapshot(queued)
    await maint.maint(f"/now {first}")
    await commands.settle()
    sending, answer = maint.texts()
    assert sending == MAINT_EN.sending.format(id=first)
    assert "no destination is configured" in answer
    assert await posts_snapshot(queued) == before


async def test_now_sends_at_once_by_command_and_by_button(
    maint: MaintHarness, queued: Container
) -> None:
    queued.platforms.rehearse()  # console publishers: what would be sent is printed
    first, second, *_ = await _order(queued)
    await maint.maint(f"/now {first}")
    await commands.settle()
    report = maint.last(MAINTAINER).visible_text
    assert report.startswith(f"Post {first}:") and f"post {first} sent to x" in report
    await maint.maint("/queue")
    shown = maint.last(MAINTAINER)
    assert f"#{first} " not in shown.visible_text
    await maint.press(shown, keyboards.queue_data("now", second, 1), user=MAINTAINER)
    assert maint.answers()[-1]["text"] == MAINT_EN.sending.format(id=second)
    await commands.settle()
    assert f"post {second} sent to x" in maint.replies(MAINTAINER)[-1].visible_text
    assert [e.verb for e in await queued.audit.recent(2)] == ["now", "now"]


# --- languages and the command menu ---------------------------------------------------------


async def test_replies_follow_the_maintainers_language(maint: MaintHarness) -> None:
    await maint.maint("/pause", lang="zh")
    assert maint.texts() == [MAINT_ZH.paused]


async def test_maintainer_commands_are_published_to_their_chats_only(
    maint: MaintHarness,
) -> None:
    from bot.telegram import publish_commands

    maint.state.start(MAINTAINER)
    await publish_commands(maint.application.bot, [MAINTAINER])
    default = {c["command"] for c in maint.state.commands}
    assert "queue" not in default and "week" in default
    scoped = maint.state.scoped_commands
    key = json.dumps({"chat_id": MAINTAINER, "type": "chat"}, sort_keys=True)
    english, chinese = scoped[(key, "")], scoped[(key, "zh")]
    assert {"queue", "add", "audit", "week"} <= {c["command"] for c in english}
    assert any("维护" in c["description"] for c in chinese)
