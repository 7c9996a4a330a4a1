"""Fixtures: one Switchboard server, one webhook receiver and one SDK client per test, so tests
are independent (each gets a fresh data directory, development tenant and virtual clock)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Receiver, Server, graph_client  # noqa: E402
from sdk import BETA, V1, call_of, operation_of, roster_of  # noqa: E402

# requests (under MSAL) lets these variables override the `verify=` given to MSAL (psf/requests
# #3829), so a machine that sets them would not trust Switchboard's certificate even though the
# bot says to. README, "MSAL", tells bot developers the same.
for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(variable, None)


@pytest.fixture
def server():
    s = Server()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def receiver(request):
    """The webhook receiver. When the test is done, every notification it received, read or
    not by the test, is parsed with the SDK's models of the version the test used (its
    resourceData as Call, CommsOperation or a Participant collection, by resourceUrl), with
    the additional_data audit."""
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()
    models = V1 if "graph_v1" in request.fixturenames else BETA
    parse = {"call": call_of, "operation": operation_of, "roster": roster_of}
    for notification in r.log:
        parse[notification.kind](notification, models)


@pytest.fixture
async def graph(server):
    """The beta SDK (`msgraph-beta-sdk`) against `/beta`."""
    client, http = graph_client(server, "beta")
    try:
        yield client
    finally:
        await http.aclose()


@pytest.fixture
async def graph_v1(server):
    """The v1.0 SDK (`msgraph-sdk`) against `/v1.0`."""
    client, http = graph_client(server, "v1.0")
    try:
        yield client
    finally:
        await http.aclose()
