"""A real OpenID provider on loopback for the sign-in stories (tests/test_sso_*.py).

panva's oidc-provider (certified by the OpenID Foundation), pinned in
tests/oidc_provider/package.json and installed by ``npm ci`` there (tests/services.sh
does it; ``make test`` runs that). One provider per test process, started once the live
server's address is known, since its client's redirect URIs name that address.
Locally a missing node or provider skips; under CI=true it fails (conftest.py).

Also here: ``forging_provider``, a fake *token endpoint* in front of the real provider,
for the refused-token stories the real provider cannot produce by itself (a token signed
with a key it does not have, or a token it issued that is handed to the wrong flow).
Everything else of the forging provider (authorization, keys, UserInfo) is the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.test.utils import override_settings
from joserfc.jwk import RSAKey

from tests.conftest import missing_service

CLIENT_ID = "securedrive"
CLIENT_SECRET = "securedrive-test-client-secret"
OTHER_CLIENT_ID = "other-application"
OTHER_CLIENT_SECRET = "other-application-test-secret"
STRONG_ACR = "eidas1"
WEAK_ACR = "urn:securedrive:test:password"
START_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OpenIDProvider:
    issuer: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def admin(self, hook: str, **body: Any) -> dict[str, Any]:
        response = requests.post(f"{self.issuer}/admin/{hook}", json=body, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = requests.get(f"{self.issuer}/admin/stats", timeout=10).json()
        return result

    def account(self, *, login: str, sub: str, email: str, name: str = "", **claims: Any) -> None:
        self.admin("account", login=login, sub=sub, email=email, name=name or email, claims=claims)

    def assurance(self, acr: str, amr: list[str] | None = None) -> None:
        self.admin("assurance", acr=acr, amr=amr or [])

    def settings_for(self, slug: str = "test", **overrides: Any) -> dict[str, Any]:
        return {
            "name": "Test provider",
            "issuer": self.issuer,
            "discovery_url": f"{self.issuer}/.well-known/openid-configuration",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": "openid email profile",
            "acr_values": "",
            "accepted_acr": [STRONG_ACR],
            "accepted_amr": [],
            "create_accounts": False,
            "email_claim": "email",
            "require_email_verified": True,
            **overrides,
        }


@pytest.fixture(scope="session")
def oidc_provider_process(
    live_server: Any, service_url: Callable[[str], str]
) -> Iterator[OpenIDProvider]:
    provider_dir = Path(service_url("oidc_provider"))
    node = shutil.which("node")
    if node is None:
        missing_service("node is not installed (the test OpenID provider runs on it)")
    if not (provider_dir / "node_modules" / "oidc-provider").is_dir():
        missing_service("the test OpenID provider is not installed (npm ci in tests/oidc_provider)")
    port = _free_port()
    process = subprocess.Popen(
        [str(node), "server.js", str(port), live_server.url],
        cwd=provider_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NODE_ENV": "test"},
    )
    provider = OpenIDProvider(issuer=f"http://127.0.0.1:{port}", process=process)
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    ready = False
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        provider.output.append(line)
        if line.startswith("ready "):
            ready = True
            break
    if not ready:
        process.kill()
        pytest.fail(f"the test OpenID provider did not start: {''.join(provider.output)}")

    def drain() -> None:  # keeps the pipe from filling up; read on failure
        assert process.stdout is not None
        for line in process.stdout:
            provider.output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    yield provider
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def oidc_provider(oidc_provider_process: OpenIDProvider) -> Iterator[OpenIDProvider]:
    """The provider, configured in SecureDrive as "test" (e-CPS-like acr accepted)."""
    provider = oidc_provider_process
    provider.assurance(WEAK_ACR, ["pwd"])
    with override_settings(OIDC_PROVIDERS={"test": provider.settings_for()}):
        yield provider


# --- Walking through the provider without a browser -----------------------------------------


def provider_flow(
    http: requests.Session,
    url: str,
    *,
    login: str,
    stop_before: Callable[[str], bool] | None = None,
) -> requests.Response:
    """Follow redirects from ``url`` as a browser would, typing ``login`` into the
    provider's sign-in form. With ``stop_before``, the redirect whose target it accepts
    is returned unfollowed (to replay or delay a callback)."""
    response = http.get(url, allow_redirects=False, timeout=10)
    for _hop in range(20):
        if response.status_code not in (301, 302, 303, 307, 308) or is_callback(response.url):
            # Where SecureDrive sends the person after the callback is the story's end.
            return response
        target = urljoin(response.url, response.headers["Location"])
        if stop_before is not None and stop_before(target):
            return response
        path = urlsplit(target).path
        if path.startswith("/interaction/"):
            http.get(target, timeout=10).raise_for_status()
            response = http.post(
                f"{target.rstrip('/')}/login",
                data={"login": login},
                allow_redirects=False,
                timeout=10,
            )
            continue
        response = http.get(target, allow_redirects=False, timeout=10)
    raise AssertionError("too many redirects")


def is_callback(target: str) -> bool:
    return "/sso/" in target and "/callback/" in target


# --- A fake token endpoint in front of the real provider ------------------------------------


@dataclass
class Forgery:
    """What the fake token endpoint does to the real provider's answer: ``replace``
    receives the real token response and returns the id_token to hand over."""

    replace: Callable[[dict[str, Any]], str] | None = None
    real_responses: list[dict[str, Any]] = field(default_factory=list)
    # A key SecureDrive trusts as the provider's (the metadata then names a key set of
    # the fake's: the real keys and this one), for the claims a genuine signature would
    # carry only from a broken or hostile provider.
    trusted_key: RSAKey | None = None


@pytest.fixture
def forging_provider(oidc_provider: OpenIDProvider) -> Iterator[Forgery]:
    """SecureDrive's provider "forged": the real provider's metadata, authorization,
    keys and UserInfo, but a token endpoint of the test's that forwards the code
    exchange to the real one and may swap the ID token in its answer."""
    real_metadata = requests.get(
        f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=10
    ).json()
    forgery = Forgery()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith("/jwks"):
                real_keys = requests.get(real_metadata["jwks_uri"], timeout=10).json()["keys"]
                own = [forgery.trusted_key.as_dict(private=False)] if forgery.trusted_key else []
                self._send(200, {"keys": real_keys + own})
                return
            metadata = {**real_metadata, "token_endpoint": f"{base}/token"}
            if forgery.trusted_key is not None:
                metadata["jwks_uri"] = f"{base}/jwks"
            self._send(200, metadata)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            answer = requests.post(
                real_metadata["token_endpoint"],
                data=self.rfile.read(length),
                headers={
                    "Content-Type": self.headers.get("Content-Type", ""),
                    "Authorization": self.headers.get("Authorization", ""),
                },
                timeout=10,
            )
            body = answer.json()
            if answer.ok:
                forgery.real_responses.append(dict(body))
                if forgery.replace is not None:
                    body["id_token"] = forgery.replace(body)
            self._send(answer.status_code, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    providers = {
        "test": oidc_provider.settings_for(),
        "forged": oidc_provider.settings_for(
            name="Forged provider", discovery_url=f"{base}/.well-known/openid-configuration"
        ),
    }
    with override_settings(OIDC_PROVIDERS=providers):
        yield forgery
    server.shutdown()
    server.server_close()
