"""Inbound calls, answer, reject, participant mute and injected faults through the beta SDK:
the incoming call parses as the SDK's `Call`, answer/reject/mute go through the SDK's own
request builders, and injected route faults reach the SDK as `ODataError`s with Graph's body."""

from __future__ import annotations

import pytest
from msgraph_beta.generated.communications.calls.item.answer.answer_post_request_body import AnswerPostRequestBody
from msgraph_beta.generated.communications.calls.item.participants.item.mute.mute_post_request_body import (
    MutePostRequestBody,
)
from msgraph_beta.generated.communications.calls.item.reject.reject_post_request_body import RejectPostRequestBody
from msgraph_beta.generated.models.call_direction import CallDirection
from msgraph_beta.generated.models.call_state import CallState
from msgraph_beta.generated.models.modality import Modality
from msgraph_beta.generated.models.mute_participant_operation import MuteParticipantOperation
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.models.reject_reason import RejectReason
from msgraph_beta.generated.models.service_hosted_media_config import ServiceHostedMediaConfig

from sdk import base_call, call_of, create_and_join_meeting, invite_body, invitee, operation_of, roster_of, user


def user_calls_bot(server, receiver, display_name: str) -> dict:
    r = server.admin.put(
        f"/_switchboard/applications/{server.client_id}/callingWebhook", json={"url": receiver.callback}
    )
    assert r.status_code == 200, r.text
    r = server.admin.post(
        "/_switchboard/calls",
        json={"from": {"userId": server.user(display_name)}, "to": {"applicationId": server.client_id}},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_sdk_reads_an_incoming_call_and_answers_it(graph, server, receiver):
    placed = user_calls_bot(server, receiver, "Adele Vance")
    call_id = placed["callId"]
    server.advance(0)
    got = receiver.take_for(call_id)
    assert [n.change_type for n in got] == ["created"]
    incoming = call_of(got[0])
    assert (incoming.state, incoming.direction) == (CallState.Incoming, CallDirection.Incoming)
    assert incoming.source.identity.user.id == server.user("Adele Vance")
    assert incoming.targets[0].identity.application.id == server.client_id
    assert incoming.incoming_context.source_participant_id == placed["callerParticipantId"]

    body = AnswerPostRequestBody(
        callback_uri=receiver.callback,
        accepted_modalities=[Modality.Audio],
        media_config=ServiceHostedMediaConfig(odata_type="#microsoft.graph.serviceHostedMediaConfig"),
    )
    await graph.communications.calls.by_call_id(call_id).answer.post(body)
    server.advance(0)
    assert [call_of(n).state for n in receiver.take_for(call_id)] == [CallState.Establishing, CallState.Established]

    with pytest.raises(ODataError) as error:
        await graph.communications.calls.by_call_id(call_id).answer.post(body)
    assert error.value.response_status_code == 409
    assert error.value.error.code == "conflict"


async def test_the_sdk_rejects_an_incoming_call(graph, server, receiver):
    placed = user_calls_bot(server, receiver, "Alex Wilber")
    call_id = placed["callId"]
    server.advance(0)
    receiver.take_for(call_id)
    await graph.communications.calls.by_call_id(call_id).reject.post(RejectPostRequestBody(reason=RejectReason.Busy))
    server.advance(0)
    got = receiver.take_for(call_id)
    ended = call_of(got[-1])
    assert ended.state == CallState.Terminated
    assert (ended.result_info.code, ended.result_info.subcode) == (486, 10004)


async def test_the_sdk_mutes_a_participant_and_reads_the_operation(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    adele = server.user("Adele Vance")
    server.set_user_behaviour(adele, {"kind": "answer", "afterMs": 0})
    invited = await graph.communications.calls.by_call_id(call_id).participants.invite.post(
        invite_body([invitee(user(adele))], "mute")
    )
    participant_id = invited.participants[0].participant_id
    server.advance(0)
    receiver.take_for(call_id)

    participant = graph.communications.calls.by_call_id(call_id).participants.by_participant_id(participant_id)
    op = await participant.mute.post(MutePostRequestBody(client_context="sdk-mute"))
    assert type(op) is MuteParticipantOperation
    assert op.client_context == "sdk-mute"
    server.advance(0)
    got = receiver.take_for(call_id)
    assert [n.kind for n in got] == ["operation", "roster"]
    assert type(operation_of(got[0])) is MuteParticipantOperation
    muted = [p for p in roster_of(got[1]) if p.id == participant_id]
    assert muted and muted[0].is_muted is True


async def test_injected_route_faults_reach_the_sdk_as_graph_errors(graph, server, receiver):
    r = server.admin.post(
        "/_switchboard/faults/routes",
        json={"path": "/communications/calls/{call_id}", "method": "GET", "status": 503, "retryAfter": 0, "count": 1},
    )
    assert r.status_code == 201, r.text
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    # Kiota's retry handler may retry a 503 with Retry-After; the fault answers once.
    fetched = await graph.communications.calls.by_call_id(call_id).get()
    assert fetched.id == call_id

    r = server.admin.post(
        "/_switchboard/faults/routes",
        json={"path": "/communications/calls", "method": "POST", "status": 429, "retryAfter": 0},
    )
    assert r.status_code == 201, r.text
    with pytest.raises(ODataError) as error:
        await graph.communications.calls.post(base_call(receiver, targets=[invitee(user(server.user("Adele Vance")))]))
    assert error.value.response_status_code == 429
    assert error.value.error.code == "TooManyRequests"
    assert server.admin.delete("/_switchboard/faults").status_code == 204
