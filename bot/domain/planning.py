"""Queue planning: which digest items to queue, in what order, and queue edits.

:func:`order_candidates` turns the items of one or more issues into a queue
order: one entry per paper, editor's picks first, then the sections
interleaved round-robin so the feed alternates papers, articles, use cases and
other items.  :func:`reorder`, :func:`to_top` and :func:`shuffle` edit an
existing queue given as a list of ids.  Pure functions, deterministic apart
from the caller-supplied random generator.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.domain.model import SECTIONS, Section

__all__ = [
    "Candidate",
    "QueueEditError",
    "order_candidates",
    "reorder",
    "shuffle",
    "to_top",
]

T = TypeVar("T")


class QueueEditError(ValueError):
    """A queue edit names an unknown id or a position out of range (the message says which)."""


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """One digest item that could be queued.

    ``position`` is the item's 1-based reading order within its issue;
    ``item_ref`` is handed back untouched (e.g. a database id).
    """

    paper: str | None
    section: Section
    pick: bool
    position: int
    issue_key: str
    item_ref: T


# --------------------------------------------------------------------------- ordering


def _dedupe(
    cands: Sequence[Candidate[T]], known_papers: Collection[str], include_unlinked: bool
) -> list[Candidate[T]]:
    """Keep the first candidate per paper, drop known papers and (maybe) unlinked items."""
    seen = set(known_papers)
    kept: list[Candidate[T]] = []
    for cand in cands:
        if cand.paper is None:
            if include_unlinked:
                kept.append(cand)
        elif cand.paper not in seen:
            seen.add(cand.paper)
            kept.append(cand)
    return kept


def _sorted_by_issue_then_position(cands: list[Candidate[T]]) -> list[Candidate[T]]:
    """Issues in order of first appearance, then position, then input order (stable sort)."""
    issue_rank: dict[str, int] = {}
    for cand in cands:
        issue_rank.setdefault(cand.issue_key, len(issue_rank))
    return sorted(cands, key=lambda c: (issue_rank[c.issue_key], c.position))


def _round_robin(cands: list[Candidate[T]]) -> list[Candidate[T]]:
    """Take one from each section in SECTIONS order per round until all are empty."""
    buckets = [[c for c in cands if c.section == s] for s in SECTIONS]
    out: list[Candidate[T]] = []
    for i in range(max((len(b) for b in buckets), default=0)):
        out.extend(b[i] for b in buckets if i < len(b))
    return out


def order_candidates(
    cands: Sequence[Candidate[T]],
    *,
    known_papers: Collection[str],
    include_unlinked: bool = False,
) -> list[Candidate[T]]:
    """Queue order for ``cands``.

    * One candidate per paper: the first occurrence in ``cands`` wins (its pick
      flag and section are the ones used); papers in ``known_papers`` (already
      queued or posted) are dropped.
    * Items without a paper are dropped, unless ``include_unlinked``: then each
      one is kept as its own entry.
    * Editor's picks come first, then the rest with sections interleaved
      round-robin in the order papers, articles, use_cases, other.
    * Within the picks and within a section: issues in order of first
      appearance in ``cands``, then by position, then input order.
    """
    ordered = _sorted_by_issue_then_position(_dedupe(cands, known_papers, include_unlinked))
    picks = [c for c in ordered if c.pick]
    rest = [c for c in ordered if not c.pick]
    return picks + _round_robin(rest)


# --------------------------------------------------------------------------- queue edits


def _check_ids(ids: Sequence[int], item_id: int) -> None:
    if len(set(ids)) != len(ids):
        raise QueueEditError("queue has duplicate ids")
    if item_id not in ids:
        raise QueueEditError(f"id {item_id} is not in the queue")


def reorder(ids: Sequence[int], move_id: int, position: int) -> list[int]:
    """Move ``move_id`` to 1-based ``position`` (1..len(ids)); returns a new list."""
    _check_ids(ids, move_id)
    if not 1 <= position <= len(ids):
        raise QueueEditError(f"position {position} is out of range 1..{len(ids)}")
    out = [i for i in ids if i != move_id]
    out.insert(position - 1, move_id)
    return out


def to_top(ids: Sequence[int], item_id: int) -> list[int]:
    """Move ``item_id`` to the front of the queue; returns a new list."""
    return reorder(ids, item_id, 1)


def shuffle(ids: Sequence[int], rng: random.Random) -> list[int]:
    """A shuffled copy of ``ids`` using ``rng`` (the input is not modified)."""
    out = list(ids)
    rng.shuffle(out)
    return out
