"""Maintainer control from Telegram: queue verbs, previews, import, status, stats, audit and
failure alerts with buttons. Every handler checks ``telegram.maintainer_ids`` first (fail
closed); the use cases are the services the CLI calls.

``install(application, services)`` adds the handlers; ``publish_commands(bot, ids)`` puts the
maintainer commands in each maintainer's command menu.
"""

from bot.telegram.maintainer.context import MaintainerServices
from bot.telegram.maintainer.setup import COMMANDS, handlers, install, publish_commands

__all__ = ["COMMANDS", "MaintainerServices", "handlers", "install", "publish_commands"]
