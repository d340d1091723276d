"""The audit log: every queue change records who, what, before and after, in the same
transaction; slots stored in the database; ``digestbot queue audit|slots|undo``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import Container
from bot.cli import main
from bot.clock import FrozenClock
from bot.services.audit import Actor
from bot.services.queue import QueueError
from bot.services.slots import SlotsError
from tests.builders import item, store, weekly

W10 = weekly(
    "2026-W10",
    [item(i, f"Comment {i}.", arxiv=f"2601.{i:05d}") for i in range(1, 6)],
)
ALICE = Actor.telegram(111, "Alice  Liddell")


async def seeded(app: Container) -> list[int]:
    await store(app, W10)
    return (await app.queue.enqueue_issues(["2026-W10"], actor=ALICE)).papers


async def order(app: Container) -> list[int]:
    return [p.id for p in (await app.queue.view()).posts if p.kind == "paper"]


async def test_every_verb_is_recorded_with_actor_and_before_after(app: Container) -> None:
    ids = await seeded(app)
    q = app.queue
    added = await q.add("https://arxiv.org/abs/2602.00001", "A new paper.", actor=ALICE)
    await q.edit(ids[0], "Better words.", actor=ALICE)
    await q.move(ids[2], 1, actor=ALICE)
    await q.top(ids[4], actor=ALICE)
    await q.up(ids[3], actor=ALICE)
    await q.down(ids[3])
    await q.shuffle(actor=ALICE)
    await q.make_due(ids[1], actor=ALICE)
    await q.remove(added, actor=ALICE)
    await q.set_paused(True, actor=ALICE)
    await q.set_paused(False, actor=ALICE)
    await q.set_slots(["10:00", "18:00"], actor=ALICE)
    entries = await app.audit.recent(50)
    verbs = [e.verb for e in reversed(entries)]
    assert verbs[:7] == ["enqueue", "add", "edit", "move", "top", "up", "down"]
    assert verbs[-5:] == ["now", "drop", "pause", "resume", "slots"]
    assert "shuffle" in verbs or len(ids) < 2  # a shuffle that changes nothing is not recorded
    by_verb = {e.verb: e for e in entries}
    edit, move, add, slots = by_verb["edit"], by_verb["move"], by_verb["add"], by_verb["slots"]
    assert edit.before == {"text": "Comment 1."} and edit.after == {"text": "Better words."}
    assert (move.before or {})["position"] == 3 and (move.after or {})["position"] == 1
    assert add.post_id == added and (add.after or {})["paper"] == "arxiv:2602.00001"
    assert (slots.after or {})["times"] == ["10:00", "18:00"]
    assert by_verb["edit"].actor == "Alice Liddell" and by_verb["edit"].actor_id == 111
    assert by_verb["down"].actor.startswith("cli:") and by_verb["down"].actor_id is None
    assert "Alice Liddell (111) edit post" in by_verb["edit"].summary()


async def test_a_failed_change_writes_no_entry(app: Container) -> None:
    ids = await seeded(app)
    before = len(await app.audit.recent())
    for position in (99, 0, -1, -(2**70)):
        with pytest.raises(QueueError, match="out of range"):
            await app.queue.move(ids[0], position, actor=ALICE)
    with pytest.raises(QueueError):
        await app.queue.edit(ids[0], "x" * 100_000, actor=ALICE)  # 100 KB comment
    with pytest.raises(QueueError):
        await app.queue.edit(-1, "text", actor=ALICE)
    with pytest.raises(QueueError):
        await app.queue.top(2**70, actor=ALICE)
    assert len(await app.audit.recent()) == before


async def test_html_and_long_names_are_stored_verbatim_and_bounded(app: Container) -> None:
    ids = await seeded(app)
    hostile = Actor.telegram(5, "<b>boss</b>" + "x" * 500)
    await app.queue.edit(ids[0], "<script>alert(1)</script> & more", actor=hostile)
    (last,) = await app.audit.recent(1)
    assert last.after == {"text": "<script>alert(1)</script> & more"}
    assert last.actor.startswith("<b>boss</b>") and len(last.actor) <= 160


async def test_slots_override_is_stored_and_reslots_the_queue(
    app: Container, clock: FrozenClock
) -> None:
    await seeded(app)
    view = await app.queue.slots()
    assert view.times == ["09:00", "13:00", "19:00"] and not view.overridden
    changed = await app.queue.set_slots(["7:30"], ["mon", "wed"], actor=ALICE)
    assert changed.times == ["07:30"] and changed.days == ["mon", "wed"] and changed.overridden
    local = [
        p.slot.astimezone(ZoneInfo("Asia/Tokyo"))
        for p in (await app.queue.view()).posts
        if p.kind == "paper" and p.slot
    ]
    assert len(local) == len(W10.items)
    assert {(t.hour, t.minute) for t in local} == {(7, 30)}
    assert {t.isoweekday() for t in local} <= {1, 3}
    # another process (a new container) reads the override from the database
    again = await app.queue.slots()
    assert again.times == ["07:30"] and again.overridden
    reset = await app.queue.reset_slots(actor=ALICE)
    assert reset.times == ["09:00", "13:00", "19:00"] and not reset.overridden


@pytest.mark.parametrize(
    ("times", "days"),
    [([], None), (["25:00"], None), (["09:00"], ["funday"]), (["<b>9</b>"], None),
     ([f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)], None)],
)  # fmt: skip
async def test_bad_slots_are_refused_and_change_nothing(
    app: Container, times: list[str], days: list[str] | None
) -> None:
    with pytest.raises(SlotsError):
        await app.queue.set_slots(times, days, actor=ALICE)
    assert not (await app.queue.slots()).overridden
    assert await app.audit.recent() == []


def test_cli_audit_slots_and_undo(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    assert main(["queue", "slots", "--set", "08:15,20:45", "--days", "sat,sun", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["times"] == ["08:15", "20:45"] and data["source"] == "database"
    assert main(["queue", "slots", "--set", "99:99"]) == 1
    assert "time out of range" in capsys.readouterr().err
    assert main(["queue", "audit", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["entries"]
    assert entry["verb"] == "slots" and entry["actor"].startswith("cli:")
    assert main(["queue", "undo"]) == 0
    assert "undid slots" in capsys.readouterr().out
    assert main(["queue", "slots"]) == 0
    assert "from the config" in capsys.readouterr().out
    assert main(["queue", "undo"]) == 1
    assert "nothing to undo" in capsys.readouterr().err
    assert main(["queue", "audit"]) == 0
    out = capsys.readouterr().out
    assert "undo #1" in out and "(undone)" in out


async def test_audit_time_is_the_clock(app: Container, clock: FrozenClock) -> None:
    await seeded(app)
    (entry,) = await app.audit.recent()
    assert entry.at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_cli_resume_one_platform_and_up_down(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    assert main(["queue", "resume", "--platform", "telegram"]) == 0
    with pytest.raises(SystemExit) as exited:  # argparse: exit 2 with the choices
        main(["queue", "resume", "--platform", "myspace"])
    assert exited.value.code == 2
    assert main(["queue", "up", "-3"]) == 1
    assert main(["queue", "down", "12"]) == 1
    err = capsys.readouterr().err
    assert "no post with id -3" in err and "no post with id 12" in err
    assert main(["queue", "audit", "--limit", "5", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["entries"]
    assert entry["verb"] == "resume" and entry["after"] == {"platform": "telegram"}
