"""Repository URLs and their credentials, kept apart. Pure: messages, diff views and fetches share it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class RepoURL:
    """A repository URL apart from the credentials it may carry.

    `shown` (no user, no password) is what messages print; `fetch` is what libgit2 is given (an
    ssh user kept: ssh needs one); `username`/`password` reach libgit2 only through the credentials
    callback of one fetch, so they are never written to the cached repository's config.
    """

    shown: str
    fetch: str
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> RepoURL:
        m = re.match(r"^([\w.-]+)@([\w.-]+):(.*)$", url)  # scp-like user@host:path: ssh, no password
        if m and "://" not in url:
            return cls(shown=url, fetch=url, username=m.group(1))
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return cls(shown=url, fetch=url)
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user, has_password, password = userinfo.partition(":")
        # An ssh user name is no secret and ssh needs it; over https the user is often a token.
        keep_user = f"{user}@" if parts.scheme.startswith("ssh") and user else ""
        clean = parts._replace(netloc=keep_user + hostport).geturl()
        return cls(shown=clean, fetch=clean, username=unquote(user) or None,
                   password=unquote(password) if has_password else None)
