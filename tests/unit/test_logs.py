from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFilter, redact, setup_logging

TOKEN = "123456789:AAHsandboxTokenForTests_0123456789ab"


def test_redact_masks_bot_tokens_in_urls_and_text() -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    assert redact(url) == "https://api.telegram.org/bot<token>/sendMessage"
    assert TOKEN not in redact(f"token={TOKEN} again {TOKEN}")


def test_log_records_never_carry_the_token(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("calling %s", f"https://api.telegram.org/bot{TOKEN}/getMe")
    assert TOKEN not in caplog.text and "bot<token>/getMe" in caplog.text


def test_http_loggers_are_kept_at_warning() -> None:
    # tests/conftest.py's autouse _restore_logging puts the root handlers and levels back
    setup_logging("DEBUG")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING
    [console] = logging.getLogger().handlers
    assert any(isinstance(f, RedactingFilter) for f in console.filters)


def test_logging_is_restored_after_a_test_that_set_it_up() -> None:
    # runs after the test above: pytest's capture handlers are back, the console one is gone
    assert not any(
        isinstance(f, RedactingFilter) for h in logging.getLogger().handlers for f in h.filters
    )
    assert logging.getLogger("httpx").level == logging.NOTSET
