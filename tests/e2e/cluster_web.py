"""``python -m tests.e2e.cluster_web --host H --port P``: ``digestbot web`` (``bot.web.asgi.serve``)
on the cluster test's shared simulated clock (:class:`tests.e2e.cluster.SharedClock`, file named
by ``CLUSTER_CLOCK_FILE``), like :mod:`tests.e2e.cluster_worker` for the workers.

``digestbot web`` reads the system clock: its replies' stamps in the shared Telegram budget would
then lie days before (or after) the workers' slots on the simulated timeline, and neither side
would see the other. On one clock the web processes' replies and the workers' broadcast share
one budget, as they do in production where every process reads the same real time."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path


def main() -> int:
    from bot.cli.common import log_file
    from bot.config import load_settings
    from bot.logs import setup_logging
    from bot.web.asgi import serve, web_config
    from tests.e2e.cluster import SharedClock

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = load_settings()
    setup_logging(
        settings.log_level, secrets=settings.secret_values(), log_file=log_file(), short=False
    )
    clock = SharedClock(Path(os.environ["CLUSTER_CLOCK_FILE"]))
    config = web_config(settings, host=args.host, port=args.port)
    asyncio.run(serve(config, settings, clock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
