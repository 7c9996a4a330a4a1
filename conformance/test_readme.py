"""The README's Python settings, run as written: every ```python block that follows a
`<!-- conformance/test_readme.py runs this block -->` marker is executed in a directory whose
`switchboard-data` is the test server's data directory, with the README's ports replaced by the
test server's. Then the objects it made are used."""

from __future__ import annotations

import re

import jwt

from harness import REPO
from sdk import BETA, p2p_call

MARKER = "<!-- conformance/test_readme.py runs this block -->"


def readme_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2, f"the README should have two tried Python blocks, found {len(blocks)}"
    return blocks


def run_block(block: str, server, tmp_path, monkeypatch) -> dict:
    (tmp_path / "switchboard-data").symlink_to(server.data_dir)
    monkeypatch.chdir(tmp_path)
    code = block.replace("http://127.0.0.1:8080", server.http_url).replace("https://127.0.0.1:8443", server.tls_url)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


async def test_the_readme_python_sdk_settings_create_a_meeting_and_a_call(server, receiver, tmp_path, monkeypatch):
    ns = run_block(readme_blocks()[0], server, tmp_path, monkeypatch)
    graph = ns["graph"]
    try:
        meeting = await graph.communications.online_meetings.post(BETA.OnlineMeeting(subject="from the README"))
        assert meeting.join_web_url
        call = await graph.communications.calls.post(p2p_call(receiver, server.user("Adele Vance")))
        assert call.state == BETA.CallState.Establishing
    finally:
        await ns["http"].aclose()


def test_the_readme_msal_settings_get_a_token(server, tmp_path, monkeypatch):
    ns = run_block(readme_blocks()[1], server, tmp_path, monkeypatch)
    claims = jwt.decode(ns["token"], options={"verify_signature": False})
    assert claims["tid"] == server.tenant_id and claims["aud"] == "https://graph.microsoft.com"
