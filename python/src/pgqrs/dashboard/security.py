"""Who may see the dashboard and what a request may do.

- **Token.** With an auth token (``--auth-token`` or ``PGQRS_DASHBOARD_TOKEN``;
  required for any bind that is not a loopback address) every request but the
  login page and the static files must carry it: ``Authorization: Bearer TOKEN``
  (the JSON endpoints, health checks), or the session cookie that ``POST /login``
  sets (a browser). The cookie holds a digest of the token, never the token.
- **Host.** Without a token (a loopback bind) only requests addressed to a
  loopback name are served, so that a web page elsewhere cannot reach the
  dashboard through a DNS name that points at 127.0.0.1.
- **CSRF.** Every POST carries the process's CSRF token (a hidden form field) and,
  when the browser sends an Origin, comes from the dashboard's own origin.
- **Headers.** No framing, no inline script, no caching of pages.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

__all__ = [
    "SESSION_COOKIE",
    "Guard",
    "is_loopback_host",
    "SECURITY_HEADERS",
]

SESSION_COOKIE = "pgqrs_dashboard"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer would make browsers send "Origin: null" on form posts
}


def is_loopback_host(host: str) -> bool:
    """Whether a bind address or a Host header's name is a loopback one (localhost, 127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name of a Host header, without its port ("[::1]:8080" -> "::1")."""
    header = header.strip()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """The checks, with the secrets of one dashboard process."""

    def __init__(self, auth_token: str | None) -> None:
        self.auth_token = auth_token or None
        self.csrf_token = secrets.token_urlsafe(32)
        self._session = (
            hashlib.sha256(b"pgqrs-dashboard-session\0" + self.auth_token.encode()).hexdigest()
            if self.auth_token
            else None
        )

    @property
    def session_value(self) -> str:
        """The session cookie's value (a digest of the token)."""
        assert self._session is not None
        return self._session

    def token_matches(self, candidate: str) -> bool:
        return self.auth_token is not None and hmac.compare_digest(candidate.encode(), self.auth_token.encode())

    def authorized(self, authorization: str | None, cookie: str | None) -> bool:
        """Whether a request may be served: always without a token, else with the token or the session."""
        if self.auth_token is None:
            return True
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and self.token_matches(value.strip()):
                return True
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.session_value.encode())

    def host_allowed(self, host_header: str | None) -> bool:
        """Without a token, only loopback names; with one, any (the token is the check)."""
        if self.auth_token is not None:
            return True
        return host_header is not None and is_loopback_host(_host_name(host_header))

    def csrf_ok(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(submitted.encode(), self.csrf_token.encode())

    @staticmethod
    def same_origin(origin: str | None, host_header: str | None) -> bool:
        """An Origin header, when there is one, must name the host the request was sent to."""
        if origin is None:
            return True
        if origin == "null" or host_header is None:
            return False
        _, _, rest = origin.partition("://")
        return rest.rstrip("/").lower() == host_header.strip().lower()
