"""Webhook mode (``digestbot web``): Telegram posts each update to an ASGI app
(:mod:`bot.web.asgi`, Starlette served by uvicorn) instead of the bot long-polling for it."""
