"""``python -m bot.sandbox telegram|x [--port N]``: serve a fake API until interrupted.

Prints the base URL (one line, flushed) once listening, e.g. for the demo or
subprocess tests: Telegram clients use ``f"{base}/bot"`` as PTB's base_url,
tweepy clients go through ``route_client(client, base)``.
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
    return parser


def build_app(args: argparse.Namespace) -> web.Application:
    faults = FaultInjector(seed=args.seed)
    if args.fault_rate > 0:
        share = args.fault_rate / len(FaultKind)
        faults.probabilities = {kind: share for kind in FaultKind}
    if args.api == "telegram":
        return make_telegram_app(TelegramState(limits_enabled=not args.no_limits, faults=faults))
    return make_x_app(XState(limits_enabled=not args.no_limits, faults=faults))


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(build_app(args), args.host, args.port) as base_url:
        print(base_url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
