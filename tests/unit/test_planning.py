"""Tests for bot.domain.planning: candidate ordering and queue edits."""

from __future__ import annotations

import random

import pytest

from bot.domain.model import Section
from bot.domain.planning import (
    Candidate,
    QueueEditError,
    order_candidates,
    reorder,
    shuffle,
    to_top,
)


def cand(
    ref: str,
    section: Section,
    position: int,
    *,
    paper: str | None = "",
    pick: bool = False,
    issue: str = "2026-W01",
) -> Candidate[str]:
    """A candidate whose item_ref is ``ref``; paper defaults to ``"p:" + ref``."""
    return Candidate(
        paper=f"p:{ref}" if paper == "" else paper,
        section=section,
        pick=pick,
        position=position,
        issue_key=issue,
        item_ref=ref,
    )


def refs(cands: list[Candidate[str]]) -> list[str]:
    return [c.item_ref for c in cands]


# --------------------------------------------------------------------------- ordering


def test_interleaving_order_exact() -> None:
    cands = [
        cand("P1", "papers", 1),
        cand("P2", "papers", 2),
        cand("P3", "papers", 3),
        cand("A1", "articles", 4),
        cand("A2", "articles", 5),
        cand("U1", "use_cases", 6),
        cand("O1", "other", 7),
        cand("O2", "other", 8),
        cand("O3", "other", 9),
        cand("O4", "other", 10),
    ]
    got = order_candidates(cands, known_papers=())
    assert refs(got) == ["P1", "A1", "U1", "O1", "P2", "A2", "O2", "P3", "O3", "O4"]


def test_input_order_does_not_matter_within_issue() -> None:
    cands = [
        cand("O1", "other", 7),
        cand("A1", "articles", 4),
        cand("P2", "papers", 2),
        cand("U1", "use_cases", 6),
        cand("P1", "papers", 1),
    ]
    assert refs(order_candidates(cands, known_papers=())) == ["P1", "A1", "U1", "O1", "P2"]
    assert refs(order_candidates(list(reversed(cands)), known_papers=())) == [
        "P1", "A1", "U1", "O1", "P2",
    ]  # fmt: skip


def test_picks_first_in_position_order() -> None:
    cands = [
        cand("P1", "papers", 1),
        cand("P2", "papers", 2, pick=True),
        cand("A1", "articles", 3, pick=True),
        cand("A2", "articles", 4),
        cand("O1", "other", 5, pick=True),
    ]
    got = order_candidates(cands, known_papers=())
    assert refs(got) == ["P2", "A1", "O1", "P1", "A2"]


def test_known_papers_dropped() -> None:
    cands = [cand("P1", "papers", 1), cand("P2", "papers", 2, pick=True), cand("A1", "articles", 3)]
    got = order_candidates(cands, known_papers={"p:P2", "p:A1", "p:unrelated"})
    assert refs(got) == ["P1"]


def test_duplicates_in_batch_first_occurrence_wins() -> None:
    cands = [
        cand("first", "papers", 3, paper="arxiv:2601.00001"),
        cand("other", "articles", 1),
        cand("second", "other", 2, paper="arxiv:2601.00001", pick=True),
    ]
    got = order_candidates(cands, known_papers=())
    assert refs(got) == ["first", "other"]
    assert got[0].section == "papers" and not got[0].pick


def test_dedupe_across_weekly_and_monthly_issue() -> None:
    weekly1 = [
        cand("w1-p", "papers", 1, paper="arxiv:1", issue="2026-W01"),
        cand("w1-a", "articles", 2, paper="https://a.example/1", issue="2026-W01"),
    ]
    weekly2 = [
        cand("w2-p", "papers", 1, paper="arxiv:2", issue="2026-W02", pick=True),
        cand("w2-u", "use_cases", 2, paper="https://u.example/2", issue="2026-W02"),
    ]
    monthly = [  # repeats weekly items, adds one new paper
        cand("m-p2", "papers", 1, paper="arxiv:2", issue="2026-01", pick=True),
        cand("m-p1", "papers", 2, paper="arxiv:1", issue="2026-01"),
        cand("m-new", "papers", 3, paper="arxiv:3", issue="2026-01"),
        cand("m-a", "articles", 4, paper="https://a.example/1", issue="2026-01"),
    ]
    got = order_candidates(weekly1 + weekly2 + monthly, known_papers=())
    assert refs(got) == ["w2-p", "w1-p", "w1-a", "w2-u", "m-new"]
    assert len({c.paper for c in got}) == len(got)


