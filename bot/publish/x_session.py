"""Point a ``tweepy.Client`` at another X API base URL (e.g. the sandbox).

tweepy 4.x hard-codes ``host = "https://api.twitter.com"`` in
``Client.request`` and sends through ``self.session`` (a ``requests.Session``)
with ``auth=OAuth1(...)``.  requests applies the auth while *preparing* the
request, i.e. the OAuth 1.0a signature is computed over the original
``https://api.twitter.com/...`` URL; only afterwards does ``Session.send`` pick
the transport adapter by URL prefix.  :func:`route_client` mounts an adapter
for that prefix that swaps scheme/host/base path for ``api_base_url`` (keeping
path and query) right before sending.  The signature therefore stays the one
for the real URL; the sandbox verifies it against ``https://api.twitter.com``
(see ``XState.signed_base_url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

DEFAULT_API_BASE_URL = "https://api.twitter.com"


class RewritingAdapter(HTTPAdapter):
    """HTTPAdapter that re-targets requests from `source` to `target` before sending."""

    def __init__(
        self, source: str, target: str, trust_env: bool = True, timeout: float | None = None
    ) -> None:
        super().__init__()
        self.source = source.rstrip("/")
        self.target = target.rstrip("/")
        self.trust_env = trust_env
        self.timeout = timeout  # tweepy sends without a timeout; never wait forever

    def rewrite(self, url: str) -> str:
        if url.lower().startswith(self.source.lower() + "/"):
            return self.target + url[len(self.source) :]
        return url

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        original = request.url or ""
        rewritten = self.rewrite(original)
        if rewritten != original:
            request = request.copy()
            request.url = rewritten
            # proxies were resolved for the original host; resolve them for the new one
            proxies = get_environ_proxies(rewritten) if self.trust_env else {}
        return super().send(
            request,
            stream=stream,
            timeout=timeout if timeout is not None else self.timeout,
            verify=verify,
            cert=cert,
            proxies=dict(proxies or {}),
        )


def route_client(client: tweepy.Client, api_base_url: str, timeout: float | None = None) -> None:
    """Send `client`'s API calls to `api_base_url` instead of https://api.twitter.com.

    For the default URL only the ``timeout`` (if given) is applied. `api_base_url` may carry
    a path prefix
    (``http://127.0.0.1:8080/x`` turns ``/2/tweets`` into ``/x/2/tweets``).
    """
    target = api_base_url.rstrip("/")
    if target.lower() == DEFAULT_API_BASE_URL:
        if timeout is not None:
            adapter = RewritingAdapter(target, target, client.session.trust_env, timeout)
            client.session.mount(DEFAULT_API_BASE_URL + "/", adapter)
        return
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) base URL: {api_base_url!r}")
    session: requests.Session = client.session
    adapter = RewritingAdapter(
        DEFAULT_API_BASE_URL, target, trust_env=session.trust_env, timeout=timeout
    )
    session.mount(DEFAULT_API_BASE_URL + "/", adapter)
