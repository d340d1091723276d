"""Public links to posts we published, from the ids the platforms gave back."""

from __future__ import annotations


def x_post_link(remote_id: str | None) -> str | None:
    """``https://x.com/i/status/<id>`` (works whatever the account's handle)."""
    if not remote_id or not remote_id.isdigit():
        return None
    return f"https://x.com/i/status/{remote_id}"


def telegram_channel_link(channel_id: str | None, message_id: str | None) -> str | None:
    """A public channel ``@name`` -> ``https://t.me/name/<id>``; a private channel's numeric
    ``-100<n>`` -> ``https://t.me/c/<n>/<id>`` (members only). Other chats have no link."""
    if not channel_id or not message_id or not message_id.isdigit():
        return None
    if channel_id.startswith("@") and len(channel_id) > 1:
        return f"https://t.me/{channel_id[1:]}/{message_id}"
    internal = channel_id.removeprefix("-100")
    if channel_id.startswith("-100") and internal.isdigit():
        return f"https://t.me/c/{internal}/{message_id}"
    return None
