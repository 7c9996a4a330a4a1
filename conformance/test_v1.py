"""The v1.0 SDK (`msgraph-sdk`) against `/v1.0`, for the routes v1.0 has: create calls (P2P
and meeting), get and delete a call, keepAlive, invite, get the operation, list, get and delete
participants. v1.0 creates online meetings under `/users/{id}/onlineMeetings` (an application
token with an access policy): the meeting is made there. Notifications are read with the
v1.0 models."""

from __future__ import annotations

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from harness import assert_no_unknown_additional_data, round_trips
from sdk import V1, call_of, identity_ids, invite_body, invitee, meeting_call, operation_of, p2p_call, phone, roster_of, user


async def test_v1_peer_to_peer_call_is_created_read_and_hung_up(graph_v1, server, receiver):
    alex = server.user("Alex Wilber")
    server.set_user_behaviour(alex, {"kind": "answer", "afterMs": 0})
    request = p2p_call(receiver, alex, V1)
    call = await graph_v1.communications.calls.post(request)
    assert type(call) is V1.Call and call.state == V1.CallState.Establishing
    round_trips(call, request, "v1.0 create call")
    assert_no_unknown_additional_data(call, "v1.0 create call")
    server.advance(0)
    states = [call_of(n, V1).state for n in receiver.take_for(call.id)]
    assert states == [V1.CallState.Establishing, V1.CallState.Established]

    fetched = await graph_v1.communications.calls.by_call_id(call.id).get()
    assert fetched.state == V1.CallState.Established
    round_trips(fetched, request, "v1.0 GET call")
    assert_no_unknown_additional_data(fetched, "v1.0 GET call")
    await graph_v1.communications.calls.by_call_id(call.id).keep_alive.post()

    await graph_v1.communications.calls.by_call_id(call.id).delete()
    server.advance(0)
    assert call_of(receiver.take_for(call.id)[-1], V1).state == V1.CallState.Terminated
    with pytest.raises(ODataError) as gone:
        await graph_v1.communications.calls.by_call_id(call.id).get()
    assert gone.value.response_status_code == 404


async def test_v1_meeting_call_invites_reads_the_operation_and_manages_participants(graph_v1, server, receiver):
    adele, alex = server.user("Adele Vance"), server.user("Alex Wilber")
    meeting = await graph_v1.users.by_user_id(adele).online_meetings.post(V1.OnlineMeeting(subject="v1.0"))
    assert type(meeting) is V1.OnlineMeeting and meeting.chat_info.thread_id and meeting.join_web_url
    request = meeting_call(receiver, meeting, adele, server.tenant_id, V1)
    call = await graph_v1.communications.calls.post(request)
    round_trips(call, request, "v1.0 create meeting call")
    server.advance(0)
    got = receiver.take_for(call.id)
    assert [n.kind for n in got] == ["call", "call", "roster"]
    assert [p.id for p in roster_of(got[2], V1)] == [call.my_participant_id]

    number = "+14255550101"  # answers after 2 s; Adele after 1 s, Alex after 3 s
    body = invite_body(
        [invitee(user(adele, V1), V1), invitee(user(alex, V1), V1), invitee(phone(number, V1), V1)], "v1.0 invite", V1
    )
    participants = graph_v1.communications.calls.by_call_id(call.id).participants
    op = await participants.invite.post(body)
    assert type(op) is V1.InviteParticipantsOperation and op.status == V1.OperationStatus.Running
    round_trips(op, body, "v1.0 invite response")
    assert_no_unknown_additional_data(op, "v1.0 invite response")

    fetched = await graph_v1.communications.calls.by_call_id(call.id).operations.by_comms_operation_id(op.id).get()
    assert type(fetched) is V1.InviteParticipantsOperation and fetched.status == V1.OperationStatus.Running
    assert_no_unknown_additional_data(fetched, "v1.0 GET operation")

    server.advance(3000)
    got = receiver.take_for(call.id)
    assert [n.kind for n in got][-2:] == ["operation", "roster"], [n.body for n in got]
    done = operation_of(got[-2], V1)
    assert done.status == V1.OperationStatus.Completed
    round_trips(done, body, "v1.0 operation notification")
    assert {adele, alex, number} <= identity_ids(roster_of(got[-1], V1))

    page = await participants.get()
    assert len(page.value) == 4 and all(type(p) is V1.Participant for p in page.value)
    assert_no_unknown_additional_data(page, "v1.0 list participants")
    ids = {p.identity.user.id if p.identity.user else p.identity.phone.id: p.participant_id for p in op.participants}
    one = await participants.by_participant_id(ids[number]).get()
    assert one.info.identity.phone.id == number
    assert_no_unknown_additional_data(one, "v1.0 GET participant")

    await participants.by_participant_id(ids[alex]).delete()
    server.advance(0)
    got = receiver.take_for(call.id)
    assert alex not in identity_ids(roster_of(got[-1], V1))

    await graph_v1.communications.calls.by_call_id(call.id).delete()
    server.advance(0)
    assert call_of(receiver.take_for(call.id)[-1], V1).state == V1.CallState.Terminated
