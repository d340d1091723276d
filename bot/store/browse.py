"""Browsing the archive (SELECTs only): one issue with its neighbours, its picks, the papers
dripped in a period, recent picks. Never commits; one statement per function.

Synchronous, on a Core connection (plain SELECTs: the ORM session's bookkeeping per statement
cost more than the SQL); the service runs a whole read in one worker-thread hop, much cheaper
per command than awaiting each statement through the async driver. Every statement is built
once, with bound parameters, and reused: building and keying SQLAlchemy statements cost more
CPU per command than running them."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, get_args

from sqlalchemy import Select, String, bindparam, case, exists, func, literal, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from bot.domain.model import IssueKind
from bot.store.models import Delivery, Issue, Item, Post

#: a post counts for a week when a delivery was sent in it; its slot is at most this much older
SEND_DELAY_MARGIN = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class IssueRow:
    id: int
    key: str
    kind: str
    language: str
    title: str
    url: str | None
    prev_key: str | None  # the neighbouring issues of the same kind in the archive
    next_key: str | None


@dataclass(frozen=True, slots=True)
class EntryRow:
    headline: str
    title: str | None
    url: str | None
    issue: str
    pick: bool


def _preferred_language(issue: Any = Issue) -> list[Any]:
    """Order by: the wanted language first (``:lang``; NULL: no preference), then the first
    imported."""
    wanted = case((issue.language == bindparam("lang", type_=String()), 0), else_=1)
    return [wanted, issue.imported_at, issue.id]


def _with_neighbours(stmt: Select[Any]) -> Select[Any]:
    other = aliased(Issue)
    before = (
        select(other.key)
        .where(other.kind == Issue.kind, other.start_date < Issue.start_date)
        .order_by(other.start_date.desc(), other.id)
        .limit(1)
        .correlate(Issue)
        .scalar_subquery()
    )
    after = (
        select(other.key)
        .where(other.kind == Issue.kind, other.start_date > Issue.start_date)
        .order_by(other.start_date, other.id)
        .limit(1)
        .correlate(Issue)
        .scalar_subquery()
    )
    return stmt.with_only_columns(
        Issue.id,
        Issue.key,
        Issue.kind,
        Issue.language,
        Issue.title,
        Issue.url,
        before.label("prev_key"),
        after.label("next_key"),
    )


def _newest_first(choice: Select[int]) -> Select[int]:
    return choice.order_by(Issue.end_date.desc(), Issue.start_date.desc(), *_preferred_language())


@functools.cache
def _find_statement(n_keys: int, n_kinds: int) -> Select[Any]:
    """n_keys 0: the newest issue of the kinds ``:kind0``..; n: the first of ``:k0``.. that
    exists. The chosen id is a scalar subquery, so that the neighbours are looked up for the
    one row only (in the ORDER BY ... LIMIT query itself SQLite works out both correlated
    subqueries for every candidate row: quadratic in the issues)."""
    if n_keys == 0:
        # the newest of each kind, then the newest of those: each part can walk an index on
        # (kind, end_date) backwards, which one "kind IN (...)" ordered by date cannot
        newest = [
            _newest_first(
                select(Issue.id).where(Issue.kind == bindparam(f"kind{i}", type_=String()))
            )
            .limit(1)
            .scalar_subquery()
            for i in range(n_kinds)
        ]
        chosen = _newest_first(select(Issue.id).where(Issue.id.in_(newest))).limit(1)
    else:
        keys = [bindparam(f"k{i}", type_=String()) for i in range(n_keys)]
        rank = case(*((Issue.key == k, i) for i, k in enumerate(keys)), else_=n_keys)
        chosen = (
            select(Issue.id)
            .where(Issue.key.in_(keys))
            .order_by(rank, *_preferred_language())
            .limit(1)
        )
    return _with_neighbours(select(Issue).where(Issue.id == chosen.scalar_subquery()))


def find_issue(
    conn: Connection,
    keys: Sequence[str] | None,
    *,
    language: str | None = None,
    kinds: Sequence[str] = ("weekly",),
) -> IssueRow | None:
    """The first of ``keys`` that exists (None: the newest issue of ``kinds``), in ``language``
    when it exists in it, else in the language imported first; with its neighbours' keys."""
    params: dict[str, Any] = {"lang": language}
    if keys is None:
        if not kinds:
            return None
        params.update((f"kind{i}", kind) for i, kind in enumerate(kinds))
    elif not keys:
        return None
    else:
        params.update((f"k{i}", key) for i, key in enumerate(keys))
    stmt = _find_statement(0 if keys is None else len(keys), 0 if keys else len(kinds))
    row = conn.execute(stmt, params).first()
    if row is None:
        return None
    issue_id, key, kind, lang, title, url, prev_key, next_key = row
    return IssueRow(issue_id, key, kind, lang, title, url, prev_key, next_key)


_ISSUE_PICKS: Final = (
    select(Item.headline, Item.title, Item.url)
    .where(Item.issue_id == bindparam("issue_id"), Item.pick.is_(True))
    .order_by(Item.position)
)


def issue_picks(conn: Connection, issue_id: int, key: str) -> list[EntryRow]:
    rows = conn.execute(_ISSUE_PICKS, {"issue_id": issue_id})
    return [EntryRow(headline, title, url, key, True) for headline, title, url in rows]


