"""OAuth 1.0a (RFC 5849) ``Authorization`` header parsing and HMAC-SHA1 checking.

Used by the fake X server to verify what tweepy (via requests-oauthlib) signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

REQUIRED = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_version",
    "oauth_signature",
)


class OAuthError(ValueError):
    """The Authorization header is missing, malformed or wrongly signed."""


def encode(value: str) -> str:
    """RFC 5849 section 3.6 percent-encoding."""
    return quote(value, safe="~")


def parse_header(header: str | None) -> dict[str, str]:
    """Parse ``OAuth k="v", ...`` into decoded parameters; check the required ones."""
    if not header or not header.startswith("OAuth "):
        raise OAuthError("missing OAuth Authorization header")
    params: dict[str, str] = {}
    for part in header[len("OAuth ") :].split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or len(value) < 2 or value[0] != '"' or value[-1] != '"':
            raise OAuthError(f"malformed OAuth parameter {key!r}")
        params[unquote(key)] = unquote(value[1:-1])
    missing = [name for name in REQUIRED if not params.get(name)]
    if missing:
        raise OAuthError(f"missing {', '.join(missing)}")
    if params["oauth_signature_method"] != "HMAC-SHA1":
        raise OAuthError("unsupported oauth_signature_method")
    if params["oauth_version"] != "1.0":
        raise OAuthError("unsupported oauth_version")
    if not params["oauth_timestamp"].isdigit():
        raise OAuthError("bad oauth_timestamp")
    return params


def base_string_uri(url: str) -> str:
    """Scheme and host lower-cased, default port dropped, no query (section 3.4.1.2)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def signature_base(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    skip = ("oauth_signature", "realm")
    pairs = sorted((encode(k), encode(v)) for k, v in params if k not in skip)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), encode(base_string_uri(url)), encode(normalized)))


def sign(base: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{encode(consumer_secret)}&{encode(token_secret)}".encode()
    digest = hmac.new(key, base.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(
    method: str,
    urls: Iterable[str],
    oauth: dict[str, str],
    extra_params: Iterable[tuple[str, str]],
    consumer_secret: str,
    token_secret: str,
) -> bool:
    """True if the signature matches for any of the candidate request URLs."""
    params = [*oauth.items(), *extra_params]
    expected = oauth["oauth_signature"]
    for url in urls:
        computed = sign(signature_base(method, url, params), consumer_secret, token_secret)
        if hmac.compare_digest(computed, expected):
            return True
    return False
