"""``python -m tests.e2e.cluster_worker``: the worker of ``digestbot run`` (``run_worker``: the
scheduler, the dispatcher, webhook mode so it never polls) on the cluster test's shared
simulated clock (:class:`tests.e2e.cluster.SharedClock`, file named by ``CLUSTER_CLOCK_FILE``).

``digestbot run`` reads the system clock, and a frozen ``--now`` per process would give four
processes four timelines; this entry point is the same worker with one clock they all share
(and the fakes too), so a week can be travelled in jumps while the pace stays real."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


def main() -> int:
    from bot.cli.common import log_file
    from bot.config import load_settings
    from bot.logs import setup_logging
    from bot.worker import run_worker
    from tests.e2e.cluster import SharedClock

    settings = load_settings()
    setup_logging(
        settings.log_level, secrets=settings.secret_values(), log_file=log_file(), short=False
    )
    clock = SharedClock(Path(os.environ["CLUSTER_CLOCK_FILE"]))
    asyncio.run(run_worker(settings, clock=clock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
