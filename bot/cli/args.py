"""Argument types and checks shared by the commands."""

from __future__ import annotations

import argparse

from bot.cli.common import UserError

MAX_ID = 2**63 - 1  # the largest id SQLite and PostgreSQL can store (signed 64-bit)


def require_post_id(value: int) -> int:
    """An id no post can have (0, negative, beyond 64 bits) is "no post with id N", exit 1,
    before it reaches the database (where a huge one overflows)."""
    if not 1 <= value <= MAX_ID:
        raise UserError(f"no post with id {value}")
    return value


def positive_int(value: str) -> int:
    """argparse type for counts such as ``--limit``."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= number <= MAX_ID:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_ID:,}, not {number}")
    return number
