"""twitter-text conformance: weighted_length/is_valid_tweet against the upstream validate.yml.

Every case of every section whose ``expected`` carries ``weightedLength`` is run
through :func:`weighted_length` and :func:`is_valid_tweet` (twitter-text v3, the
configuration X uses). ``WeightedTweetsCounterTest`` is upstream's *v2* suite
(emoji parsing off): the two cases that count multi-code-point emoji differ
under v3 by design and are strict xfails; the whole section is additionally
checked against the library's own v2 configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from twitter_text import parse_tweet
from twitter_text.config import config

from bot.domain.x_text import is_valid_tweet, weighted_length

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "twitter-text-validate.yml"
V2_SECTION = "WeightedTweetsCounterTest"
V2_ONLY = {
    "Count a mix of single byte single word, and double word unicode characters": (
        "v2 suite: counts each code point of the ZWJ family (16); v3 counts the emoji "
        "sequence as 2 (7, as in WeightedTweetsWithDiscountedEmojiCounterTest)"
    ),
    "Count unicode emoji chars outside the basic multilingual plane with skin tone modifiers": (
        "v2 suite: counts skin-tone modifier and ZWJ code points (9); v3 counts each emoji "
        "sequence as 2 (4, as in WeightedTweetsWithDiscountedEmojiCounterTest)"
    ),
}


def _load() -> dict[str, list[dict[str, Any]]]:
    if not SPEC.exists():
        return {}
    tests: dict[str, list[dict[str, Any]]] = yaml.safe_load(SPEC.read_text("utf-8"))["tests"]
    return {
        name: cases
        for name, cases in tests.items()
        if cases
        and all(isinstance(c.get("expected"), dict) for c in cases)
        and all("weightedLength" in c["expected"] for c in cases)
    }


SECTIONS = _load()


def _params() -> list[Any]:
    params = []
    for section, cases in SECTIONS.items():
        for case in cases:
            reason = V2_ONLY.get(case["description"]) if section == V2_SECTION else None
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(case, id=f"{section}: {case['description']}", marks=marks))
    return params


PARAMS = _params()
NEEDS_SPEC = f"needs ../shared/specs/twitter-text-validate.yml beside the checkout ({SPEC})"
requires_spec = pytest.mark.skipif(not SPEC.exists(), reason=NEEDS_SPEC)


@requires_spec
def test_spec_has_weighted_sections() -> None:
    assert {V2_SECTION, "WeightedTweetsWithDiscountedEmojiCounterTest"} <= set(SECTIONS)
    assert sum(len(cases) for cases in SECTIONS.values()) >= 40


@requires_spec
@pytest.mark.parametrize("case", PARAMS or [pytest.param(None, id="no-spec")])
def test_weighted_length_and_validity(case: dict[str, Any] | None) -> None:
    if case is None:
        pytest.skip(NEEDS_SPEC)
    expected = case["expected"]
    assert weighted_length(case["text"]) == expected["weightedLength"]
    assert is_valid_tweet(case["text"]) is expected["valid"]


@requires_spec
@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c["description"]) for c in SECTIONS.get(V2_SECTION, [])]
    or [pytest.param(None, id="no-spec")],
)
def test_v2_section_matches_library_v2_config(case: dict[str, Any] | None) -> None:
    if case is None:
        pytest.skip(NEEDS_SPEC)
    options = {"emoji_parsing_enabled": False, **config["version2"]}
    result = parse_tweet(case["text"], options).asdict()
    for key, value in case["expected"].items():
        assert result[key] == value, key
