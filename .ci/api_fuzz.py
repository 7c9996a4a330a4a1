"""The parts of the API fuzz (.ci/api-fuzz.sh) that talk to the server, with the standard library only.

    api_fuzz.py token URL CREDENTIALS     prints an application token
    api_fuzz.py targets URL CREDENTIALS   creates calls, participants and an operation, and prints
                                          a schemathesis.toml aiming every path parameter at them
    api_fuzz.py check URL CREDENTIALS     after the fuzz: the store answers, an invite still completes

Without real ids every route under /calls/{call_id} answers 404 to whatever the fuzzer sends, and
the requests never reach the rules behind it (schemathesis warns "Missing test data"). Each
destructive route (hanging up, removing a participant, answering, rejecting) gets a call or a
participant of its own, so that one route's first request does not leave the others only 404s.
"""

import json
import sys
import urllib.parse
import urllib.request


class Server:
    def __init__(self, url, creds_path):
        self.url = url
        self.creds = json.load(open(creds_path))
        self.admin = self.creds["adminToken"]
        self.token = None

    def call(self, method, path, body=None, auth=None):
        auth = auth or self.token
        req = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {auth}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req) as r:
            text = r.read()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    def app_token(self):
        creds = self.creds
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": creds["clientId"],
            "client_secret": creds["clientSecret"],
            "scope": "https://graph.microsoft.com/.default",
        }).encode()
        url = f"{self.url}/{creds['tenantId']}/oauth2/v2.0/token"
        self.token = json.load(urllib.request.urlopen(url, form))["access_token"]
        return self.token

    def settle(self):
        """Runs what is due now on the virtual clock (rings that end at once)."""
        self.call("POST", "/_switchboard/clock/advance", {"ms": 0}, auth=self.admin)

    def user(self, index, behaviour):
        user = self.creds["users"][index]["id"]
        self.call("PUT", f"/_switchboard/users/{user}/behaviour", behaviour, auth=self.admin)
        return user

    def meeting_call(self):
        """The bot joins a meeting of its own: a call that accepts invites."""
        meeting = self.call("POST", "/beta/communications/onlineMeetings", {"subject": "fuzz"})[1]
        status, created = self.call("POST", "/beta/communications/calls", {
            "callbackUri": "https://bot.example.com/cb",
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo"},
        })
        assert status == 201, (status, created)
        self.settle()
        return created["id"]

    def invite(self, call_id, user):
        """Invites a user who answers at once; returns the operation and the user's participant id."""
        status, op = self.call("POST", f"/beta/communications/calls/{call_id}/participants/invite",
                               {"participants": [{"identity": {"user": {"id": user}}}]})
        assert status == 200, (status, op)
        self.settle()
        status, done = self.call("GET", f"/beta/communications/calls/{call_id}/operations/{op['id']}")
        assert done["status"] == "Completed", done
        roster = self.call("GET", f"/beta/communications/calls/{call_id}/participants")[1]["value"]
        ids = [p["id"] for p in roster
               if (((p.get("info") or {}).get("identity") or {}).get("user") or {}).get("id") == user]
        assert ids, roster
        return op["id"], ids[0]

    def accept_calls(self):
        """Gives the bot a calling webhook, without which no one can call it."""
        self.call("PUT", f"/_switchboard/applications/{self.creds['clientId']}/callingWebhook",
                  {"url": "https://bot.example.com/incoming"}, auth=self.admin)

    def incoming_call(self, user):
        """A user calls the bot (see `accept_calls`): a call ringing for the bot to answer or reject."""
        status, inbound = self.call("POST", "/_switchboard/calls", {
            "from": {"userId": user}, "to": {"applicationId": self.creds["clientId"]}}, auth=self.admin)
        assert status == 201, (status, inbound)
        return inbound["callId"]

    def answered_call(self, user):
        """A user's call to the bot, answered."""
        call_id = self.incoming_call(user)
        status, _ = self.call("POST", f"/beta/communications/calls/{call_id}/answer", {
            "callbackUri": "https://bot.example.com/cb",
            "acceptedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        })
        assert status == 202, status
        self.settle()
        return call_id


ROUTE_PREFIXES = ["/beta/app", "/beta/communications", "/v1.0/app", "/v1.0/communications"]


def toml_string(value):
    return json.dumps(value)


def targets(server):
    server.app_token()
    answers = {"kind": "answer", "afterMs": 0}
    invitee = server.user(0, answers)
    main_call = server.meeting_call()
    operation, participant = server.invite(main_call, invitee)
    # A meeting organised by a directory user, for {user_id} and {meeting_id}: an unknown user
    # is 404, and so is a meeting read under a user who does not organise it.
    organizer = server.user(2, answers)
    status, meeting = server.call("POST", f"/beta/users/{organizer}/onlineMeetings", {"subject": "fuzz"})
    assert status == 201, (status, meeting)
    lines = [
        "# Written by .ci/api_fuzz.py for one fuzz run.",
        "# An operation whose requests keep answering 404 is not tested; the run fails.",
        'warnings = { fail-on = ["missing_test_data"] }',
        "[cache]",
        "enabled = false",
        "",
        "[parameters]",
        f'"path.call_id" = {toml_string(main_call)}',
        f'"path.participant_id" = {toml_string(participant)}',
        f'"path.operation_id" = {toml_string(operation)}',
        f'"path.user_id" = {toml_string(organizer)}',
        f'"path.meeting_id" = {toml_string(meeting["id"])}',
        # The directory's tenant, so that the identity routes reach the checks behind the tenant's.
        f'"path.tenant" = {toml_string(server.creds["tenantId"])}',
    ]

    def own(name_regex, **parameters):
        lines.extend(["", "[[operations]]", f"include-name-regex = {toml_string(name_regex)}", "[operations.parameters]"])
        lines.extend(f'"path.{k}" = {toml_string(v)}' for k, v in parameters.items())

    caller = server.user(1, answers)
    server.accept_calls()
    for prefix in ROUTE_PREFIXES:
        base = f"^POST {prefix}/calls/\\{{call_id\\}}"
        own(f"^DELETE {prefix}/calls/\\{{call_id\\}}$", call_id=server.meeting_call())
        call = server.meeting_call()
        _, removed = server.invite(call, invitee)
        own(f"^DELETE {prefix}/calls/\\{{call_id\\}}/participants/\\{{participant_id\\}}$",
            call_id=call, participant_id=removed)
        for alias in ["", "microsoft\\.graph\\."]:
            own(f"{base}/{alias}answer$", call_id=server.incoming_call(caller))
            # A rejected call is gone, and every later request would read 404 (which fails the
            # run): reject is aimed at a call already answered, whose rule answers instead.
            own(f"{base}/{alias}reject$", call_id=server.answered_call(caller))
    print("\n".join(lines))


def check(server):
    """Nothing half-written: the store still answers and a whole invite still completes."""
    server.app_token()
    assert server.call("GET", "/readyz")[0] == 200
    user = server.user(0, {"kind": "answer", "afterMs": 0})
    server.invite(server.meeting_call(), user)
    print("after fuzzing: the store answers and an invite still completes")


def main():
    mode, url, creds = sys.argv[1:4]
    server = Server(url, creds)
    if mode == "token":
        print(server.app_token())
    elif mode == "targets":
        targets(server)
    elif mode == "check":
        check(server)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
