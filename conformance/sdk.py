"""Request bodies built with the SDKs' models (beta by default, v1.0 with `m=V1`), as a bot
writes them; reading notifications with those models; and the scenarios many tests share.
Only SDK model classes and attributes are used; properties the SDK has no attribute for
(identityProvider) go through `additional_data`, as the docs' generated Python snippets do."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from harness import Notification, Receiver, Server, assert_no_unknown_additional_data, parse, parse_collection

_CLASSES = {
    "Call": "call",
    "CallState": "call_state",
    "ChatInfo": "chat_info",
    "CommsOperation": "comms_operation",
    "CommunicationsIdentitySet": "communications_identity_set",
    "Identity": "identity",
    "IdentitySet": "identity_set",
    "InvitationParticipantInfo": "invitation_participant_info",
    "InviteParticipantsOperation": "invite_participants_operation",
    "MuteParticipantOperation": "mute_participant_operation",
    "Modality": "modality",
    "OnlineMeeting": "online_meeting",
    "OperationStatus": "operation_status",
    "OrganizerMeetingInfo": "organizer_meeting_info",
    "Participant": "participant",
    "ServiceHostedMediaConfig": "service_hosted_media_config",
}


def models(package: str) -> SimpleNamespace:
    """The model classes of one SDK: `msgraph_beta` (beta) or `msgraph` (v1.0)."""
    found = {
        name: getattr(importlib.import_module(f"{package}.generated.models.{module}"), name)
        for name, module in _CLASSES.items()
    }
    invite = importlib.import_module(
        f"{package}.generated.communications.calls.item.participants.invite.invite_post_request_body"
    )
    found["InvitePostRequestBody"] = invite.InvitePostRequestBody
    return SimpleNamespace(**found)


BETA = models("msgraph_beta")
V1 = models("msgraph")


def user(user_id: str, m: SimpleNamespace = BETA):
    return m.IdentitySet(
        odata_type="#microsoft.graph.identitySet",
        user=m.Identity(odata_type="#microsoft.graph.identity", id=user_id, additional_data={"identityProvider": "AAD"}),
    )


def phone(number: str, m: SimpleNamespace = BETA):
    # The SDKs' IdentitySet has no `phone`: communicationsIdentitySet does (client-pitfalls.md).
    return m.CommunicationsIdentitySet(
        odata_type="#microsoft.graph.communicationsIdentitySet",
        phone=m.Identity(odata_type="#microsoft.graph.identity", id=number),
    )


def invitee(identity, m: SimpleNamespace = BETA, **kwargs):
    return m.InvitationParticipantInfo(odata_type="#microsoft.graph.invitationParticipantInfo", identity=identity, **kwargs)


def invite_body(invitees: list, client_context: str, m: SimpleNamespace = BETA):
    return m.InvitePostRequestBody(participants=invitees, client_context=client_context)


def base_call(receiver: Receiver, m: SimpleNamespace = BETA, **kwargs):
    return m.Call(
        odata_type="#microsoft.graph.call",
        callback_uri=receiver.callback,
        requested_modalities=[m.Modality.Audio],
        media_config=m.ServiceHostedMediaConfig(odata_type="#microsoft.graph.serviceHostedMediaConfig"),
        **kwargs,
    )


def p2p_call(receiver: Receiver, callee: str, m: SimpleNamespace = BETA):
    return base_call(receiver, m, targets=[invitee(user(callee, m), m)])


def meeting_call(receiver: Receiver, meeting, organizer: str, tenant_id: str, m: SimpleNamespace = BETA):
    return base_call(
        receiver,
        m,
        chat_info=m.ChatInfo(
            odata_type="#microsoft.graph.chatInfo", thread_id=meeting.chat_info.thread_id, message_id="0"
        ),
        meeting_info=m.OrganizerMeetingInfo(
            odata_type="#microsoft.graph.organizerMeetingInfo", organizer=user(organizer, m)
        ),
        tenant_id=tenant_id,
    )


# Reading notifications with the SDK's models.


def call_of(n: Notification, m: SimpleNamespace = BETA):
    assert n.kind == "call", n.body
    call = parse(n.resource_data, m.Call)
    assert type(call) is m.Call, type(call)
    assert_no_unknown_additional_data(call, f"call notification {n.resource_url}")
    return call


def operation_of(n: Notification, m: SimpleNamespace = BETA):
    assert n.kind == "operation", n.body
    op = parse(n.resource_data, m.CommsOperation)
    kinds = (m.InviteParticipantsOperation, m.MuteParticipantOperation)
    assert type(op) in kinds, f"the discriminator must yield an invite or mute operation: {type(op)}"
    assert_no_unknown_additional_data(op, f"operation notification {n.resource_url}")
    return op


def roster_of(n: Notification, m: SimpleNamespace = BETA) -> list:
    assert n.kind == "roster", n.body
    assert n.change_type == "updated", n.body
    roster = parse_collection(n.resource_data, m.Participant)
    assert all(type(p) is m.Participant for p in roster)
    assert_no_unknown_additional_data(roster, f"roster notification {n.resource_url}")
    return roster


def identity_ids(roster: list) -> set[str]:
    ids = set()
    for p in roster:
        identity = p.info.identity
        for member in ("user", "application", "phone", "application_instance", "guest"):
            value = getattr(identity, member, None)
            if value is not None:
                ids.add(value.id)
    return ids


async def create_and_join_meeting(graph, server: Server, receiver: Receiver) -> tuple[str, OnlineMeeting]:
    """An online meeting created and joined through the SDK; the join's notifications
    (establishing, established, roster) are read and checked. Returns (call id, meeting)."""
    meeting = await graph.communications.online_meetings.post(BETA.OnlineMeeting(subject="conformance"))
    call = await graph.communications.calls.post(
        meeting_call(receiver, meeting, server.user("Adele Vance"), server.tenant_id)
    )
    server.advance(0)
    got = receiver.take_for(call.id)
    assert [n.kind for n in got] == ["call", "call", "roster"], [n.body for n in got]
    assert [call_of(n).state.value for n in got[:2]] == ["establishing", "established"]
    roster = roster_of(got[2])
    assert [p.id for p in roster] == [call.my_participant_id]
    return call.id, meeting
