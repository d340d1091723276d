"""X spending: what a post costs and what the configured schedule will cost per month.

The budget charges every X post by what twitter-text finds in its composed text
(:func:`bot.domain.x_text.contains_url`); the estimate here must agree with it for
every ``twitter.link`` / ``twitter.link_fallback`` combination:

* ``link = "url"``: drip posts carry their URL (priced with URL);
* ``link = "arxiv_id"``: arXiv items carry plain ``arXiv:ID``; items without an id get
  ``link_fallback``: ``"title"`` plain text (the site's name is written so that X does
  not link it), ``"url"`` their URL (priced with URL), ``"skip"`` no X post at all;
* ``link = "none"``: no link, plain price;
* the weekly digest post always carries the issue URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.telegram_text import arxiv_label

if TYPE_CHECKING:  # twitter-text loads only where tweets are measured
    from bot.domain.x_text import LinkFallback, LinkMode

WEEKS_PER_MONTH = 52 / 12


@dataclass(frozen=True, slots=True)
class CostEstimate:
    drip_posts: float  # X posts per month from the drip
    digest_posts: float  # weekly digest announcements per month
    monthly_usd: float
    budget_usd: float

    @property
    def over_budget(self) -> bool:
        return self.monthly_usd > self.budget_usd


def post_cost(has_url: bool, *, plain: float, with_url: float) -> float:
    return with_url if has_url else plain


def non_arxiv_share(papers: Iterable[str | None]) -> float | None:
    """Share of paper identities without an arXiv id (``None`` when there are none)."""
    total = without = 0
    for paper in papers:
        total += 1
        without += arxiv_label(paper) is None
    return without / total if total else None


def monthly_estimate(
    *,
    slots_per_day: int,
    days_per_week: int,
    daily_cap: int,
    link: LinkMode,
    plain: float,
    with_url: float,
    budget: float,
    link_fallback: LinkFallback = "title",
    non_arxiv: float | None = None,
) -> CostEstimate:
    """Drip posts at every slot (bounded by the daily cap) plus one digest post a week.

    *non_arxiv* is the share of drip items without an arXiv id (see
    :func:`non_arxiv_share`, e.g. over the queued posts); it matters only for
    ``link = "arxiv_id"`` with fallback ``"url"`` or ``"skip"``. Unknown (``None``),
    the estimate assumes the dearer case: every item has a URL for ``"url"``, every
    item is posted for ``"skip"``.
    """
    per_day = min(slots_per_day, daily_cap)
    drip = per_day * days_per_week * WEEKS_PER_MONTH
    digests = WEEKS_PER_MONTH
    share = None if non_arxiv is None else min(1.0, max(0.0, non_arxiv))
    with_url_share = 1.0 if link == "url" else 0.0
    if link == "arxiv_id" and link_fallback == "url":
        with_url_share = 1.0 if share is None else share
    elif link == "arxiv_id" and link_fallback == "skip" and share is not None:
        drip *= 1.0 - share
    drip_cost = with_url_share * with_url + (1.0 - with_url_share) * plain
    total = drip * drip_cost + digests * with_url
    return CostEstimate(round(drip, 1), round(digests, 1), round(total, 2), budget)
