"""``digestbot web``: receive Telegram updates through a webhook (see :mod:`bot.web.asgi`)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.config import Settings


def register(sub: Any) -> None:
    web = sub.add_parser(
        "web",
        help="receive Telegram updates through a webhook (ASGI server, behind HTTPS)",
        epilog="Needs DIGESTBOT_TELEGRAM__TOKEN, DIGESTBOT_TELEGRAM__WEBHOOK_URL and "
        "DIGESTBOT_TELEGRAM__WEBHOOK_SECRET. Several `web` processes may run at once.",
    )
    web.add_argument(
        "--host",
        help="interface to listen on (default: web.host; else 127.0.0.1, 0.0.0.0 with $PORT)",
    )
    web.add_argument(
        "--port", type=_port, help="TCP port to listen on (default: web.port, $PORT or 8080)"
    )
    web.set_defaults(handler=web_cmd)


async def web_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web.asgi import serve, web_config

    config = web_config(settings, host=args.host, port=args.port)
    await serve(config, settings)
    return 0


def _port(value: str) -> int:
    if not (value.isdigit() and 1 <= int(value) <= 65535):
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return int(value)
