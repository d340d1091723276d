"""The ``digestbot`` command line: parse arguments, call services, print (rich or --json).

Start-up is kept short: building the parser imports nothing but ``argparse``. Each command's
module (and with it SQLAlchemy, PTB, tweepy, Alembic, the sandbox ...) is imported only when
that command is used: ``COMMANDS`` names the module, whose ``register(sub)`` fills in the
command's arguments the moment argparse reaches it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from bot.config import Settings

# command -> (module whose ``register(sub)`` defines it, one line for ``digestbot --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("bot.cli.database", "database migrations: `db upgrade` first, `db check` for drift"),
    "import": ("bot.cli.archive", "import digests from files, folders or http(s) URLs"),
    "feeds": ("bot.cli.feeds", "watch RSS/Atom feeds: add, list, rm, check (import new digests)"),
    "issues": ("bot.cli.archive", "list archived issues, newest first"),
    "show": ("bot.cli.archive", "one issue with its items"),
    "search": ("bot.cli.archive", "search past issues (Chinese and English)"),
    "queue": ("bot.cli.queue", "see and edit the posting queue"),
    "preview": ("bot.cli.publishing", "show how a text or a queued post will look"),
    "dispatch": ("bot.cli.publishing", "send everything due, then exit (cron, ops)"),
    "run": ("bot.cli.publishing", "the long-running worker (scheduler + Telegram bot)"),
    "web": ("bot.cli.web", "receive Telegram updates through a webhook (ASGI server)"),
    "status": ("bot.cli.status", "next slots, pauses, X spend, problems, last posts"),
    "stats": ("bot.cli.stats", "subscribers, posts sent, failures, X spend, weekly chart"),
    "demo": ("bot.cli.demo", "a tour on a temporary database with fake X/Telegram"),
}

# Help for options many commands share, used wherever a command leaves its help empty.
DEFAULT_HELP: dict[str, str] = {
    "json": "print JSON instead of tables",
    "id": "the post's id (see `digestbot queue list`)",
    "position": "the new position in the queue (1 = next)",
    "url": "the paper's or article's link",
    "text": "the post's text",
    "post": "a queued post's id (see `digestbot queue list`)",
    "targets": "digest files, folders (searched recursively) or http(s) URLs",
    "query": "words to look for (Chinese or English; never search syntax)",
    "limit": "at most N results",
    "section": "only items of this section",
    "year": "only issues of this year",
    "once": "send what is due now, then exit",
    "now": "ISO 8601 time to act at (default: now)",
    "dry_run": "print instead of publishing; the queue is left unchanged",
}


class _CommandParser(argparse.ArgumentParser):
    """A command's parser; its module registers the arguments the first time it is used."""

    loader: _Loader | None = None
    command: str = ""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self.loader is not None:
            self.loader.load(COMMANDS[self.command][0])
        return super().parse_known_args(args, namespace)


class _Registrar:
    """What a module's ``register(sub)`` is given: ``add_parser`` hands back the command's
    existing (so far empty) parser instead of making a new one."""

    def __init__(self, action: Any, module: str) -> None:
        self._action = action
        self._module = module

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser | None = self._action.choices.get(name)
        if parser is None or COMMANDS.get(name, ("",))[0] != self._module:
            raise LookupError(f"{self._module} registers {name!r}: list it in bot.cli.COMMANDS")
        parser.description = kwargs.get("description") or kwargs.get("help") or parser.description
        if "epilog" in kwargs:
            parser.epilog = kwargs["epilog"]
        return parser


class _Loader:
    def __init__(self, action: Any) -> None:
        self._action = action
        self._loaded: set[str] = set()

    def load(self, module_name: str) -> None:
        if module_name in self._loaded:
            return
        self._loaded.add(module_name)
        module = importlib.import_module(module_name)
        module.register(_Registrar(self._action, module_name))
        for command, (owner, _) in COMMANDS.items():
            if owner == module_name:
                fill_help(self._action.choices[command])

    def load_all(self) -> None:
        for module_name, _ in COMMANDS.values():
            self.load(module_name)


def fill_help(parser: argparse.ArgumentParser) -> None:
    """Give every option a command left without help the shared wording (``DEFAULT_HELP``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            verb = action.metavar or action.dest.upper()
            action.help = action.help or f"one of these (`{parser.prog} {verb} --help`)"
            for child in action.choices.values():
                fill_help(child)
        elif action.help is None:
            action.help = DEFAULT_HELP.get(action.dest)


class _Version(argparse.Action):
    """``--version``: read from the installed package's metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print digestbot's version and exit")
        super().__init__(
            option_strings, argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, **kwargs
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("digestbot")
        except PackageNotFoundError:
            number = "(not installed)"
        sys.stdout.write(f"digestbot {number}\n")
        parser.exit()


def build_parser(*, complete: bool = False) -> argparse.ArgumentParser:
    """The command line; ``complete`` registers every command's arguments at once (for
    tests and documentation), instead of only the command being used."""
    parser = argparse.ArgumentParser(
        prog="digestbot",
        description="Archive, search and drip a weekly machine-learning digest.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument(
        "--config", metavar="PATH", help="TOML settings file (default: $DIGESTBOT_CONFIG)"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="log at DEBUG and show tracebacks on the terminal (secrets stay redacted)",
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        parser_class=_CommandParser,
        help="one of these (`digestbot COMMAND --help` for its options)",
    )
    config = sub.add_parser(
        "config",
        help="print the effective settings (secrets and passwords masked)",
        description="print the effective settings (secrets and passwords masked)",
    )
    config.add_argument("--json", action="store_true", help=DEFAULT_HELP["json"])
    config.set_defaults(handler=_show_config, needs_db=False)
    loader = _Loader(sub)
    for name, (_, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        command.loader, command.command = loader, name
    if complete:
        loader.load_all()
    return parser


async def _show_config(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.common import show_config

    return await show_config(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import asyncio
    import logging

    from bot.cli import common
    from bot.config import env_warning, load_settings, unknown_env_names
    from bot.errors import DigestbotError
    from bot.logs import redact, setup_logging

    for name in unknown_env_names(os.environ):
        common.warn(env_warning(name))
    try:
        settings = load_settings(args.config)
    except DigestbotError as exc:
        common.err(str(exc))
        return exc.code
    log_file = common.log_file()
    setup_logging(
        settings.log_level,
        secrets=settings.secret_values(),
        debug=args.debug,
        log_file=log_file,
        short=args.command not in ("run", "web") and not args.debug,
    )
    try:
        if getattr(args, "needs_db", True):
            common.require_schema(settings.database_url)
        result: int = asyncio.run(args.handler(args, settings))
        return result
    except DigestbotError as exc:
        common.err(redact(str(exc)))
        return exc.code
    except KeyboardInterrupt:
        common.err("interrupted")
        return 130
    except Exception as exc:  # the last line of defence: log it, tell the user plainly
        from bot.store.failures import database_problem
        from bot.store.revision import describe

        problem = database_problem(exc, describe(settings.database_url))
        if problem is not None:
            logging.getLogger(__name__).debug("database trouble", exc_info=True)
            common.err(redact(problem))
            return 1
        logging.getLogger(__name__).exception("digestbot %s failed", args.command)
        where = "above" if args.debug else f"in {log_file}"
        common.err(
            redact(
                f"digestbot {args.command} failed unexpectedly ({type(exc).__name__}); the "
                f"details are {where} (run again with --debug to see them here)"
            )
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
