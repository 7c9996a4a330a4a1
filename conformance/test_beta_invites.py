"""The five examples of the seed page (participant-invite.md), sent with the beta SDK's models;
every response and notification read back with the SDK's models. The tests follow DESIGN.md
where the page's examples slip (see crates/switchboard/tests/seed_examples.rs for the
byte-level comparison with the page)."""

from __future__ import annotations

from msgraph_beta.generated.models.call_state import CallState
from msgraph_beta.generated.models.invite_participants_operation import InviteParticipantsOperation
from msgraph_beta.generated.models.operation_status import OperationStatus

from harness import assert_no_unknown_additional_data, round_trips
from sdk import (
    call_of,
    create_and_join_meeting,
    identity_ids,
    invite_body,
    invitee,
    operation_of,
    p2p_call,
    phone,
    roster_of,
    user,
)


def check_response(op, body, what: str) -> None:
    assert type(op) is InviteParticipantsOperation, f"{what}: {type(op)}"
    assert op.status == OperationStatus.Running, f"{what}: {op.status}"
    assert op.id
    round_trips(op, body, what)
    assert_no_unknown_additional_data(op, what)
    assert all(p.participant_id for p in op.participants), "each invitee's participant id is returned"


async def test_example_1_one_user_invited_into_a_meeting_call(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    adele = server.user("Adele Vance")  # answers after 1 s
    body = invite_body([invitee(user(adele))], "f2fa86af-3c51-4bc2-8fc0-475452d9764f")
    op = await graph.communications.calls.by_call_id(call_id).participants.invite.post(body)
    check_response(op, body, "Example 1 response")

    server.advance(999)
    assert receiver.take_for(call_id) == []
    server.advance(1)
    got = receiver.take_for(call_id)
    assert [n.kind for n in got] == ["operation", "roster"]
    assert got[0].change_type == "deleted"
    done = operation_of(got[0])
    assert done.id == op.id and done.status == OperationStatus.Completed
    assert done.client_context == body.client_context
    round_trips(done, body, "Example 1 operation notification")
    roster = roster_of(got[1])
    assert identity_ids(roster) >= {adele, server.client_id}
    assert op.participants[0].participant_id in {p.id for p in roster}


async def test_example_2_two_users_invited_in_one_request(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    adele, alex = server.user("Adele Vance"), server.user("Alex Wilber")  # answer after 1 s and 3 s
    body = invite_body([invitee(user(adele)), invitee(user(alex))], "9e90d1c1-f61e-43e7-9f75-d420159aae08")
    op = await graph.communications.calls.by_call_id(call_id).participants.invite.post(body)
    check_response(op, body, "Example 2 response")
    assert len(op.participants) == 2

    server.advance(1000)
    got = receiver.take_for(call_id)
    assert [n.kind for n in got] == ["roster"], "Adele joins; the operation waits for Alex"
    assert adele in identity_ids(roster_of(got[0]))
    server.advance(2000)
    got = receiver.take_for(call_id)
    assert [n.kind for n in got] == ["operation", "roster"]
    done = operation_of(got[0])
    assert done.status == OperationStatus.Completed
    round_trips(done, body, "Example 2 operation notification")
    assert {adele, alex} <= identity_ids(roster_of(got[1]))


async def test_example_2_with_a_decline_the_operation_fails_with_a_result_info(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    adele, megan = server.user("Adele Vance"), server.user("Megan Bowen")  # answers; declines after 2 s
    body = invite_body([invitee(user(adele)), invitee(user(megan))], "one declines")
    op = await graph.communications.calls.by_call_id(call_id).participants.invite.post(body)
    check_response(op, body, "Example 2 (decline) response")
    server.advance(2000)
    got = receiver.take_for(call_id)
    ops = [operation_of(n) for n in got if n.kind == "operation"]
    assert len(ops) == 1 and ops[0].status == OperationStatus.Failed
    assert (ops[0].result_info.code, ops[0].result_info.subcode) == (603, 10003), "declined (docs/codes.md)"
    assert megan in ops[0].result_info.message
    fetched = await graph.communications.calls.by_call_id(call_id).operations.by_comms_operation_id(op.id).get()
    assert fetched.status == OperationStatus.Failed
    assert fetched.result_info.code == ops[0].result_info.code


async def test_example_3_a_peer_to_peer_call_escalated_with_replaces_call_id(graph, server, receiver):
    alex = server.user("Alex Wilber")
    server.set_user_behaviour(alex, {"kind": "answer", "afterMs": 0})
    p2p = await graph.communications.calls.post(p2p_call(receiver, alex))
    server.advance(0)
    assert [call_of(n).state for n in receiver.take_for(p2p.id)] == [CallState.Establishing, CallState.Established]
    server.set_user_behaviour(alex, {"kind": "noAnswer"})  # the escalation must not ring

    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    body = invite_body([invitee(user(alex), replaces_call_id=p2p.id)], "escalate")
    op = await graph.communications.calls.by_call_id(call_id).participants.invite.post(body)
    check_response(op, body, "Example 3 response")
    assert op.participants[0].replaces_call_id == p2p.id

    server.advance(0)
    got = receiver.take_for(call_id)
    assert [n.kind for n in got] == ["operation", "roster"]
    assert operation_of(got[0]).status == OperationStatus.Completed
    assert alex in identity_ids(roster_of(got[1]))
    replaced = [call_of(n) for n in receiver.take_for(p2p.id)]
    assert [c.state for c in replaced] == [CallState.Terminating, CallState.Terminated]
    assert (replaced[-1].result_info.code, replaced[-1].result_info.subcode) == (200, 7015)


async def test_example_4_a_phone_number_invited_with_a_communications_identity_set(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    number = "+14255550101"  # answers after 2 s
    body = invite_body([invitee(phone(number))], "f2fa86af-3c51-4bc2-8fc0-475452d9764f")
    op = await graph.communications.calls.by_call_id(call_id).participants.invite.post(body)
    check_response(op, body, "Example 4 response")
    assert op.participants[0].identity.phone.id == number

    server.advance(2000)
    got = receiver.take_for(call_id)
    assert [n.kind for n in got] == ["operation", "roster"]
    done = operation_of(got[0])
    assert done.status == OperationStatus.Completed
    assert done.participants[0].identity.odata_type == "#microsoft.graph.communicationsIdentitySet"
    assert done.participants[0].identity.phone.id == number
    roster = roster_of(got[1])
    assert number in identity_ids(roster)


async def test_example_5_a_participant_moved_from_one_meeting_to_another(graph, server, receiver):
    adele = server.user("Adele Vance")  # answers after 1 s
    call_a, _ = await create_and_join_meeting(graph, server, receiver)
    call_b, _ = await create_and_join_meeting(graph, server, receiver)
    invited = await graph.communications.calls.by_call_id(call_a).participants.invite.post(
        invite_body([invitee(user(adele))], "into A")
    )
    server.advance(1000)
    assert [n.kind for n in receiver.take_for(call_a)] == ["operation", "roster"]
    source_id = invited.participants[0].participant_id

    body = invite_body([invitee(user(adele), replaces_call_id=call_a, participant_id=source_id)], "move")
    op = await graph.communications.calls.by_call_id(call_b).participants.invite.post(body)
    check_response(op, body, "Example 5 response")
    assert op.participants[0].participant_id == source_id, "a move echoes the moved participant"

    server.advance(0)
    in_b = receiver.take_for(call_b)
    assert [n.kind for n in in_b] == ["operation", "roster"]
    assert operation_of(in_b[0]).status == OperationStatus.Completed
    roster_b = roster_of(in_b[1])
    assert adele in identity_ids(roster_b)
    assert source_id not in {p.id for p in roster_b}, "she joins B with a new participant id"
    in_a = receiver.take_for(call_a)
    assert [n.kind for n in in_a] == ["roster"]
    assert adele not in identity_ids(roster_of(in_a[0]))
