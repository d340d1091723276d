"""Publishing: the outbox dispatcher's contract and thin adapters for X, Telegram, console."""
