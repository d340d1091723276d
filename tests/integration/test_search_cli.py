"""``digestbot search`` through the command-line entry: dashes, plurals, the any-word note."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from bot.app import Container
from bot.cli import main
from bot.cli.archive import RELAXED_NOTE
from bot.cli.demo import DEMO_QUERIES, SAMPLES
from tests.builders import item, store, weekly

Cli = Callable[..., tuple[int, str, str]]

ISSUE = weekly(
    "2020-W39",
    [
        item(1, "使用小波变换减小 BigGAN 的大小", arxiv="2009.04433"),
        item(2, "Pruning filters block by block", arxiv="2009.05697", summary="分块剪枝"),
        item(3, "Heads pruned after training", arxiv="2305.00001"),
    ],
)


@pytest.fixture
async def cli(
    app: Container,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    await store(app, ISSUE)
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_query_starting_with_a_dash_after_double_dash(cli: Cli) -> None:
    code, out, err = cli("search", "--", "-gan")
    assert code == 0, err
    assert "BigGAN" in out and "(1 result)" in out
    code, out, err = cli("search", "--json", "--", "-gan")
    assert code == 0, err
    data = json.loads(out)
    assert data["query"] == "-gan"
    assert [r["paper"] for r in data["results"]] == ["arxiv:2009.04433"]


def test_result_counts_are_plural_only_when_needed(cli: Cli) -> None:
    _, one, _ = cli("search", "剪枝")
    assert "(1 result)" in one and "(1 results)" not in one
    _, two, _ = cli("search", "pruned")
    assert "(2 results)" in two


def test_the_any_word_fallback_says_so(cli: Cli) -> None:
    code, out, _ = cli("search", "pruned", "zebra")
    assert code == 0
    assert out.splitlines()[0] == RELAXED_NOTE
    assert "Heads pruned after training" in out
    data = json.loads(cli("search", "pruned", "zebra", "--json")[1])
    assert data["relaxed"] is True and len(data["results"]) == 2
    every = json.loads(cli("search", "pruned", "heads", "--json")[1])
    assert every["relaxed"] is False and len(every["results"]) == 1
    _, plain, _ = cli("search", "pruned", "heads")
    assert RELAXED_NOTE not in plain


async def test_every_demo_query_finds_the_bundled_sample(app: Container) -> None:
    report = await app.archive.import_targets([str(p) for p in sorted(SAMPLES.glob("*.md"))])
    assert report.ok and report.added
    assert len(DEMO_QUERIES) >= 2
    for query in DEMO_QUERIES:
        result = await app.archive.search(query)
        assert result.hits, query
        assert not result.relaxed, query  # every word of the demo's queries is found
