"""X adapter: tweepy's v2 ``Client.create_tweet`` (sync, run in a thread; never
``wait_on_rate_limit``), routed to ``twitter.api_base_url``; errors classified."""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import tweepy

from bot.clock import Clock
from bot.config import TwitterSettings
from bot.publish.base import Outgoing, Permanent, RateLimited, Sent, Transient, Unauthorized
from bot.publish.x_session import route_client

TIMEOUT_SECONDS = 30.0


def make_client(settings: TwitterSettings) -> tweepy.Client:
    def secret(value: Any) -> str:
        return str(value.get_secret_value()) if value is not None else ""

    client = tweepy.Client(
        consumer_key=secret(settings.consumer_key),
        consumer_secret=secret(settings.consumer_secret),
        access_token=secret(settings.access_token),
        access_token_secret=secret(settings.access_token_secret),
        wait_on_rate_limit=False,
    )
    route_client(client, settings.api_base_url, timeout=TIMEOUT_SECONDS)
    return client


class XPublisher:
    name = "x"

    def __init__(self, client: tweepy.Client, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    async def send(self, destination: str, post: Outgoing) -> Sent:
        if post.x_text is None:  # twitter.link_fallback = skip: the dispatcher cancels these
            raise Permanent("this post is not for X (twitter.link_fallback = skip)")
        try:
            response = await asyncio.to_thread(
                self._client.create_tweet, text=post.x_text, user_auth=True
            )
        except tweepy.TooManyRequests as exc:
            raise RateLimited(_message(exc), self._retry_after(exc)) from None
        except tweepy.Unauthorized as exc:
            raise Unauthorized(
                f"X rejected the credentials ({_message(exc)}): check "
                "DIGESTBOT_TWITTER__CONSUMER_KEY, __CONSUMER_SECRET, __ACCESS_TOKEN and "
                "__ACCESS_TOKEN_SECRET"
            ) from None
        except tweepy.Forbidden as exc:
            if "duplicate" in _message(exc).lower():
                return Sent(None, duplicate=True)
            raise Permanent(_message(exc)) from None
        except tweepy.TwitterServerError as exc:
            raise Transient(_message(exc)) from None
        except tweepy.HTTPException as exc:  # 400, 401, 404 ...: the post or the keys are wrong
            raise Permanent(_message(exc)) from None
        except requests.ConnectTimeout:
            raise Transient("connect timed out", maybe_sent=False) from None
        except requests.Timeout as exc:
            raise Transient(f"timed out: {exc}", maybe_sent=True) from None
        except requests.RequestException as exc:
            raise Transient(f"connection failed: {type(exc).__name__}", maybe_sent=True) from None
        data = getattr(response, "data", None) or {}
        return Sent(str(data.get("id")) if data.get("id") else None)

    def _retry_after(self, exc: tweepy.TooManyRequests) -> float:
        # a requests.Response with an error status is falsy: compare with None
        response = exc.response
        reset = response.headers.get("x-rate-limit-reset") if response is not None else None
        try:
            return max(1.0, float(reset) - self._clock().timestamp()) if reset else 60.0
        except ValueError:
            return 60.0

    async def close(self) -> None:
        await asyncio.to_thread(self._client.session.close)


def _message(exc: tweepy.HTTPException) -> str:
    status = exc.response.status_code if exc.response is not None else "?"
    detail = "; ".join(exc.api_messages) if exc.api_messages else str(exc)
    return f"HTTP {status}: {detail}"
