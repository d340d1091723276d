"""The fake X API v2, driven by the real tweepy client through route_client."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
import requests
import tweepy
from requests_oauthlib import OAuth1  # type: ignore[import-untyped]

from bot.publish.x_session import RewritingAdapter, route_client
from bot.sandbox import Fault, FaultKind, XState, make_x_app, running
from bot.sandbox.clock import FakeClock
from tests.integration.conftest import X_KEYS, make_x_state


def routed(base_url: str, **overrides: str) -> tweepy.Client:
    client = tweepy.Client(**{**X_KEYS, **overrides})
    route_client(client, base_url)
    return client


def test_create_tweet_returns_id(x_client: tweepy.Client, x_state: XState) -> None:
    response = x_client.create_tweet(text="Attention is still all you need.")
    tweet_id = response.data["id"]
    assert tweet_id.isdigit()
    assert response.data["edit_history_tweet_ids"] == [tweet_id]
    [post] = x_state.posts
    assert (post.id, post.text, post.account) == (
        tweet_id,
        "Attention is still all you need.",
        X_KEYS["access_token"],
    )
    reply = x_client.create_tweet(text="thread 2/2", in_reply_to_tweet_id=tweet_id)
    assert x_state.posts[-1].body["reply"] == {"in_reply_to_tweet_id": tweet_id}
    assert reply.data["id"] != tweet_id


def test_duplicate_content_is_forbidden(x_client: tweepy.Client, x_state: XState) -> None:
    x_client.create_tweet(text="same words")
    with pytest.raises(tweepy.errors.Forbidden, match="duplicate content"):
        x_client.create_tweet(text="same words")
    assert x_state.texts() == ["same words"]


@pytest.mark.parametrize("text", ["a" * 281, "あ" * 141, ""])
def test_too_long_or_empty_is_bad_request(
    x_client: tweepy.Client, x_state: XState, text: str
) -> None:
    with pytest.raises(tweepy.errors.BadRequest):
        x_client.create_tweet(text=text)
    assert x_state.posts == []


@pytest.mark.parametrize(
    "text",
    ["a" * 280, "あ" * 140, "see https://example.com/" + "p" * 300],  # URLs weigh 23
)
def test_weighted_length_limit_is_inclusive(x_client: tweepy.Client, text: str) -> None:
    assert x_client.create_tweet(text=text).data["text"] == text


def test_unknown_body_field_is_rejected(x_client: tweepy.Client) -> None:
    with pytest.raises(tweepy.errors.BadRequest, match="not defined in the schema"):
        x_client.request("POST", "/2/tweets", json={"text": "x", "txet": "y"}, user_auth=True)


def test_rate_limit_window_and_headers(
    x_base_url: str, x_state: XState, fake_clock: FakeClock
) -> None:
    x_state.buckets["POST /2/tweets"].limit = 2
    client = tweepy.Client(**X_KEYS, return_type=requests.Response)
    route_client(client, x_base_url)
    first = client.create_tweet(text="one")
    assert first.status_code == 201
    assert first.headers["x-rate-limit-limit"] == "2"
    assert first.headers["x-rate-limit-remaining"] == "1"
    reset = int(fake_clock() + 24 * 3600)
    assert first.headers["x-rate-limit-reset"] == str(reset)
    client.create_tweet(text="two")
    with pytest.raises(tweepy.errors.TooManyRequests) as info:
        client.create_tweet(text="three")
    assert info.value.response.headers["x-rate-limit-reset"] == str(reset)
    assert info.value.response.headers["x-rate-limit-remaining"] == "0"
    fake_clock.advance(24 * 3600)
    assert client.create_tweet(text="three").status_code == 201
    assert x_state.texts() == ["one", "two", "three"]


def test_injected_rate_limit(
    x_client: tweepy.Client, x_state: XState, fake_clock: FakeClock
) -> None:
    x_client.create_tweet(text="before")
    x_state.faults.push(Fault(FaultKind.RATE_LIMIT, retry_after=900))
    with pytest.raises(tweepy.errors.TooManyRequests) as info:
        x_client.create_tweet(text="after")
    assert info.value.response.headers["x-rate-limit-reset"] == str(int(fake_clock() + 900))
    fake_clock.advance(900)
    x_client.create_tweet(text="after")
    assert x_state.texts() == ["before", "after"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"consumer_secret": "wrong"},
        {"access_token_secret": "wrong"},
        {"consumer_key": "other-app"},
    ],
)
def test_bad_credentials_are_unauthorized(
    x_base_url: str, x_state: XState, overrides: dict[str, str]
) -> None:
    with pytest.raises(tweepy.errors.Unauthorized):
        routed(x_base_url, **overrides).create_tweet(text="x")
    assert x_state.posts == [] and x_state.rejected[-1].status == 401


def test_signature_is_checked_against_the_original_url(
    x_client: tweepy.Client, x_state: XState
) -> None:
    x_state.signed_base_url = "https://api.x.com"  # tweepy signed api.twitter.com
    with pytest.raises(tweepy.errors.Unauthorized):
        x_client.create_tweet(text="x")
    x_state.signed_base_url = "https://api.twitter.com"
    x_client.create_tweet(text="x")


def test_bearer_only_and_replayed_requests_are_unauthorized(x_base_url: str) -> None:
    bearer = tweepy.Client(bearer_token="app-only")
    route_client(bearer, x_base_url)
    with pytest.raises(tweepy.errors.Unauthorized):
        bearer.create_tweet(text="x", user_auth=False)
    session = requests.Session()
    session.mount(
        "https://api.twitter.com/", RewritingAdapter("https://api.twitter.com", x_base_url)
    )
    auth = OAuth1(
        X_KEYS["consumer_key"],
        X_KEYS["consumer_secret"],
        X_KEYS["access_token"],
        X_KEYS["access_token_secret"],
    )
    prepared = session.prepare_request(
        requests.Request(
            "POST", "https://api.twitter.com/2/tweets", json={"text": "once"}, auth=auth
        )
    )
    assert session.send(prepared).status_code == 201
    assert session.send(prepared).status_code == 401  # same nonce and timestamp: a replay


def test_faults(x_client: tweepy.Client, x_state: XState) -> None:
    x_state.faults.push(
        Fault(FaultKind.SERVER_ERROR), Fault(FaultKind.DROP), Fault(FaultKind.ACCEPT_THEN_DROP)
    )
    with pytest.raises(tweepy.errors.TwitterServerError):
        x_client.create_tweet(text="one")
    with pytest.raises(requests.ConnectionError):
        x_client.create_tweet(text="one")
    assert x_state.posts == []
    with pytest.raises(requests.ConnectionError):
        x_client.create_tweet(text="one")
    assert x_state.texts() == ["one"]  # accepted although the client saw an error
    with pytest.raises(tweepy.errors.Forbidden, match="duplicate content"):
        x_client.create_tweet(text="one")  # a naive retry is caught as a duplicate


def test_users_me_and_delete(x_client: tweepy.Client, x_state: XState) -> None:
    me = x_client.get_me(user_auth=True)
    assert me.data.username == x_state.user["username"]
    tweet_id = x_client.create_tweet(text="to delete").data["id"]
    assert x_client.delete_tweet(tweet_id).data == {"deleted": True}
    with pytest.raises(tweepy.errors.NotFound):
        x_client.delete_tweet(tweet_id)
    x_client.create_tweet(text="to delete")  # no longer a duplicate


def test_route_client_is_noop_for_default_url() -> None:
    client = tweepy.Client(**X_KEYS)
    before = dict(client.session.adapters)
    route_client(client, "https://api.twitter.com/")
    assert client.session.adapters == before
    with pytest.raises(ValueError):
        route_client(client, "ftp://example.com")


def test_rewriting_adapter_keeps_path_and_query() -> None:
    adapter = RewritingAdapter("https://api.twitter.com", "http://127.0.0.1:9/x")
    assert adapter.rewrite("https://api.twitter.com/2/users/me?user.fields=id") == (
        "http://127.0.0.1:9/x/2/users/me?user.fields=id"
    )
    assert adapter.rewrite("https://api.twitter.com.evil/2") == "https://api.twitter.com.evil/2"


async def test_async_runner_with_tweepy_in_a_thread(fake_clock: FakeClock) -> None:
    state = make_x_state(fake_clock)
    async with running(make_x_app(state)) as base:
        client = routed(base)
        response = await asyncio.to_thread(client.create_tweet, text="from a thread")
    assert state.posts[0].id == response.data["id"]


def test_inbox_shows_the_tweets_as_html_and_json(
    x_client: tweepy.Client, x_base_url: str, x_state: XState
) -> None:
    first = x_client.create_tweet(
        text='Diffusion <b>"fast"</b> & small: https://arxiv.org/abs/2010.02502'
    )
    second = x_client.create_tweet(text="line one\nline two", in_reply_to_tweet_id=first.data["id"])
    removed = x_client.create_tweet(text="removed")
    x_client.delete_tweet(removed.data["id"])
    data = httpx.get(f"{x_base_url}/_inbox.json").json()
    assert data["user"]["username"] == x_state.user["username"]
    assert [t["id"] for t in data["tweets"]] == [first.data["id"], second.data["id"]]
    assert data["tweets"][1]["in_reply_to"] == first.data["id"]
    assert data["tweets"][0]["html"] == (
        'Diffusion &lt;b&gt;"fast"&lt;/b&gt; &amp; small: '
        '<a href="https://arxiv.org/abs/2010.02502" rel="nofollow noopener">'
        "arxiv.org/abs/2010.02502</a>"
    )
    page = httpx.get(f"{x_base_url}/_inbox")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<b>"fast"' not in page.text and "&lt;b&gt;" in page.text
    assert page.text.index("line one") < page.text.index("Diffusion")  # newest first
    assert "removed" not in page.text and "2 post(s)" in page.text


@pytest.mark.slow
def test_module_main_x_with_credentials_and_inbox() -> None:
    options = [f"--{key.replace('_', '-')}={value}" for key, value in X_KEYS.items()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox", "x", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert routed(base).create_tweet(text="from the CLI sandbox").data["id"]
        with pytest.raises(tweepy.errors.Unauthorized):
            routed(base, access_token_secret="wrong").create_tweet(text="refused")
        tweets = httpx.get(f"{base}/_inbox.json").json()["tweets"]
        assert [t["text"] for t in tweets] == ["from the CLI sandbox"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
