"""What maintainer handlers reach: the use-case services the CLI calls too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from telegram import Update

from bot.errors import DigestbotError
from bot.services.audit import Actor
from bot.telegram.context import Context, user_texts
from bot.telegram.maintainer.texts import MaintTexts, maint_texts

if TYPE_CHECKING:
    from bot.app import Container
    from bot.services.audit import AuditService
    from bot.services.preview import PreviewService
    from bot.services.proposal import ProposalService
    from bot.services.queue import QueueService
    from bot.services.release import ReleaseService
    from bot.services.stats import StatsService
    from bot.services.status import StatusService
    from bot.services.uploads import UploadService


@dataclass(frozen=True, slots=True)
class MaintainerServices:
    """Built once by the composition root (``bot.app.build``)."""

    queue: QueueService
    status: StatusService
    audit: AuditService
    release: ReleaseService
    preview: PreviewService
    proposals: ProposalService
    uploads: UploadService
    stats: StatsService


class NotSetUp(DigestbotError):
    """Maintainer services were not given to this Application (a test or a tool)."""

    def __init__(self) -> None:
        super().__init__("Maintainer commands are not set up in this process.")


def services(context: Context) -> MaintainerServices:
    found = context.bot_data.maintainer
    if found is None:
        raise NotSetUp
    return found


def actor(update: Update) -> Actor:
    """The audit log's "who": the Telegram user (id + display name)."""
    user = update.effective_user
    if user is None:  # the auth check ran first: there is always a user
        return Actor.telegram(0, "?")
    name = user.full_name + (f" @{user.username}" if user.username else "")
    return Actor.telegram(user.id, name)


async def texts_for(update: Update, context: Context) -> MaintTexts:
    return maint_texts((await user_texts(update, context)).lang)


def maintainer_services(app: Container) -> MaintainerServices:
    """The maintainer's use cases from the composition root's services (built once there)."""
    from bot.services.status import StatusService

    return MaintainerServices(
        queue=app.queue,
        status=StatusService(app.sessions, app.settings, app.clock, app.real_clock),
        audit=app.audit,
        release=app.release,
        preview=app.preview,
        proposals=app.proposals,
        uploads=app.uploads,
        stats=app.stats,
    )