def _dripped_statement() -> Select[str, str | None, str | None, str, bool]:
    since = bindparam("since", type_=Delivery.sent_at.type)
    until = bindparam("until", type_=Delivery.sent_at.type)
    sent_in_period = exists().where(
        Delivery.post_id == Post.id,
        Delivery.state == "sent",
        Delivery.sent_at >= since,
        Delivery.sent_at < until,
    )
    return (
        select(Post.text, Post.title, Post.url, Issue.key, func.coalesce(Item.pick, literal(False)))
        .outerjoin(Issue, Issue.id == Post.issue_id)
        .outerjoin(Item, Item.id == Post.item_id)
        .where(
            Post.kind == "paper",
            Post.state == "sent",
            Post.slot >= bindparam("earliest_slot", type_=Post.slot.type),
            Post.slot < bindparam("until_slot", type_=Post.slot.type),
            sent_in_period,
        )
        .order_by(Post.slot, Post.id)
    )


_DRIPPED: Final = _dripped_statement()


def dripped(conn: Connection, since: datetime, until: datetime) -> list[EntryRow]:
    """Paper posts sent (state sent, a delivery sent in [since, until)), in slot order. Only
    posts slotted in the period (or up to SEND_DELAY_MARGIN before it) are probed."""
    params = {
        "since": since,
        "until": until,
        "earliest_slot": since - SEND_DELAY_MARGIN,
        "until_slot": until,
    }
    rows = conn.execute(_DRIPPED, params)
    return [
        EntryRow(text, title, url, key or "", bool(pick)) for text, title, url, key, pick in rows
    ]


ISSUE_KINDS: Final = get_args(IssueKind)  # the kinds the issues table allows


def _one_language() -> Any:
    """The id of the issue row to show for ``Issue.key`` (correlated)."""
    chosen = aliased(Issue)
    return (
        select(chosen.id)
        .where(chosen.key == Issue.key)
        .order_by(*_preferred_language(chosen))
        .limit(1)
        .correlate(Issue)
        .scalar_subquery()
    )


def _recent_picks_statement() -> Select[str, str | None, str | None, str, int | None]:
    """Every pick, newest issues first (exact; reads every pick: the fallback)."""
    return (
        select(Item.headline, Item.title, Item.url, Issue.key, Item.paper_id)
        .join(Issue, Issue.id == Item.issue_id)
        .where(Item.pick.is_(True), Issue.id == _one_language())
        .order_by(Issue.end_date.desc(), Issue.start_date.desc(), Item.position)
        .limit(bindparam("rows"))
    )


def _first_excluded(kind: str) -> Any:
    """The end date of the newest issue of ``kind`` left out of the window (NULL: none)."""
    other = aliased(Issue)
    return (
        select(other.end_date)
        .where(other.kind == kind)
        .order_by(other.end_date.desc())
        .limit(1)
        .offset(bindparam("window"))
        .scalar_subquery()
    )


def _recent_picks_window_statement() -> Select[Any]:
    """The same, among the ``:window`` newest issues of each kind only (index seeks), with
    each row's end date and, per kind, the end date of the first issue left out."""
    newest = union_all(
        *(
            select(
                select(Issue.id)
                .where(Issue.kind == kind)
                .order_by(Issue.end_date.desc())
                .limit(bindparam("window"))
                .subquery()
            )
            for kind in ISSUE_KINDS
        )
    )
    return (
        select(
            Item.headline,
            Item.title,
            Item.url,
            Issue.key,
            Item.paper_id,
            Issue.end_date,
            *(_first_excluded(kind).label(f"cut_{kind}") for kind in ISSUE_KINDS),
        )
        .join(Issue, Issue.id == Item.issue_id)
        .where(Item.pick.is_(True), Item.issue_id.in_(newest), Issue.id == _one_language())
        .order_by(Issue.end_date.desc(), Issue.start_date.desc(), Item.position)
        .limit(bindparam("rows"))
    )


_RECENT_PICKS: Final = _recent_picks_statement()
_RECENT_PICKS_WINDOW: Final = _recent_picks_window_statement()


def recent_picks(conn: Connection, limit: int, *, language: str | None = None) -> list[EntryRow]:
    """Editor's picks, newest issues first, each issue key in one language (``language`` when
    the key has it, else the first imported); a paper once, from the first ``3 * limit`` pick
    rows (a monthly round-up repeats its weeks' picks: room to drop them).

    Read among the ``3 * limit`` newest issues of each kind (one statement, index seeks); the
    answer is the same as over every pick whenever each row used is newer than every issue
    left out, else (an archive with few picks in its newest issues) the picks are read again
    over every issue."""
    rows = limit * 3
    params = {"lang": language, "rows": rows, "window": rows}
    window = conn.execute(_RECENT_PICKS_WINDOW, params).all()
    found, used = _unique_picks(((r[0], r[1], r[2], r[3], r[4]) for r in window), limit)
    if window:
        cuts = [cut for cut in window[0][6:] if cut is not None]  # the kinds cut short
        stopped = len(found) == limit or used == rows  # where a read of every pick stops
        if not cuts or (stopped and all(window[used - 1][5] > cut for cut in cuts)):
            return found
    everything = conn.execute(_RECENT_PICKS, {"lang": language, "rows": rows})
    return _unique_picks(((r[0], r[1], r[2], r[3], r[4]) for r in everything), limit)[0]


def _unique_picks(
    rows: Iterable[tuple[str, str | None, str | None, str, int | None]], limit: int
) -> tuple[list[EntryRow], int]:
    """The first ``limit`` picks of distinct papers, and how many rows that took."""
    seen: set[object] = set()
    found: list[EntryRow] = []
    used = 0
    for headline, title, url, key, paper_id in rows:
        used += 1
        identity = paper_id if paper_id is not None else (url or headline)
        if identity in seen:
            continue
        seen.add(identity)
        found.append(EntryRow(headline, title, url, key, True))
        if len(found) == limit:
            break
    return found, used
