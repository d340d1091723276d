"""``python -m bot.sandbox telegram|x [--port N]``: serve a fake API until interrupted.

Prints the base URL (one line, flushed) once listening, e.g. for the demo or
subprocess tests: Telegram clients use ``f"{base}/bot"`` as PTB's base_url,
tweepy clients go through ``route_client(client, base)``.  Open ``{base}/_inbox``
in a browser to see what was posted (``/_inbox.json`` for scripts).

Telegram: ``--channel @name`` (repeatable) declares the channels the bot may
post to, ``--user ID`` the users who started it, ``--token`` the only token
accepted.  X: ``--consumer-key ... --access-token-secret`` (all four) make it
reject any other credentials with 401.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

from bot.sandbox.faults import FaultInjector, FaultKind
from bot.sandbox.server import HOST, running
from bot.sandbox.telegram_api import make_telegram_app
from bot.sandbox.telegram_state import TelegramState
from bot.sandbox.x_api import XState, make_x_app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("api", choices=["telegram", "x"])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--no-limits", action="store_true", help="lift rate limits")
    parser.add_argument("--seed", type=int, default=0, help="seed for random faults")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="probability of a random fault per request (split over all kinds)",
    )
    telegram = parser.add_argument_group("telegram")
    telegram.add_argument("--token", help="accept only this bot token (default: any)")
    telegram.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="@NAME|ID",
        help="a channel or group the bot is in (repeatable); others are 'chat not found'",
    )
    telegram.add_argument(
        "--user",
        action="append",
        type=int,
        default=[],
        metavar="ID",
        help="a user who started the bot (repeatable); others are 403",
    )
    x = parser.add_argument_group("x (all four or none; default: any credentials)")
    for key in X_CREDENTIALS:
        x.add_argument("--" + key.replace("_", "-"), dest=key, metavar="VALUE")
    return parser


X_CREDENTIALS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


def build_app(args: argparse.Namespace) -> web.Application:
    faults = FaultInjector(seed=args.seed)
    if args.fault_rate > 0:
        share = args.fault_rate / len(FaultKind)
        faults.probabilities = {kind: share for kind in FaultKind}
    if args.api == "telegram":
        state = TelegramState(
            limits_enabled=not args.no_limits,
            faults=faults,
            valid_tokens={args.token} if args.token else None,
            chats={int(c) if c.lstrip("-").isdigit() else c for c in args.channel},
            users=set(args.user),
        )
        return make_telegram_app(state)
    keys = {key: getattr(args, key) for key in X_CREDENTIALS}
    return make_x_app(XState(limits_enabled=not args.no_limits, faults=faults, **keys))


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(build_app(args), args.host, args.port) as base_url:
        print(base_url, flush=True)
        print(f"what was posted: {base_url}/_inbox (JSON: /_inbox.json)", file=sys.stderr)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    given = [getattr(args, key) is not None for key in X_CREDENTIALS]
    if any(given) and not all(given):
        parser.error("give all four X credentials or none")
    for channel in args.channel:
        if not (channel.startswith("@") and len(channel) > 1) and not channel.startswith("-"):
            parser.error(f"--channel {channel!r}: expected @name or a negative chat id")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
