"""The conformance harness: the real `switchboard` binary, a real webhook receiver, and the
official Microsoft clients pointed at them exactly as a bot developer would (README, "Official
SDKs and MSAL").

Nothing here talks Graph by hand except what the SDKs have no model for: the control API
(`/_switchboard/...`, not Graph) and the `commsNotifications` envelope, which bots read
themselves (client-pitfalls.md). Every `resourceData` is parsed with the SDK's own models.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import ssl
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import httpx
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node import JsonParseNode
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30


def binary() -> Path:
    """The server under test: $SWITCHBOARD_BIN, else the debug build of this checkout."""
    path = Path(os.environ.get("SWITCHBOARD_BIN", REPO / "target" / "debug" / "switchboard"))
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: build it first (cargo build), or set SWITCHBOARD_BIN")
    return path


class Server:
    """`switchboard serve` on port 0 (http and TLS), a virtual clock and its own data directory."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="switchboard-conformance-")
        self.data_dir = Path(self._dir.name) / "data"
        self.data_dir.mkdir()
        self.log_path = self.data_dir / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env["RUST_LOG"] = env.get("RUST_LOG", "info")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                str(binary()),
                "serve",
                "--listen", "127.0.0.1:0",
                "--tls-listen", "127.0.0.1:0",
                "--data-dir", str(self.data_dir),
                "--clock", "virtual",
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def drain() -> None:
            # Keeps reading so the server never blocks on a full pipe.
            assert self.process.stdout is not None
            for raw in self.process.stdout:
                lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        first = self._line(lines)
        second = self._line(lines)
        prefix, tls_prefix = "Switchboard listening on ", "Switchboard TLS listening on "
        assert first.startswith(prefix), f"first line must name the URL: {first!r}"
        assert second.startswith(tls_prefix), f"second line must name the TLS URL: {second!r}"
        self.http_url = first[len(prefix):]
        self.tls_url = second[len(tls_prefix):]
        assert self.http_url.startswith("http://127.0.0.1:"), self.http_url
        assert self.tls_url.startswith("https://127.0.0.1:"), self.tls_url
        # The development certificate the suite trusts, as a bot developer would.
        self.cert = self.data_dir / "tls" / "cert.pem"
        self.ca = self.data_dir / "tls" / "ca.pem"
        self.credentials = json.loads((self.data_dir / "dev-credentials.json").read_text())
        self.tenant_id: str = self.credentials["tenantId"]
        self.client_id: str = self.credentials["clientId"]
        self.client_secret: str = self.credentials["clientSecret"]
        self.admin = httpx.Client(
            base_url=self.http_url,
            headers={"Authorization": f"Bearer {self.credentials['adminToken']}"},
            timeout=60,
        )

    def _line(self, lines: "queue.Queue[Optional[str]]") -> str:
        try:
            line = lines.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            raise RuntimeError(f"the server printed nothing in {STARTUP_SECONDS} s: {self.log()}") from None
        if line is None:
            raise RuntimeError(f"the server exited ({self.process.wait()}): {self.log()}")
        return line

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.admin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()
        self._dir.cleanup()

    def trust(self, pem: Optional[Path] = None) -> ssl.SSLContext:
        """An SSL context trusting the development certificate (httpx's `verify=`)."""
        return ssl.create_default_context(cafile=str(pem or self.cert))

    def user(self, display_name: str) -> str:
        for user in self.credentials["users"]:
            if user["displayName"] == display_name:
                return user["id"]
        raise KeyError(display_name)

    # The control API (not Graph: plain HTTP).

    def advance(self, ms: int) -> None:
        """Moves the virtual clock; returns once due work ran and each notification was tried."""
        r = self.admin.post("/_switchboard/clock/advance", json={"ms": ms})
        assert r.status_code == 200, r.text

    def set_user_behaviour(self, user_id: str, behaviour: dict) -> None:
        r = self.admin.put(f"/_switchboard/users/{user_id}/behaviour", json=behaviour)
        assert r.status_code == 200, r.text


@dataclasses.dataclass
class Notification:
    """One callback POST: the envelope read by hand, as bots do."""

    path: str
    headers: dict
    body: Any

    @property
    def call_id(self) -> str:
        return self.headers["x-switchboard-call-id"]

    @property
    def item(self) -> dict:
        value = self.body["value"]
        assert len(value) == 1, f"one notification per POST: {self.body}"
        return value[0]

    @property
    def change_type(self) -> str:
        return self.item["changeType"]

    @property
    def resource_url(self) -> str:
        return self.item["resourceUrl"]

    @property
    def resource_data(self) -> Any:
        return self.item["resourceData"]

    @property
    def kind(self) -> str:
        url = self.resource_url
        if url.endswith("/participants"):
            return "roster"
        if "/operations/" in url:
            return "operation"
        return "call"


class Receiver:
    """A real webhook receiver on 127.0.0.1:0: records every POST and answers 202."""

    def __init__(self) -> None:
        self._received: list[Notification] = []
        # Everything ever received, for the end-of-test check that every notification parses.
        self.log: list[Notification] = []
        self._lock = threading.Lock()
        received, log, lock = self._received, self.log, self._lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                notification = Notification(self.path, headers, json.loads(raw) if raw else None)
                with lock:
                    received.append(notification)
                    log.append(notification)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.callback = f"{self.url}/callback"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def take_for(self, call_id: str) -> list[Notification]:
        """The notifications of one call, in arrival order, taken off the receiver."""
        with self._lock:
            mine = [n for n in self._received if n.call_id == call_id]
            self._received[:] = [n for n in self._received if n.call_id != call_id]
        sequences = [int(n.headers["x-switchboard-sequence"]) for n in mine]
        assert sequences == sorted(sequences), f"out of order: {sequences}"
        for n in mine:
            assert n.path == "/callback", n.path
            assert n.headers["authorization"].startswith("Bearer "), "callbacks are signed"
            assert n.body["@odata.type"] == "#microsoft.graph.commsNotifications", n.body
        return mine

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------------------------------------
# The official clients, configured as the README tells bot developers.
# ---------------------------------------------------------------------------------------------

