"""X spending: what a post costs and what the configured schedule will cost per month."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


def monthly_estimate(
    *,
    slots_per_day: int,
    days_per_week: int,
    daily_cap: int,
    link: Literal["url", "arxiv_id", "none"],
    plain: float,
    with_url: float,
    budget: float,
) -> CostEstimate:
    """Drip posts at every slot (bounded by the daily cap) plus one digest post a week."""
    per_day = min(slots_per_day, daily_cap)
    drip = per_day * days_per_week * WEEKS_PER_MONTH
    digests = WEEKS_PER_MONTH
    drip_cost = post_cost(link == "url", plain=plain, with_url=with_url)
    total = drip * drip_cost + digests * with_url
    return CostEstimate(round(drip, 1), round(digests, 1), round(total, 2), budget)
