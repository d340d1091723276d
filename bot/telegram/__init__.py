"""python-telegram-bot handlers for subscribers: commands, buttons, inline mode, errors.

``install(application, services)`` adds them to an Application; ``publish_commands(bot)``
registers the command menu in English and Chinese.
"""

from bot.telegram.context import Context, Services
from bot.telegram.setup import ALLOWED_UPDATES, install, publish_commands

__all__ = ["ALLOWED_UPDATES", "Context", "Services", "install", "publish_commands"]
