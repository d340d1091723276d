"""Query building with English stems: the pure part (no database)."""

from __future__ import annotations

import pytest

from bot.domain.search import MAX_FORMS, Stemmed, build_query, stem, stem_forms, stemmed

VOCABULARY = (
    "prune",
    "pruned",
    "prunebert",
    "prunes",
    "pruning",
    "prunus",
    "expert",
    "expertise",
    "experts",
    "transform",
    "transformation",
    "transformer",
    "transformers",
)


@pytest.mark.parametrize(
    ("word", "other"),
    [
        ("pruned", "pruning"),
        ("pruning", "pruned"),
        ("experts", "expert"),
        ("expert", "experts"),
        ("transformers", "transformer"),
        ("transformer", "transformers"),
        ("models", "modelling"),
        ("happy", "happiness"),
    ],
)
def test_word_and_its_other_form_share_a_stem(word: str, other: str) -> None:
    assert stem(word) == stem(other)


@pytest.mark.parametrize(
    ("word", "forms"),
    [
        # the stem (prune) as a prefix would miss pruning: the range starts at "prun"
        ("pruned", ("prune", "prunes", "pruning")),
        ("pruning", ("prune", "pruned", "prunes")),
        ("prune", ("pruning",)),  # prune* already finds pruned and prunes
        ("experts", ("expert",)),
        ("transformers", ("transform", "transformation", "transformer")),
    ],
)
def test_stem_forms_are_the_other_words_of_the_stem(word: str, forms: tuple[str, ...]) -> None:
    found = stemmed(word)
    assert found is not None
    vocabulary = [w for w in VOCABULARY if w.startswith(found.prefix)]
    assert stem_forms(found, vocabulary) == forms


def test_words_without_other_forms_to_look_up() -> None:
    assert stemmed("model") is None  # every word of stem "model" starts with "model"
    assert stemmed("ai") is None  # too short to stem
    assert stemmed("2009") is None and stemmed("biggan3") is None
    assert stemmed("剪枝") is None
    assert stemmed("pruning") == Stemmed("pruning", "prune", "prun")
    assert stemmed("happy") == Stemmed("happy", "happi", "happ")  # happy -> happi


def test_stem_forms_never_include_other_stems_or_too_many() -> None:
    pruned = Stemmed("pruned", "prune", "prun")
    assert "prunebert" not in stem_forms(pruned, VOCABULARY)
    assert "prunus" not in stem_forms(pruned, VOCABULARY)
    assert stem_forms(pruned, ["pruning"] * 100) == ("pruning",) * MAX_FORMS


def test_word_match_adds_forms_as_exact_words() -> None:
    query = build_query("sparse experts", 200)
    assert query.match == '"sparse"* AND "experts"*'  # without the index: as typed
    assert query.word_match({"experts": ("expert",)}) == '"sparse"* AND ("experts"* OR "expert")'
    relaxed = query.word_match({"experts": ("expert",)}, any_term=True)
    assert relaxed == '"sparse"* OR ("experts"* OR "expert")'
    assert [s.word for s in query.stems] == ["sparse", "experts"]


def test_chinese_queries_are_built_as_before() -> None:
    query = build_query("小波变换 剪枝", 200)
    assert query.match == '"小波 波变 变换" AND "剪枝"'
    assert query.trigram is None  # 剪枝 is too short for the trigram index
    assert build_query("小波变换", 200).trigram == '"小波变换"'
    assert query.stems == ()
    assert query.contains == (("小波变换",), ("剪枝",))


def test_trigram_terms_lose_surrounding_punctuation() -> None:
    assert build_query("-gan", 200).trigram == '"gan"'  # a leading dash: BigGAN still matches
    assert build_query("(BigGAN)", 200).trigram == '"BigGAN"'
    assert build_query("GPT-3", 200).trigram == '"GPT-3"'  # inner punctuation stays
    assert build_query("ai -gan", 200).trigram is None  # AND needs every term (ai is short)
    assert build_query("ai -gan", 200).trigram_match(any_term=True) == '"gan"'


def test_like_texts_keep_wildcards_and_add_the_stem() -> None:
    assert build_query("a%b _", 200).contains == (("a%b",), ("_",))
    assert build_query("pruned", 200).contains == (("pruned", "prun"),)
    assert build_query("experts", 200).contains == (("experts", "expert"),)
    assert build_query("uses", 200).contains == (("uses", "use"),)  # "us" would be too short
    assert build_query("-gan", 200).contains == (("gan",),)


def test_vocabulary_ranges_skip_the_words_the_prefix_match_finds() -> None:
    learning = stemmed("learning")
    assert learning is not None
    assert learning.ranges == (("learn", "learning"), ("learninh", "learo"))
    words = ["learn", "learned", "learner", "learning", "learnings", "learns", "leash"]
    read = [w for w in words if any(low <= w < high for low, high in learning.ranges)]
    assert read == ["learn", "learned", "learner", "learns"]  # never learning, learnings
    ability = Stemmed("ability", "abl", "abl")  # a stem that is not a prefix of its word
    assert ability.ranges == (("abl", "abm"),)
