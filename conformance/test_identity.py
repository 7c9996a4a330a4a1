"""Identity: azure-identity and MSAL get tokens from Switchboard over TLS, with only the
authority changed (and the development certificate trusted), and those tokens work."""

from __future__ import annotations

import httpx
import jwt
import msal

from harness import GRAPH_SCOPES, credential, graph_client


def test_openid_configuration_over_tls_names_https_endpoints_whose_first_segment_is_the_tenant(server):
    r = httpx.get(f"{server.tls_url}/{server.tenant_id}/v2.0/.well-known/openid-configuration", verify=server.trust())
    assert r.status_code == 200, r.text
    config = r.json()
    assert config["token_endpoint"] == f"{server.tls_url}/{server.tenant_id}/oauth2/v2.0/token"
    assert config["authorization_endpoint"].startswith(f"{server.tls_url}/{server.tenant_id}/")
    assert config["issuer"] == f"{server.tls_url}/{server.tenant_id}/v2.0"
    assert config["jwks_uri"].startswith("https://")
    # The plain listener describes itself, unchanged.
    plain = httpx.get(f"{server.http_url}/{server.tenant_id}/v2.0/.well-known/openid-configuration").json()
    assert plain["token_endpoint"] == f"{server.http_url}/{server.tenant_id}/oauth2/v2.0/token"


def test_the_development_certificate_names_127_0_0_1_and_localhost(server):
    # Verified by the TLS handshake itself, under both names.
    for host in ("127.0.0.1", "localhost"):
        url = server.tls_url.replace("127.0.0.1", host)
        assert httpx.get(f"{url}/healthz", verify=server.trust()).status_code == 200
    # The CA alone is a trust anchor too.
    assert httpx.get(f"{server.tls_url}/healthz", verify=server.trust(server.ca)).status_code == 200


def test_azure_identity_client_secret_credential_gets_a_graph_token_through_msal(server):
    token = credential(server).get_token(*GRAPH_SCOPES)
    assert token.expires_on > 0
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == server.tenant_id
    assert claims["appid"] == server.client_id
    # An app-only token: the application's service principal (an object id of its own) is the
    # subject, as in Entra's tokens, never the client id.
    assert claims["idtyp"] == "app"
    assert claims["oid"] != server.client_id
    assert claims["sub"] == claims["oid"]
    assert claims["iss"] == f"{server.tls_url}/{server.tenant_id}/v2.0"
    assert "Calls.InitiateGroupCall.All" in claims["roles"]


def _msal_app(server, secret=None):
    """MSAL's confidential client with only the authority changed (and the development
    certificate trusted), as the README tells a bot to configure it."""
    return msal.ConfidentialClientApplication(
        server.client_id,
        client_credential=server.client_secret if secret is None else secret,
        authority=f"{server.tls_url}/{server.tenant_id}",
        instance_discovery=False,
        verify=str(server.cert),
    )


def test_msal_confidential_client_gets_a_token_with_only_the_authority_changed(server):
    app = _msal_app(server)
    result = app.acquire_token_for_client(scopes=GRAPH_SCOPES)
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    # MSAL caches it: a second call is served from its cache, as with real Entra ID.
    again = app.acquire_token_for_client(scopes=GRAPH_SCOPES)
    assert again["access_token"] == result["access_token"]
    assert again.get("token_source") == "cache"


def test_msal_builds_a_sign_in_url_from_discovery_that_refuses_interactive_sign_in(server):
    app = _msal_app(server)
    # MSAL takes the authorization endpoint from the discovery document.
    flow = app.initiate_auth_code_flow(
        ["User.Read"], redirect_uri="https://bot.example/signed-in", response_mode="form_post"
    )
    url = flow["auth_uri"]
    assert url.startswith(f"{server.tls_url}/{server.tenant_id}/oauth2/v2.0/authorize?"), url
    # Only client credentials are supported: an OAuth error, not a 404 and not a redirect.
    r = httpx.get(url, verify=server.trust(), follow_redirects=False)
    assert r.status_code == 400, r.text
    assert r.json()["error_codes"] == [500113], r.text
    assert "location" not in r.headers


def test_a_wrong_secret_is_refused_with_an_oauth_error_msal_understands(server):
    app = _msal_app(server, secret="not-the-secret")
    result = app.acquire_token_for_client(scopes=GRAPH_SCOPES)
    assert result.get("error") == "invalid_client", result
    assert 7000215 in result.get("error_codes", []), result


async def test_tokens_from_the_tls_listener_work_on_the_plain_graph_api_and_the_other_way_round(server, graph):
    # The SDK fixture's token comes from the TLS listener; the API is on http.
    meeting = await graph.communications.online_meetings.post(_meeting("over http"))
    assert meeting.chat_info.thread_id
    # A token from the plain token endpoint (curl's way, README) works on the TLS listener.
    plain = httpx.post(
        f"{server.http_url}/{server.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": server.client_id,
            "client_secret": server.client_secret,
            "scope": GRAPH_SCOPES[0],
        },
    ).json()["access_token"]
    r = httpx.post(
        f"{server.tls_url}/beta/communications/onlineMeetings",
        headers={"Authorization": f"Bearer {plain}"},
        json={"subject": "over TLS"},
        verify=server.trust(),
    )
    assert r.status_code == 201, r.text


async def test_the_sdk_also_works_with_the_graph_api_on_the_tls_listener(server):
    client, http = graph_client(server, "beta", base_url=server.tls_url, verify=server.trust())
    try:
        meeting = await client.communications.online_meetings.post(_meeting("over TLS"))
        assert meeting.join_web_url
    finally:
        await http.aclose()


def _meeting(subject: str):
    from msgraph_beta.generated.models.online_meeting import OnlineMeeting

    return OnlineMeeting(subject=subject)
