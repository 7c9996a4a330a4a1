"""Calls through the beta SDK (`msgraph-beta-sdk`): peer-to-peer, group and meeting calls; get
and delete a call; list (with paging), get and delete participants; get an operation. Every
response is a typed SDK model; every notification's resourceData is parsed with the SDK's
models, and what the bot set comes back unchanged."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta.generated.communications.calls.item.participants.participants_request_builder import (
    ParticipantsRequestBuilder,
)
from msgraph_beta.generated.models.call import Call
from msgraph_beta.generated.models.call_state import CallState
from msgraph_beta.generated.models.invite_participants_operation import InviteParticipantsOperation
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.models.operation_status import OperationStatus
from msgraph_beta.generated.models.participant import Participant

from harness import assert_no_unknown_additional_data, round_trips
from sdk import (
    base_call,
    call_of,
    create_and_join_meeting,
    identity_ids,
    invite_body,
    invitee,
    operation_of,
    p2p_call,
    roster_of,
    user,
)


async def test_a_peer_to_peer_call_is_created_establishes_and_reads_back_with_the_sdk_models(graph, server, receiver):
    megan = server.user("Megan Bowen")
    server.set_user_behaviour(megan, {"kind": "answer", "afterMs": 500})
    request = p2p_call(receiver, megan)
    call = await graph.communications.calls.post(request)

    assert type(call) is Call
    assert call.state == CallState.Establishing
    assert call.id and call.my_participant_id and call.call_chain_id
    assert call.tenant_id == server.tenant_id
    round_trips(call, request, "create P2P response")
    assert_no_unknown_additional_data(call, "create P2P response")

    server.advance(0)
    got = receiver.take_for(call.id)
    assert [call_of(n).state for n in got] == [CallState.Establishing]
    server.advance(500)
    got = receiver.take_for(call.id)
    assert [n.change_type for n in got] == ["updated"]
    established = call_of(got[0])
    assert established.state == CallState.Established
    round_trips(established, request, "established notification")

    fetched = await graph.communications.calls.by_call_id(call.id).get()
    assert fetched.state == CallState.Established
    assert fetched.call_chain_id == call.call_chain_id
    round_trips(fetched, request, "GET call")
    assert_no_unknown_additional_data(fetched, "GET call")

    # P2P calls get call-state notifications only; deleting hangs up.
    await graph.communications.calls.by_call_id(call.id).delete()
    server.advance(0)
    got = receiver.take_for(call.id)
    states = [call_of(n).state for n in got]
    assert states[-1] == CallState.Terminated, states
    assert got[-1].change_type == "deleted"
    with pytest.raises(ODataError) as gone:
        await graph.communications.calls.by_call_id(call.id).get()
    assert gone.value.response_status_code == 404
    assert gone.value.error.code == "itemNotFound"


async def test_a_declined_peer_to_peer_call_terminates_with_a_result_info_the_sdk_reads(graph, server, receiver):
    megan = server.user("Megan Bowen")  # declines
    call = await graph.communications.calls.post(p2p_call(receiver, megan))
    server.advance(60_000)
    got = [call_of(n) for n in receiver.take_for(call.id)]
    assert got[-1].state == CallState.Terminated
    assert got[-1].result_info is not None
    assert (got[-1].result_info.code, got[-1].result_info.subcode) == (603, 10003), "declined (docs/codes.md)"
    assert got[-1].result_info.message


async def test_an_ad_hoc_group_call_with_two_targets_rings_both_and_sends_rosters(graph, server, receiver):
    adele, alex = server.user("Adele Vance"), server.user("Alex Wilber")
    for u in (adele, alex):
        server.set_user_behaviour(u, {"kind": "answer", "afterMs": 0})
    request = base_call(receiver, targets=[invitee(user(adele)), invitee(user(alex))])
    call = await graph.communications.calls.post(request)
    round_trips(call, request, "create group call response")
    assert call.chat_info is None, "an ad-hoc group call has no chat"
    server.advance(0)
    got = receiver.take_for(call.id)
    assert [call_of(n).state for n in got if n.kind == "call"][-1] == CallState.Established
    rosters = [roster_of(n) for n in got if n.kind == "roster"]
    assert rosters, [n.body for n in got]
    assert {adele, alex} <= identity_ids(rosters[-1])

    page = await graph.communications.calls.by_call_id(call.id).participants.get()
    assert len(page.value) == 3
    assert {adele, alex} <= identity_ids(page.value)
    assert_no_unknown_additional_data(page, "list participants")


async def test_a_meeting_call_joins_an_online_meeting_created_with_the_sdk(graph, server, receiver):
    call_id, meeting = await create_and_join_meeting(graph, server, receiver)
    assert meeting.join_web_url and meeting.chat_info.thread_id
    call = await graph.communications.calls.by_call_id(call_id).get()
    assert call.state == CallState.Established
    assert call.chat_info.thread_id == meeting.chat_info.thread_id
    assert call.meeting_info.odata_type == "#microsoft.graph.organizerMeetingInfo"
    assert call.meeting_info.organizer.user.id == server.user("Adele Vance")
    assert_no_unknown_additional_data(call, "GET meeting call")


async def test_participants_are_listed_paged_got_and_deleted_through_the_sdk(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    adele, alex, phone = server.user("Adele Vance"), server.user("Alex Wilber"), "+14255550101"
    for u in (adele, alex):
        server.set_user_behaviour(u, {"kind": "answer", "afterMs": 0})
    participants = graph.communications.calls.by_call_id(call_id).participants
    from sdk import phone as phone_identity

    op = await participants.invite.post(
        invite_body([invitee(user(adele)), invitee(user(alex)), invitee(phone_identity(phone))], "three")
    )
    server.advance(2000)
    got = receiver.take_for(call_id)
    # The users join at once (each a roster), the phone after 2 s; then the operation ends.
    assert [n.kind for n in got][-2:] == ["operation", "roster"], [n.body for n in got]
    assert operation_of(got[-2]).status == OperationStatus.Completed
    assert {adele, alex, phone} <= identity_ids(roster_of(got[-1]))

    # All of them on one page.
    page = await participants.get()
    assert len(page.value) == 4 and page.odata_next_link is None
    assert all(type(p) is Participant for p in page.value)
    assert {adele, alex, phone} <= identity_ids(page.value)
    assert_no_unknown_additional_data(page, "list participants")

    # Paged with $top, following @odata.nextLink as the SDK does.
    config = RequestConfiguration(query_parameters=ParticipantsRequestBuilder.ParticipantsRequestBuilderGetQueryParameters(top=3))
    first = await participants.get(request_configuration=config)
    assert len(first.value) == 3 and first.odata_next_link
    second = await participants.with_url(first.odata_next_link).get()
    assert len(second.value) == 1 and second.odata_next_link is None
    assert {p.id for p in first.value + second.value} == {p.id for p in page.value}

    # GET one participant: the ids the invite operation returned.
    ids = {p.identity.user.id if p.identity.user else p.identity.phone.id: p.participant_id for p in op.participants}
    one = await participants.by_participant_id(ids[alex]).get()
    assert type(one) is Participant
    assert one.id == ids[alex] and one.info.identity.user.id == alex
    assert one.is_muted is False and one.is_in_lobby is False
    assert one.media_streams and one.media_streams[0].media_type.value == "audio"
    assert_no_unknown_additional_data(one, "GET participant")
    phone_participant = await participants.by_participant_id(ids[phone]).get()
    assert phone_participant.info.identity.phone.id == phone
    assert phone_participant.info.identity.odata_type == "#microsoft.graph.communicationsIdentitySet"
    assert_no_unknown_additional_data(phone_participant, "GET phone participant")

    # DELETE removes Alex: a roster notification without him.
    await participants.by_participant_id(ids[alex]).delete()
    server.advance(0)
    got = receiver.take_for(call_id)
    assert [n.kind for n in got] == ["roster"], [n.body for n in got]
    assert alex not in identity_ids(roster_of(got[0]))
    with pytest.raises(ODataError) as gone:
        await participants.by_participant_id(ids[alex]).get()
    assert gone.value.response_status_code == 404


async def test_an_invite_operation_is_read_back_through_the_discriminator(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    adele = server.user("Adele Vance")  # answers after 1 s
    body = invite_body([invitee(user(adele))], "read me back")
    op = await graph.communications.calls.by_call_id(call_id).participants.invite.post(body)
    assert type(op) is InviteParticipantsOperation
    assert op.status == OperationStatus.Running

    running = await graph.communications.calls.by_call_id(call_id).operations.by_comms_operation_id(op.id).get()
    assert type(running) is InviteParticipantsOperation, type(running)
    assert running.status == OperationStatus.Running
    assert running.client_context == "read me back"
    assert running.participants[0].identity.user.id == adele
    assert_no_unknown_additional_data(running, "GET operation")

    server.advance(1000)
    receiver.take_for(call_id)
    done = await graph.communications.calls.by_call_id(call_id).operations.by_comms_operation_id(op.id).get()
    assert type(done) is InviteParticipantsOperation
    assert done.status == OperationStatus.Completed
    assert done.result_info is None


async def test_keep_alive_and_errors_come_back_as_the_sdk_expects(graph, server, receiver):
    call_id, _ = await create_and_join_meeting(graph, server, receiver)
    await graph.communications.calls.by_call_id(call_id).keep_alive.post()
    with pytest.raises(ODataError) as missing:
        await graph.communications.calls.by_call_id("00000000-0000-0000-0000-000000000000").get()
    assert missing.value.response_status_code == 404
    assert missing.value.error.code == "itemNotFound"
    assert missing.value.error.message
    with pytest.raises(ODataError) as invalid:
        await graph.communications.calls.by_call_id(call_id).participants.invite.post(invite_body([], "none"))
    assert invalid.value.response_status_code == 400
    assert invalid.value.error.code == "invalidRequest"
    # Actions Switchboard does not implement answer 501 with a Graph error the SDK reads.
    from msgraph_beta.generated.communications.calls.item.mute.mute_post_request_body import MutePostRequestBody

    with pytest.raises(ODataError) as not_implemented:
        await graph.communications.calls.by_call_id(call_id).mute.post(MutePostRequestBody(client_context="x"))
    assert not_implemented.value.response_status_code == 501
    assert not_implemented.value.error.code == "notImplemented"
