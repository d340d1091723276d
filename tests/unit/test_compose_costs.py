"""The monthly estimate (queue list) agrees with what the budget charges for composed posts."""

from __future__ import annotations

import pytest

from bot.config import TwitterSettings
from bot.domain.costs import WEEKS_PER_MONTH, monthly_estimate, non_arxiv_share
from bot.domain.x_text import compose_digest_tweet, compose_drip_tweet
from bot.services.budget import XBudget

PLAIN, WITH_URL = 0.015, 0.2
SLOTS, DAYS = 3, 7
# three arXiv papers and one blog post: a quarter of the items have no arXiv id
ITEMS = [
    (f"https://arxiv.org/abs/2009.0569{n}", f"arxiv:2009.0569{n}", f"Paper {n}") for n in range(3)
] + [("https://blog.example.org/p", "https://blog.example.org/p", "A blog post")]


def _estimate(link: str, fallback: str, share: float | None) -> float:
    return monthly_estimate(
        slots_per_day=SLOTS,
        days_per_week=DAYS,
        daily_cap=15,
        link=link,  # type: ignore[arg-type]
        plain=PLAIN,
        with_url=WITH_URL,
        budget=10.0,
        link_fallback=fallback,  # type: ignore[arg-type]
        non_arxiv=share,
    ).monthly_usd


def _charged_per_month(link: str, fallback: str) -> float:
    """What the budget charges when the drip cycles through ITEMS, plus the weekly digest."""
    budget = XBudget(
        TwitterSettings(cost_per_post_usd=PLAIN, cost_per_post_with_url_usd=WITH_URL), "UTC"
    )
    per_slot = 0.0
    for url, paper, title in ITEMS:
        text = compose_drip_tweet(
            "A one-sentence comment.",
            title=title,
            url=url,
            paper=paper,
            link=link,  # type: ignore[arg-type]
            fallback=fallback,  # type: ignore[arg-type]
        )
        per_slot += budget.cost(text) if text is not None else 0.0  # None: not sent to X
    digest = compose_digest_tweet("ML news 2020-W39", ["Pick"], "https://example.com/w39")
    slots = SLOTS * DAYS * WEEKS_PER_MONTH
    return slots * per_slot / len(ITEMS) + WEEKS_PER_MONTH * budget.cost(digest)


@pytest.mark.parametrize(
    ("link", "fallback"),
    [
        ("url", "title"),
        ("none", "url"),
        ("arxiv_id", "title"),
        ("arxiv_id", "url"),
        ("arxiv_id", "skip"),
    ],
)
def test_estimate_agrees_with_the_budget(link: str, fallback: str) -> None:
    share = non_arxiv_share(paper for _, paper, _ in ITEMS)
    assert share == 0.25
    charged = _charged_per_month(link, fallback)
    assert _estimate(link, fallback, share) == pytest.approx(charged, abs=0.01)


def test_unknown_share_never_underestimates() -> None:
    assert _estimate("arxiv_id", "url", None) == _estimate("arxiv_id", "url", 1.0)
    assert _estimate("arxiv_id", "url", None) >= _charged_per_month("arxiv_id", "url")
    assert _estimate("arxiv_id", "skip", None) == _estimate("arxiv_id", "skip", 0.0)
    assert _estimate("arxiv_id", "skip", None) >= _charged_per_month("arxiv_id", "skip")


def test_skip_counts_fewer_x_posts() -> None:
    def drip(share: float | None) -> float:
        return monthly_estimate(
            slots_per_day=SLOTS,
            days_per_week=DAYS,
            daily_cap=15,
            link="arxiv_id",
            plain=PLAIN,
            with_url=WITH_URL,
            budget=10.0,
            link_fallback="skip",
            non_arxiv=share,
        ).drip_posts

    assert drip(0.25) == pytest.approx(drip(None) * 0.75, abs=0.1)


def test_non_arxiv_share() -> None:
    assert non_arxiv_share([]) is None
    assert non_arxiv_share(["arxiv:2009.05697", None, "https://x.org/a", "arxiv:bad"]) == 0.75
