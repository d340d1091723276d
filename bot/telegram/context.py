"""The typed context handlers receive: ``context.bot_data`` is the :class:`Services`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from telegram import Update
from telegram.ext import CallbackContext, ExtBot

from bot.clock import Clock
from bot.config import Settings
from bot.services.archive import ArchiveService
from bot.services.browse import BrowseService
from bot.services.subscribers import SubscriberService, language_from_code
from bot.telegram.memo import ReplyMemo
from bot.telegram.texts import Lang, Texts, texts

if TYPE_CHECKING:
    from bot.telegram.maintainer.context import MaintainerServices


@dataclass(frozen=True, slots=True)
class Services:
    """What handlers reach through the typed context (``context.bot_data``)."""

    archive: ArchiveService
    browse: BrowseService
    subscribers: SubscriberService
    settings: Settings
    clock: Clock
    maintainer: MaintainerServices | None = None  # the maintainer commands' use cases
    replies: ReplyMemo = field(default_factory=ReplyMemo)  # HTML of kept answers


Context: TypeAlias = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], Services]

_LANG_KEY = "lang"


def remember_language(context: Context, lang: str) -> None:
    if context.user_data is not None:
        context.user_data[_LANG_KEY] = lang


def cached_language(update: object, context: Context) -> Lang:
    """The language without touching the database (for the error handler)."""
    if context.user_data is not None and context.user_data.get(_LANG_KEY) in ("en", "zh"):
        return "zh" if context.user_data[_LANG_KEY] == "zh" else "en"
    user = update.effective_user if isinstance(update, Update) else None
    return language_from_code(user.language_code if user else None)


async def user_texts(update: Update, context: Context) -> Texts:
    """The user's language: chosen in /settings, else their Telegram language (cached)."""
    if context.user_data is not None and _LANG_KEY in context.user_data:
        return texts(context.user_data[_LANG_KEY])
    user = update.effective_user
    if user is None:
        return texts("en")
    found = await context.bot_data.subscribers.get(user.id)
    lang = found.language if found is not None else language_from_code(user.language_code)
    remember_language(context, lang)
    return texts(lang)