GRAPH_SCOPES = ["https://graph.microsoft.com/.default"]


def credential(server: Server):
    """azure-identity's ClientSecretCredential (MSAL underneath) with Switchboard as the authority."""
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        tenant_id=server.tenant_id,
        client_id=server.client_id,
        client_secret=server.client_secret,
        authority=server.tls_url,  # only https is accepted: the TLS listener
        connection_verify=str(server.cert),  # trust Switchboard's development certificate
        disable_instance_discovery=True,  # else MSAL asks login.microsoftonline.com about the host
    )


def graph_client(server: Server, version: str = "beta", base_url: Optional[str] = None, verify: Any = True):
    """The official Graph SDK (`msgraph_beta` or `msgraph`), unpatched, with only its base URL set."""
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph_core import GraphClientFactory

    if version == "beta":
        from msgraph_beta import GraphRequestAdapter, GraphServiceClient
    else:
        from msgraph import GraphRequestAdapter, GraphServiceClient
    auth = AzureIdentityAuthenticationProvider(credential(server), scopes=GRAPH_SCOPES)
    # The SDK's own middleware pipeline (retry, redirect, ...) on our httpx client.
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(timeout=60, verify=verify))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{base_url or server.http_url}/{version}"
    return GraphServiceClient(request_adapter=adapter), http


# ---------------------------------------------------------------------------------------------
# Models: parsing with the SDK, serialising with the SDK, and the additional_data audit.
# ---------------------------------------------------------------------------------------------


def parse(data: Any, model: type) -> Any:
    """`resourceData` (or any JSON) parsed as an SDK model class (through its discriminator)."""
    return JsonParseNode(data).get_object_value(model)


def parse_collection(data: Any, model: type) -> list:
    assert isinstance(data, list), f"a collection is a JSON array: {data!r}"
    return JsonParseNode(data).get_collection_of_object_values(model)


def to_json(model: Parsable) -> Any:
    """A model as the SDK itself writes it on the wire."""
    writer = JsonSerializationWriter()
    writer.write_object_value(None, model)
    return json.loads(writer.get_serialized_content())


def to_json_collection(models: list) -> Any:
    writer = JsonSerializationWriter()
    writer.write_collection_of_object_values(None, models)
    return json.loads(writer.get_serialized_content())


# What Switchboard writes that the SDK's models do not know, and so land in `additional_data`.
# Each entry: (path pattern, reason). Paths use `[*]` for any index; a null value in
# additional_data is a property the model lacks written as null, which is no information and
# not reported (Graph itself writes e.g. "applicationInstance": null in identity sets).
KNOWN_ADDITIONAL_DATA: list[tuple[str, str]] = [
    (
        "@odata.context",
        "OData's context annotation on a response: Graph sends it, no model carries it",
    ),
    (
        "*user.identityProvider",
        "identity.identityProvider: sent by bots (the docs' requests carry it) and echoed; the "
        "SDK's Identity model has only id, displayName and @odata.type (client-pitfalls.md)",
    ),
    (
        "*user.tenantId",
        "identity.tenantId of a user: Graph writes it on #microsoft.graph.identity (the docs' "
        "rosters and organizers do); the SDK's Identity lacks it (only communicationsUserIdentity has it)",
    ),
    (
        "*application.tenantId",
        "identity.tenantId of an application (the bot's own roster entry), as above",
    ),
]


def _matches(pattern: str, path: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(path, pattern)


def additional_data(model: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every non-null `additional_data` entry in a parsed model, recursively, with its path."""
    found: list[tuple[str, Any]] = []
    if isinstance(model, list):
        for i, item in enumerate(model):
            found += additional_data(item, f"{path}[{i}]")
        return found
    if not dataclasses.is_dataclass(model):
        return found
    for key, value in (getattr(model, "additional_data", None) or {}).items():
        if value is not None:
            found.append((f"{path}.{key}" if path else key, value))
    for field in dataclasses.fields(model):
        if field.name in ("additional_data", "backing_store"):
            continue
        value = getattr(model, field.name, None)
        if isinstance(value, (list, tuple)) or dataclasses.is_dataclass(value):
            found += additional_data(value, f"{path}.{field.name}" if path else field.name)
    return found


def assert_no_unknown_additional_data(model: Any, what: str) -> None:
    unknown = [
        (p, v) for p, v in additional_data(model)
        if not any(_matches(pattern, p) for pattern, _ in KNOWN_ADDITIONAL_DATA)
    ]
    assert not unknown, f"{what}: properties the SDK's models do not know: {unknown}"


def assert_contains(expected: Any, actual: Any, path: str = "$") -> None:
    """Every key and value of `expected` is in `actual` (arrays element by element)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key}: missing (expected {value!r}) in {actual!r}"
            assert_contains(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {expected!r} != {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_contains(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def round_trips(model: Any, sent: Parsable, what: str) -> None:
    """What the bot set (the SDK's serialisation of its request) comes back unchanged in
    `model` (the SDK's re-serialisation of what Switchboard returned)."""
    assert_contains(to_json(sent), to_json(model), what)
