"""An HTTP client signed in to a binwatch service, for the command-line tools that talk to it
(`binwatch models`, `binwatch retrain`): a bearer token, or a user whose password comes from
BINWATCH_PASSWORD or the first line of stdin."""

from __future__ import annotations

import os
import sys
from typing import Any


def signed_in(url: str, user: str, token: str | None, password_stdin: bool, timeout: float) -> Any:
    import httpx

    client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
    if token is None:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = os.environ.get("BINWATCH_PASSWORD", "")
        if not password:
            client.close()
            raise SystemExit(
                "no password: set BINWATCH_PASSWORD, or pass --password-stdin or --token"
            )
        made = client.post("/api/v1/auth/login", json={"username": user, "password": password})
        if made.status_code != 200:
            client.close()
            raise SystemExit(f"cannot sign in to {url} as {user}: {made.text}")
        token = made.json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client
