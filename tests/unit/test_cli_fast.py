"""The command line starts fast: commands import only what they use; every option has help."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.cli import COMMANDS, build_parser, main
from bot.cli.common import plural
from bot.store.migrate import alembic_config, upgrade
from bot.store.revision import scan_head

HEAVY = ("telegram", "tweepy", "alembic", "twitter_text", "bot.sandbox", "aiohttp", "apscheduler")
PENDING: tuple[str, ...] = ()


def loaded_modules(code: str, env: dict[str, str], cwd: Path) -> set[str]:
    """Run ``code`` in a fresh interpreter, then list what it imported."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def imported(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.fixture(scope="module")
def search_modules(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    folder = tmp_path_factory.mktemp("fast")
    url = f"sqlite:///{folder / 'fast.db'}"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env.update(DIGESTBOT_DATABASE_URL=url, XDG_DATA_HOME=str(folder / "data"))
    code = "from bot.cli import main\nassert main(['search', 'sparse', 'experts']) == 0"
    return loaded_modules(code, env, folder)


@pytest.mark.slow
@pytest.mark.sqlite_only("what a search on a SQLite file imports (the fast path)")
@pytest.mark.parametrize(
    "module",
    [
        *HEAVY,
        *(
            pytest.param(m, marks=pytest.mark.xfail(strict=True, reason="lead's lazy import"))
            for m in PENDING
        ),
    ],
)
def test_search_imports_no_heavy_module(search_modules: set[str], module: str) -> None:
    assert imported(search_modules, "bot.cli.archive")  # the search really ran
    assert not imported(search_modules, module)


@pytest.mark.slow
def test_help_imports_neither_settings_nor_database(tmp_path: Path) -> None:
    code = (
        "from bot.cli import build_parser\n"
        "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass"
    )
    modules = loaded_modules(code, dict(os.environ), tmp_path)
    assert imported(modules, "bot.cli")
    for heavy in ("pydantic", "sqlalchemy", "rich", *HEAVY, *PENDING):
        assert not imported(modules, heavy), heavy


def every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += every_parser(child)
    return found


def test_every_option_and_positional_has_help() -> None:
    parsers = every_parser(build_parser(complete=True))
    assert len(parsers) > len(COMMANDS)  # the commands' own parsers were registered
    missing = [
        f"{p.prog}: {'/'.join(a.option_strings) or a.dest}"
        for p in parsers
        for a in p._actions
        if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()
    ]
    assert missing == []


def test_every_listed_command_is_registered_by_its_module() -> None:
    parser = build_parser(complete=True)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(COMMANDS) < set(sub.choices)
    for name in COMMANDS:
        command = sub.choices[name]
        has_verbs = any(isinstance(a, argparse._SubParsersAction) for a in command._actions)
        assert has_verbs or command.get_default("handler") is not None, name


def test_a_command_parses_after_lazy_registration() -> None:
    args = build_parser().parse_args(["search", "--limit", "3", "gan", "prune"])
    assert args.query == ["gan", "prune"]
    assert args.limit == 3
    assert callable(args.handler)


def test_version_comes_from_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"digestbot {version('digestbot')}\n"


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [(0, "result", "0 results"), (1, "result", "1 result"), (2, "post", "2 posts")],
)
def test_plural(count: int, word: str, expected: str) -> None:
    assert plural(count, word) == expected


def test_plural_irregular() -> None:
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_scanned_head_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert scan_head() == script.get_current_head()


def test_scan_head_follows_the_chain_and_gives_up_on_branches(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "aaa"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text("revision: str = 'bbb'\ndown_revision: str | None = 'aaa'\n")
    assert scan_head(tmp_path) == "bbb"
    (tmp_path / "c.py").write_text('revision = "ccc"\ndown_revision = "aaa"  # a branch\n')
    assert scan_head(tmp_path) is None  # two heads: Alembic's answer is needed
    (tmp_path / "d.py").write_text('revision = "ddd"\ndown_revision = ("bbb", "ccc")\n')
    assert scan_head(tmp_path) == "ddd"  # a merge closes them
