"""Reading the arXiv API's Atom answer (pure: no I/O)."""

from __future__ import annotations

import pytest

from bot.domain.arxiv_feed import FeedError, fit, parse_entry

ATOM = 'xmlns="http://www.w3.org/2005/Atom"'


def test_entry_title_and_summary_are_cleaned() -> None:
    xml = (
        f"<feed {ATOM}><entry><id>http://arxiv.org/abs/2401.00001v1</id>"
        "<title>  A\n  Title </title><summary>First. Second.</summary></entry></feed>"
    )
    entry = parse_entry(xml, "2401.00001")
    assert entry.title == "A Title" and entry.first_sentence == "First."


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<feed><entry>", "malformed XML"),
        ("<html><body>hi</body></html>", "not an Atom feed"),
        (f"<feed {ATOM}></feed>", "has no paper"),
        (f"<feed {ATOM}><entry><title></title></entry></feed>", "no title"),
        (
            f"<feed {ATOM}><entry><id>http://arxiv.org/api/errors#x</id><title>Error</title>"
            "<summary>incorrect id format</summary></entry></feed>",
            "answered with an error",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa">'
            + "".join(
                f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            )
            + f"]><feed {ATOM}><entry><title>&i;</title></entry></feed>",
            "malformed XML",
        ),
    ],
)
def test_unusable_answers(xml: str, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_entry(xml, "2401.00001")


def test_fit_cuts_at_words() -> None:
    assert fit("one two three", lambda t: len(t) <= 20) == "one two three"
    assert fit("one two three", lambda t: len(t) <= 9) == "one two…"
    assert fit("one two three", lambda t: False) == ""
