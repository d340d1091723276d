"""Maintainer replies as Telegram HTML: formatting only (the services decide everything).
Every untrusted string goes through :func:`bot.telegram.render.plain` and is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from bot.domain.telegram_text import arxiv_label
from bot.telegram.maintainer.texts import MaintTexts
from bot.telegram.render import MAX_UNITS, Html, plain

if TYPE_CHECKING:
    from bot.services.audit import AuditEntry
    from bot.services.preview import Preview
    from bot.services.proposal import Proposal
    from bot.services.queue import PostView, QueueView, SlotsView
    from bot.services.status import SentPost, Status
    from bot.services.uploads import ImportOutcome

TEXT_UNITS: Final = 160
LINE_UNITS: Final = 300
RESERVE: Final = 60  # room for "… and N more"


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %m-%d %H:%M") if moment else "-"


def _paper(paper: str | None) -> str:
    return arxiv_label(paper) or plain(paper, 60)


def lines(out: Html, rows: Sequence[Html], more: str) -> Html:
    """Append rows while they fit in one message, then "… and N more"."""
    for index, row in enumerate(rows):
        if out.units + row.units + 1 > MAX_UNITS - RESERVE:
            out.text("\n" + more.format(count=len(rows) - index))
            break
        out.text("\n").extend(row)
    return out


def _more(t: MaintTexts) -> str:
    return "… +{count}" if t.lang == "en" else "……还有 {count} 条"


def queue_entry(number: int, post: PostView, t: MaintTexts, tz: ZoneInfo) -> Html:
    line = Html().bold(f"{number}. #{post.id}")
    if post.pick:
        line.text(f" {t.pick}")
    details = [_when(post.slot, tz)]
    if post.kind == "digest":
        details.append(f"{t.digest} {plain(post.issue, 20)}".strip())
    elif post.paper:
        details.append(_paper(post.paper))
    if post.x_weight is not None:
        details.append(f"X {post.x_weight}/280")
    if post.state != "queued":
        details.append(plain(post.state, 12))
    line.text(" · " + " · ".join(d for d in details if d))
    line.text("\n   " + (plain(post.text, TEXT_UNITS) or "—"))
    return line


def queue(view: QueueView, t: MaintTexts, tz: ZoneInfo, page: int, pages: int, first: int) -> str:
    out = Html().bold(t.queue_heading.format(total=f"{view.total:,}"))
    if pages > 1:
        out.text(" · " + t.queue_page.format(page=page, pages=pages))
    if view.paused:
        out.text("\n").bold(t.queue_paused)
    cost = view.cost
    out.text(
        "\n"
        + t.queue_cost.format(
            posts=f"{cost.drip_posts + cost.digest_posts:.0f}",
            usd=f"{cost.monthly_usd:.2f}",
            budget=f"{cost.budget_usd:.2f}",
        )
    )
    if cost.over_budget:
        out.text(" ").bold(t.queue_over_budget)
    out.text("\n" + t.queue_sent.format(count=f"{view.sent:,}"))
    if not view.posts:
        return out.text("\n\n" + t.queue_empty).render()
    rows = [queue_entry(first + n, p, t, tz) for n, p in enumerate(view.posts)]
    return lines(out, rows, _more(t)).render()


def edit_hint(post_id: int, text: str, t: MaintTexts) -> str:
    out = Html().text(t.edit_hint.format(id=post_id) + "\n")
    out.markup("<code>", "").text(f"/edit {post_id} {plain(text, 3000)}").markup("</code>", "")
    return out.render()


def proposal(found: Proposal, t: MaintTexts, comment: str | None = None) -> str:
    """The comment proposed for ``found`` (or the maintainer's own ``comment``), its link and
    the warnings, above the Add / Cancel buttons."""
    out = Html()
    if comment:
        out.bold(t.your_comment.format(paper=_paper(found.paper)))
        out.text("\n" + plain(comment, 1000))
    elif found.text:
        out.bold(t.proposal.format(paper=_paper(found.paper), source=found.source))
        out.text("\n" + plain(found.text, 1000))
    else:
        out.text(t.proposal_none.format(paper=_paper(found.paper)))
    out.text("\n").link(found.url, plain(found.url, 200))
    return warnings(out, found.warnings, t).render()


def warnings(out: Html, found: Sequence[str], t: MaintTexts) -> Html:
    if found:
        out.text("\n\n").bold(t.warnings)
        lines(out, [Html().text("• " + plain(w, LINE_UNITS)) for w in found], _more(t))
    return out


def message(text: str) -> str:
    """A one-line service message (untrusted parts included) as HTML."""
    return Html().text(plain(text, 3000)).render()


def report(heading: str, found: Sequence[str], t: MaintTexts) -> str:
    out = Html().bold(plain(heading, 200))
    return lines(out, [Html().text(plain(line, LINE_UNITS)) for line in found], _more(t)).render()


def caption(heading: str, found: Sequence[str], units: int = 1000) -> str:
    """A photo caption (at most 1024 visible units): the heading and as many lines as fit."""
    out = Html().bold(plain(heading, 200))
    for line in found:
        row = Html().text("\n" + plain(line, LINE_UNITS))
        if out.units + row.units > units:
            break
        out.extend(row)
    return out.render()


def slots(view: SlotsView, t: MaintTexts) -> str:
    tz = ZoneInfo(view.timezone)
    out = Html().bold(t.slots_heading)
    out.text(" · " + (t.slots_overridden if view.overridden else t.slots_config))
    out.text("\n" + t.slots_times.format(times=" ".join(view.times) or "-"))
    out.text("\n" + t.slots_days.format(days=" ".join(view.days) or "-"))
    out.text("\n" + t.slots_zone.format(zone=view.timezone))
    if view.upcoming:
        out.text("\n" + t.slots_next)
        for moment in view.upcoming:
            out.text("\n• " + moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M"))
    return out.render()


def preview_x(found: Preview, t: MaintTexts) -> str:
    out = Html()
    if found.x_text is None:
        return out.text(t.preview_x_skipped.format(reason=plain(found.x_skipped, 300))).render()
    verdict = t.preview_valid if found.x_valid else t.preview_invalid
    out.bold(t.preview_x.format(weight=found.x_weight, verdict=verdict)).text("\n")
    out.markup("<code>", "").text(found.x_text).markup("</code>", "")
    return out.text("\n\n" + t.preview_telegram).render()


def imported(outcome: ImportOutcome, t: MaintTexts) -> str:
    out = Html().text(plain(outcome.summary(), 1000))
    if outcome.new_papers:
        out.text("\n" + t.import_new.format(count=len(outcome.new_papers)))
        rows = [
            Html().text(
                f"• {t.pick + ' ' if p.pick else ''}{plain(p.issue_key, 20)} · "
                f"{_paper(p.paper)} · {plain(p.headline or p.title, 120)}"
            )
            for p in outcome.new_papers
        ]
        lines(out, rows[:40], _more(t))
    return warnings(out, outcome.warnings, t).render()


def _sent(post: SentPost, tz: ZoneInfo) -> Html:
    line = Html().text(f"#{post.id} {_when(post.sent_at, tz)} · {plain(post.text, 80)}")
    for delivery in post.deliveries:
        if delivery.link:
            line.text(" · ").link(delivery.link, plain(delivery.destination, 30))
        elif delivery.state != "sent":
            line.text(f" · {plain(delivery.destination, 30)}: {plain(delivery.state, 12)}")
    return line


def status(found: Status, t: MaintTexts) -> str:
    tz = ZoneInfo(found.timezone)
    out = Html().bold(t.status_heading).text(f" · {_when(found.now, tz)} {found.timezone}")
    if found.queue_paused:
        out.text("\n").bold(t.queue_paused)
    rows: list[Html] = []
    nexts = ((t.status_next_paper, found.next_paper), (t.status_next_digest, found.next_digest))
    for label, post in nexts:
        if post is not None:
            what = _paper(post.paper) if post.paper else plain(post.issue, 20)
            rows.append(
                Html().text(
                    f"{label}: #{post.id} {_when(post.slot, tz)} · {what} · {plain(post.text, 80)}"
                )
            )
    for dest in found.destinations:
        line = t.status_waiting.format(destination=dest.destination, count=dest.waiting)
        if dest.next_due:
            line += t.status_next_due.format(when=_when(dest.next_due, tz))
        if dest.holds:
            line += " · " + "; ".join(plain(h, 120) for h in dest.holds)
        rows.append(Html().text(line))
    for pause in found.pauses:
        line = t.status_pause.format(
            platform=pause.platform, until=_when(pause.until, tz), reason=plain(pause.reason, 160)
        )
        rows.append(Html().text(line))
    x = found.x
    spend = t.status_x.format(
        today=x.posts_today,
        cap=x.daily_cap,
        spent=f"{x.spent_month:.2f}",
        budget=f"{x.monthly_budget:.2f}",
    )
    rows.append(Html().text(spend))
    if found.problems:
        heading = t.status_problems.format(shown=len(found.problems), total=found.problems_total)
        rows.append(Html().bold(heading))
        rows += [
            Html().text(
                t.status_problem.format(
                    id=p.post_id,
                    destination=plain(p.destination, 40),
                    state=plain(p.state, 12),
                    attempts=p.attempts,
                    reason=plain(p.reason, 160),
                )
            )
            for p in found.problems
        ]
    if found.recent:
        rows.append(Html().bold(t.status_recent))
        rows += [_sent(post, tz) for post in found.recent]
    return lines(out, rows, _more(t)).render()


def audit(entries: Sequence[AuditEntry], t: MaintTexts) -> str:
    if not entries:
        return Html().text(t.audit_empty).render()
    out = Html().bold(t.audit_heading)
    return lines(out, [Html().text(plain(e.summary(), 400)) for e in entries], _more(t)).render()


def alert(text: str, t: MaintTexts) -> str:
    return Html().text(t.alert_prefix + plain(text, 3500)).render()


def when(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%a %Y-%m-%d %H:%M")
