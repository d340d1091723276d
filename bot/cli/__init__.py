"""The ``digestbot`` command line: parse arguments, call services, print (rich or --json)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.cli import archive, common, database, demo, publishing, queue
from bot.config import ConfigError, load_settings
from bot.logs import setup_logging

COMMANDS = (database, archive, queue, publishing, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digestbot",
        description="Archive, search and drip a weekly machine-learning digest.",
    )
    parser.add_argument("--config", help="TOML settings file (default: $DIGESTBOT_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config = sub.add_parser("config", help="print the effective settings (secrets masked)")
    config.add_argument("--json", action="store_true")
    config.set_defaults(handler=common.show_config, needs_db=False)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        common.err(str(exc))
        return 2
    setup_logging(settings.log_level)
    try:
        if getattr(args, "needs_db", True):
            common.require_schema(settings.database_url)
        result: int = asyncio.run(args.handler(args, settings))
        return result
    except common.UserError as exc:
        common.err(str(exc))
        return exc.code
    except KeyboardInterrupt:
        common.err("interrupted")
        return 130
    except Exception:  # the last line of defence: log it, tell the user plainly
        logging.getLogger(__name__).exception("digestbot %s failed", args.command)
        common.err(f"digestbot {args.command} failed unexpectedly; the log above has details")
        return 1


if __name__ == "__main__":
    sys.exit(main())