def test_issues_grouped_in_first_appearance_order_then_position() -> None:
    cands = [
        cand("b-p1", "papers", 1, issue="2026-W02"),
        cand("a-p1", "papers", 1, issue="2026-W01"),
        cand("b-p2", "papers", 2, issue="2026-W02"),
        cand("a-p2", "papers", 2, issue="2026-W01"),
        cand("a-x", "papers", 3, issue="2026-W01", pick=True),
        cand("b-x", "papers", 5, issue="2026-W02", pick=True),
    ]
    got = order_candidates(cands, known_papers=())
    assert refs(got) == ["b-x", "a-x", "b-p1", "b-p2", "a-p1", "a-p2"]


def test_unlinked_dropped_by_default() -> None:
    cands = [
        cand("P1", "papers", 1),
        cand("N1", "other", 2, paper=None),
        cand("N2", "articles", 3, paper=None),
    ]
    assert refs(order_candidates(cands, known_papers=())) == ["P1"]


def test_unlinked_kept_each_unique_when_included() -> None:
    cands = [
        cand("P1", "papers", 1),
        cand("N1", "other", 2, paper=None),
        cand("N2", "other", 3, paper=None),
        cand("N3", "articles", 4, paper=None),
    ]
    got = order_candidates(cands, known_papers=(), include_unlinked=True)
    assert refs(got) == ["P1", "N3", "N1", "N2"]


def test_empty_and_all_known() -> None:
    assert order_candidates([], known_papers=()) == []
    assert order_candidates([cand("P1", "papers", 1)], known_papers=["p:P1"]) == []


def test_deterministic_and_input_untouched() -> None:
    cands = [cand(f"X{i}", ("papers", "articles", "other")[i % 3], i) for i in range(1, 30)]
    before = list(cands)
    first = order_candidates(cands, known_papers=())
    assert order_candidates(cands, known_papers=()) == first
    assert cands == before
    assert sorted(refs(first)) == sorted(refs(cands))


def test_item_ref_generic_roundtrip() -> None:
    c: Candidate[int] = Candidate("arxiv:1", "papers", False, 1, "2026-W01", 42)
    assert [x.item_ref for x in order_candidates([c], known_papers=())] == [42]


# --------------------------------------------------------------------------- queue edits


def test_reorder_moves_to_position() -> None:
    ids = [10, 20, 30, 40]
    assert reorder(ids, 40, 1) == [40, 10, 20, 30]
    assert reorder(ids, 10, 4) == [20, 30, 40, 10]
    assert reorder(ids, 20, 3) == [10, 30, 20, 40]
    assert reorder(ids, 30, 2) == [10, 30, 20, 40]
    assert reorder(ids, 20, 2) == ids
    assert ids == [10, 20, 30, 40]


def test_reorder_single_item() -> None:
    assert reorder([7], 7, 1) == [7]


@pytest.mark.parametrize("position", [0, 5, -1])
def test_reorder_position_out_of_range(position: int) -> None:
    with pytest.raises(QueueEditError, match=rf"position {position} is out of range 1\.\.4"):
        reorder([1, 2, 3, 4], 2, position)


def test_reorder_unknown_id() -> None:
    with pytest.raises(QueueEditError, match="id 9 is not in the queue"):
        reorder([1, 2, 3], 9, 1)
    with pytest.raises(QueueEditError, match="id 1 is not in the queue"):
        reorder([], 1, 1)


def test_reorder_duplicate_ids_rejected() -> None:
    with pytest.raises(QueueEditError, match="duplicate"):
        reorder([1, 2, 1], 2, 1)


def test_queue_edit_error_is_value_error() -> None:
    assert issubclass(QueueEditError, ValueError)


def test_to_top() -> None:
    assert to_top([1, 2, 3], 3) == [3, 1, 2]
    assert to_top([1, 2, 3], 1) == [1, 2, 3]
    with pytest.raises(QueueEditError, match="id 4"):
        to_top([1, 2, 3], 4)


def test_shuffle_uses_rng_and_copies() -> None:
    ids = list(range(1, 21))
    a = shuffle(ids, random.Random(7))
    b = shuffle(ids, random.Random(7))
    expected = list(ids)
    random.Random(7).shuffle(expected)
    assert a == b == expected
    assert a != ids
    assert sorted(a) == ids
    assert ids == list(range(1, 21))


def test_shuffle_edge_cases() -> None:
    assert shuffle([], random.Random(1)) == []
    assert shuffle([5], random.Random(1)) == [5]
    assert shuffle((3, 1, 2), random.Random(1)) in (
        [1, 2, 3],
        [1, 3, 2],
        [2, 1, 3],
        [2, 3, 1],
        [3, 1, 2],
        [3, 2, 1],
    )
