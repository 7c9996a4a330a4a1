//! The examples of the Graph pages Switchboard copies, used as fixtures of the wire types.
//!
//! Every JSON example of the seed page `participant-invite.md` and of the pages under
//! `shared/reference/graph/` for the routes and types Switchboard implements (request bodies,
//! response bodies, notification bodies, and the resource pages' `JSON representation` and
//! `Example` blocks) is read from `shared/reference` (a sibling of the checkout), parsed into
//! the model type it stands for, serialised again and compared with the example. One test per
//! page, each asserting how many examples of each kind the page has, so a block the extractor
//! misses fails too. "Equivalent" means: every key and value of the example is in our
//! serialisation, recursively, arrays element by element; our serialisation may hold more (the
//! examples are shortened). The differences we accept are listed in [`ALLOWED`], each with the
//! examples and the JSON path it applies to and its reason; any other difference fails the test
//! naming the example and the JSON path. An entry that no example uses fails too, so the table
//! cannot go stale.
//!
//! A `JSON representation` is a schema sketch: its placeholders (`"String"`, `"Boolean"`,
//! `"a | b | c"`, `{"@odata.type": "microsoft.graph.resultInfo"}`) are replaced by sample values
//! of the type they name before the check ([`sample_placeholders`]), so the check is that every
//! property the page lists is one our type reads and writes, or is listed in [`ALLOWED`] as not
//! modelled, with the reason.
//!
//! Pages not checked here, and why: media configurations (`mediaconfig.md`,
//! `servicehostedmediaconfig.md`, `apphostedmediaconfig.md`, `mediainfo.md`) are carried as
//! opaque JSON (Switchboard has no media); the pages of actions Switchboard answers with
//! `501 notImplemented` (answer, reject, transfer, mute, startHoldMusic, ...) and of their
//! types (`muteparticipantoperation.md`, `toneinfo.md`, `callroute.md`, `recordinginfo.md`, ...)
//! belong to those actions; `errors.md` is checked by the API's own error tests.
//!
//! Doc blocks that are not JSON at all (trailing commas, escaped text) are listed by name in
//! [`NOT_JSON`]; an unlisted block that does not parse fails.
//!
//! Slips of the seed page that do not change what a wire type reads or writes (Ex. 1 and 2 show
//! an invited user under `identity.application`, Ex. 2 sets `replacesCallId` on both invitees,
//! Ex. 3's roster notification names the replaced call) need no entry here: they round-trip
//! unchanged. The tests of the invite itself follow DESIGN.md, not those slips.

use std::collections::BTreeSet;
use std::path::PathBuf;

use graph_model::{
    Call, CallOptions, ChatInfo, CollectionPage, CommsNotification, CommsNotifications, CommsOperation, CreateCallBody,
    CreateOnlineMeetingBody, Identity, IdentitySet, InvitationParticipantInfo, InviteParticipantsBody, MediaStream,
    MeetingInfo, OnlineMeeting, Participant, ParticipantInfo, RemovedState, ResultInfo,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// The allowed differences: ONE table.
// ---------------------------------------------------------------------------------------------

/// What an entry of [`ALLOWED`] lets differ.
#[derive(Debug, Clone, Copy)]
enum Allow {
    /// The example shows `null` where a real value belongs. The test puts a generated id there
    /// before parsing (as Switchboard writes a real one), and accepts any value of ours.
    RealValueForNull,
    /// The example carries a property that is not in the Graph schema of that type; our type
    /// drops it. Accepted when absent from ours (a present value is still compared).
    Dropped,
    /// The example writes `example` at this path; Switchboard writes `ours`. Either is accepted
    /// from the model (it carries what it is given; the rendering rule lives where noted).
    Spelling { example: &'static str, ours: &'static str },
    /// The example lacks a property our type requires because Switchboard always writes it; the
    /// test fills it (value computed from the enclosing object) before parsing.
    FilledBeforeParse(fn(&Map<String, Value>) -> Value),
    /// The notification's `resourceUrl` is a slip; its `resourceData` is read as this resource.
    ReadAs(Resource),
    /// Shortened resource that no model type can hold as it is; parsed no further than its
    /// envelope, compared as raw JSON.
    NotTyped,
    /// Members of the object at this path that our type does not model (Switchboard never
    /// writes them); accepted when absent from ours.
    DroppedKeys(&'static [&'static str]),
}

struct Deviation {
    /// Glob (`*` = anything) over example names: `<page>: Example <n> / <section>`.
    examples: &'static str,
    /// JSON path, `$` the example's root; `[*]` stands for any array index.
    path: &'static str,
    allow: Allow,
    reason: &'static str,
}

const INVITE: &str = "participant-invite.md";
const CALLS: &str = "application-post-calls.md";
const MEETINGS: &str = "application-post-onlinemeetings.md";
const P_CALL_GET: &str = "call-get.md";
const P_CALL_DELETE: &str = "call-delete.md";
const P_CALL_LIST_PARTICIPANTS: &str = "call-list-participants.md";
const P_PARTICIPANT_GET: &str = "participant-get.md";
const P_PARTICIPANT_DELETE: &str = "participant-delete.md";
const P_CALL_KEEPALIVE: &str = "call-keepalive.md";
const P_V1_0_PARTICIPANT_INVITE: &str = "v1.0-participant-invite.md";
const P_COMMSNOTIFICATION: &str = "commsnotification.md";
const P_COMMSNOTIFICATIONS: &str = "commsnotifications.md";
const P_V1_0_COMMSNOTIFICATION: &str = "v1.0-commsnotification.md";
const P_PARTICIPANT: &str = "participant.md";
const P_CALL: &str = "call.md";
const P_V1_0_CALL: &str = "v1.0-call.md";
const P_INVITEPARTICIPANTSOPERATION: &str = "inviteparticipantsoperation.md";
const P_COMMSOPERATION: &str = "commsoperation.md";
const P_IDENTITYSET: &str = "identityset.md";
const P_COMMUNICATIONSIDENTITYSET: &str = "communicationsidentityset.md";
const P_IDENTITY: &str = "identity.md";
const P_COMMUNICATIONSUSERIDENTITY: &str = "communicationsuseridentity.md";
const P_COMMUNICATIONSPHONEIDENTITY: &str = "communicationsphoneidentity.md";
const P_COMMUNICATIONSAPPLICATIONIDENTITY: &str = "communicationsapplicationidentity.md";
const P_COMMUNICATIONSAPPLICATIONINSTANCEIDENTITY: &str = "communicationsapplicationinstanceidentity.md";
const P_INVITATIONPARTICIPANTINFO: &str = "invitationparticipantinfo.md";
const P_V1_0_INVITATIONPARTICIPANTINFO: &str = "v1.0-invitationparticipantinfo.md";
const P_PARTICIPANTINFO: &str = "participantinfo.md";
const P_V1_0_PARTICIPANTINFO: &str = "v1.0-participantinfo.md";
const P_RESULTINFO: &str = "resultinfo.md";
const P_CHATINFO: &str = "chatinfo.md";
const P_MEETINGINFO: &str = "meetinginfo.md";
const P_ORGANIZERMEETINGINFO: &str = "organizermeetinginfo.md";
const P_TOKENMEETINGINFO: &str = "tokenmeetinginfo.md";
const P_JOINMEETINGIDMEETINGINFO: &str = "joinmeetingidmeetinginfo.md";
const P_MEDIASTREAM: &str = "mediastream.md";
const P_REMOVEDSTATE: &str = "removedstate.md";
const P_OUTGOINGCALLOPTIONS: &str = "outgoingcalloptions.md";
const P_INCOMINGCALLOPTIONS: &str = "incomingcalloptions.md";
const P_CALLOPTIONS: &str = "calloptions.md";
const P_ONLINEMEETING: &str = "onlinemeeting.md";

/// Every page checked here, for the table's own consistency test.
const PAGES: &[&str] = &[
    INVITE,
    CALLS,
    MEETINGS,
    P_CALL_GET,
    P_CALL_DELETE,
    P_CALL_LIST_PARTICIPANTS,
    P_PARTICIPANT_GET,
    P_PARTICIPANT_DELETE,
    P_CALL_KEEPALIVE,
    P_V1_0_PARTICIPANT_INVITE,
    P_COMMSNOTIFICATION,
    P_COMMSNOTIFICATIONS,
    P_V1_0_COMMSNOTIFICATION,
    P_PARTICIPANT,
    P_CALL,
    P_V1_0_CALL,
    P_INVITEPARTICIPANTSOPERATION,
    P_COMMSOPERATION,
    P_IDENTITYSET,
    P_COMMUNICATIONSIDENTITYSET,
    P_IDENTITY,
    P_COMMUNICATIONSUSERIDENTITY,
    P_COMMUNICATIONSPHONEIDENTITY,
    P_COMMUNICATIONSAPPLICATIONIDENTITY,
    P_COMMUNICATIONSAPPLICATIONINSTANCEIDENTITY,
    P_INVITATIONPARTICIPANTINFO,
    P_V1_0_INVITATIONPARTICIPANTINFO,
    P_PARTICIPANTINFO,
    P_V1_0_PARTICIPANTINFO,
    P_RESULTINFO,
    P_CHATINFO,
    P_MEETINGINFO,
    P_ORGANIZERMEETINGINFO,
    P_TOKENMEETINGINFO,
    P_JOINMEETINGIDMEETINGINFO,
    P_MEDIASTREAM,
    P_REMOVEDSTATE,
    P_OUTGOINGCALLOPTIONS,
    P_INCOMINGCALLOPTIONS,
    P_CALLOPTIONS,
    P_ONLINEMEETING,
];

const ALLOWED: &[Deviation] = &[
    // --- participant-invite.md -----------------------------------------------------------
    Deviation {
        examples: "participant-invite.md: Example * / Notification - roster*",
        path: "$.value[*].resourceData[*].id",
        allow: Allow::RealValueForNull,
        reason: "documented slip (DESIGN.md, seed page's slips): rosters show \"id\": null where \
                 a real participant id belongs; Switchboard writes the participant's id",
    },
    Deviation {
        examples: "participant-invite.md: Example 2 / Notification - operation completed",
        path: "$.value[*].resourceData.id",
        allow: Allow::RealValueForNull,
        reason: "documented slip: Ex. 2's operation notification shows \"id\": null; an \
                 operation always has its id (the one the invite response returned)",
    },
    Deviation {
        examples: "participant-invite.md: Example * / Response",
        path: "$.participants[*].id",
        allow: Allow::Dropped,
        reason: "\"id\": null on invitationParticipantInfo is in no Graph schema of that type \
                 (invitationparticipantinfo.md); InvitationParticipantInfo drops it. The \
                 invitee's participant id travels as participantId",
    },
    Deviation {
        examples: "participant-invite.md: Example 2 / Notification - roster*",
        path: "$.value[*].resourceUrl",
        allow: Allow::ReadAs(Resource::Roster),
        reason: "documented slip: Ex. 2 addresses its roster notification to \
                 .../operations/participants; its resourceData is a participant collection and \
                 Switchboard addresses rosters to .../participants (its operation notification, \
                 same URL, reads as an operation by that URL)",
    },
    Deviation {
        examples: "participant-invite.md: Example 4 / Notification - *",
        path: "$.value[*].resourceData.participants[*].identity.@odata.type",
        allow: Allow::Spelling {
            example: "#microsoft.graph.identitySet",
            ours: "#microsoft.graph.communicationsIdentitySet",
        },
        reason: "a phone identity set: the docs write identitySet, Switchboard writes \
                 communicationsIdentitySet, the only set type whose SDK models know `phone` \
                 (client-pitfalls.md; rendered by core's Party::to_identity_set)",
    },
    Deviation {
        examples: "participant-invite.md: Example 4 / Notification - *",
        path: "$.value[*].resourceData[*].info.identity.@odata.type",
        allow: Allow::Spelling {
            example: "#microsoft.graph.identitySet",
            ours: "#microsoft.graph.communicationsIdentitySet",
        },
        reason: "a phone identity set in a roster: as above (client-pitfalls.md)",
    },
    // --- graph/application-post-calls.md ----------------------------------------------------
    Deviation {
        examples: "application-post-calls.md: Example * / Response",
        path: "$.callChainId",
        allow: Allow::FilledBeforeParse(fill_call_chain_id),
        reason: "the 2019 examples predate callChainId (documented in v1.0-call.md); \
                 Switchboard always writes it (the conversation id), so Call requires it",
    },
    Deviation {
        examples: "application-post-calls.md: Example 1 / Response",
        path: "$.targets[*].region",
        allow: Allow::Dropped,
        reason: "the old beta call page types targets as participantInfo; v1.0-call.md types \
                 them as invitationParticipantInfo, which has no region (Call.targets is \
                 InvitationParticipantInfo)",
    },
    Deviation {
        examples: "application-post-calls.md: Example 1 / Response",
        path: "$.targets[*].languageId",
        allow: Allow::Dropped,
        reason: "as region: languageId is a participantInfo property, not one of \
                 invitationParticipantInfo",
    },
    Deviation {
        examples: "application-post-calls.md: Example * / Notification - *",
        path: "$.value[*].resource",
        allow: Allow::FilledBeforeParse(fill_legacy_resource),
        reason: "the create-call page's notifications omit the legacy `resource`; Switchboard \
                 writes it beside resourceUrl in every body (DESIGN.md, Notifications), so \
                 CommsNotification requires it; filled as the /app twin of resourceUrl",
    },
    Deviation {
        examples: "application-post-calls.md: Example * / Notification - establish*",
        path: "$.value[*].resourceData",
        allow: Allow::NotTyped,
        reason: "a call-state notification shortened to state, id and a few members; Call \
                 holds a full call (Switchboard sends the whole call, core::render::call)",
    },
    // --- graph/application-post-onlinemeetings.md -------------------------------------------
    Deviation {
        examples: "application-post-onlinemeetings.md: Example * / Response",
        path: "$",
        allow: Allow::NotTyped,
        reason: "shortened onlineMeeting without joinWebUrl and joinMeetingIdSettings, which \
                 OnlineMeeting always writes; it also carries audioConferencing, which \
                 OnlineMeeting does not model (Switchboard has no dial-in)",
    },
    // --- graph/call-get.md ----------------------------------------------------------------
    Deviation {
        examples: "call-get.md: Example * / Response",
        path: "$.callChainId",
        allow: Allow::FilledBeforeParse(fill_call_chain_id),
        reason: "this page version predates callChainId (v1.0-call.md has it); Switchboard \
                 always writes it (the conversation id), so Call requires it",
    },
    Deviation {
        examples: "call-get.md: Example * / Response",
        path: "$.targets[*]",
        allow: Allow::DroppedKeys(&["region", "languageId"]),
        reason: "the old page types targets as participantInfo; v1.0-call.md types them as \
                 invitationParticipantInfo, which has neither region nor languageId",
    },
    Deviation {
        examples: "call-get.md: Example * / Response",
        path: "$",
        allow: Allow::DroppedKeys(&["transcription"]),
        reason: "callTranscriptionInfo: Switchboard has no media, so no transcription; Call does \
                 not model it (the example shows null or an inactive transcription)",
    },
    // --- graph/call-delete.md -------------------------------------------------------------
    Deviation {
        examples: "call-delete.md: Notification - * / Notification",
        path: "$.value[*].resource",
        allow: Allow::FilledBeforeParse(fill_legacy_resource),
        reason: "the page's notifications omit the legacy `resource`; Switchboard writes it \
                 beside resourceUrl (DESIGN.md, Notifications); filled as resourceUrl's /app twin",
    },
    Deviation {
        examples: "call-delete.md: Notification - * / Notification",
        path: "$.value[*].resourceData",
        allow: Allow::NotTyped,
        reason: "call-state notifications shortened to state (and resultInfo); Call holds a \
                 full call (Switchboard sends the whole call, core::render::call). The \
                 terminated one also writes resultInfo's code and subcode as strings (\"200\", \
                 \"5001\"); Switchboard writes numbers, the schema's Int32 (docs/decisions.md)",
    },
    // --- graph/participant-get.md ---------------------------------------------------------
    Deviation {
        examples: "participant-get.md: Example / Response",
        path: "$.info.id",
        allow: Allow::Dropped,
        reason: "\"id\": null inside participantInfo is in no schema of participantInfo \
                 (participantinfo.md); the participant's id is the participant's own `id`",
    },
    Deviation {
        examples: "participant-get.md: Example / Response",
        path: "$",
        allow: Allow::DroppedKeys(&["@odata.context", "recordingInfo"]),
        reason: "Participant does not carry @odata.context (Switchboard writes it on calls \
                 only) nor recordingInfo (no media, so never recording; the example has null)",
    },
    // --- graph/participant-delete.md ------------------------------------------------------
    Deviation {
        examples: "participant-delete.md: Example 2 / Response",
        path: "$.participants[*].id",
        allow: Allow::Dropped,
        reason: "as participant-invite.md: \"id\": null on invitationParticipantInfo is in no \
                 schema of that type; the invitee's participant id travels as participantId",
    },
    // --- graph/v1.0-participant-invite.md -------------------------------------------------
    Deviation {
        examples: "v1.0-participant-invite.md: Example * / Response",
        path: "$.participants[*].id",
        allow: Allow::Dropped,
        reason: "as participant-invite.md: \"id\": null on invitationParticipantInfo is in no \
                 schema of that type; the invitee's participant id travels as participantId",
    },
    Deviation {
        examples: "v1.0-participant-invite.md: Example * / Notification - roster*",
        path: "$.value[*].resourceData[*].id",
        allow: Allow::RealValueForNull,
        reason: "the same slip as the beta page: rosters show \"id\": null where a real \
                 participant id belongs",
    },
    Deviation {
        examples: "v1.0-participant-invite.md: Example 2 / Notification - operation completed",
        path: "$.value[*].resourceData.id",
        allow: Allow::RealValueForNull,
        reason: "the same slip as the beta page's Ex. 2: the operation shows \"id\": null",
    },
    Deviation {
        examples: "v1.0-participant-invite.md: Example 2 / Notification - roster*",
        path: "$.value[*].resourceUrl",
        allow: Allow::ReadAs(Resource::Roster),
        reason: "the same slip as the beta page's Ex. 2: the roster is addressed to \
                 .../operations/participants; its resourceData is a participant collection",
    },
    // --- graph/commsnotification.md, commsnotifications.md, v1.0-commsnotification.md ------
    Deviation {
        examples: "commsnotification.md: JSON representation / Representation",
        path: "$",
        allow: Allow::NotTyped,
        reason: "the representation has only changeType and resource (no resourceData, no \
                 resourceUrl): no notification Switchboard sends is that short; its two \
                 example envelopes below are checked in full",
    },
    Deviation {
        examples: "commsnotification.md: JSON representation / Representation #*",
        path: "$.@odata.type",
        allow: Allow::FilledBeforeParse(fill_notifications_type),
        reason: "the old page's envelopes carry no @odata.type; Switchboard writes \
                 #microsoft.graph.commsNotifications on every envelope",
    },
    Deviation {
        examples: "commsnotification.md: JSON representation / Representation #*",
        path: "$.value[*].@odata.type",
        allow: Allow::FilledBeforeParse(fill_notification_type),
        reason: "as above, on each notification: Switchboard writes #microsoft.graph.commsNotification",
    },
    Deviation {
        examples: "commsnotification.md: JSON representation / Representation #*",
        path: "$.value[*].resourceUrl",
        allow: Allow::FilledBeforeParse(fill_resource_url),
        reason: "the old page predates resourceUrl (v1.0-commsnotification.md has it); \
                 Switchboard writes both; filled as the /communications twin of `resource`",
    },
    Deviation {
        examples: "commsnotification.md: JSON representation / Representation #2",
        path: "$.value[*].resourceData",
        allow: Allow::NotTyped,
        reason: "an incoming call shortened to id and state; Call holds a full call",
    },
    Deviation {
        examples: "commsnotification.md: JSON representation / Representation #3",
        path: "$.value[*].resourceData",
        allow: Allow::NotTyped,
        reason: "a roster shortened to ids; Participant requires info (Switchboard always \
                 writes it, core::render::participant)",
    },
    Deviation {
        examples: "commsnotifications.md: JSON representation / Representation",
        path: "$.@odata.type",
        allow: Allow::FilledBeforeParse(fill_notifications_type),
        reason: "the representation has no @odata.type on the envelope; Switchboard writes \
                 #microsoft.graph.commsNotifications",
    },
    Deviation {
        examples: "v1.0-commsnotification.md: JSON representation / Representation",
        path: "$",
        allow: Allow::NotTyped,
        reason: "the representation has only @odata.type, changeType and resourceUrl (\"String\"): \
                 no resource, no resourceData; no notification Switchboard sends is that short \
                 (the invite pages' notifications are checked in full)",
    },
    // --- graph/call.md, graph/v1.0-call.md --------------------------------------------------
    Deviation {
        examples: "call.md: JSON representation / Representation",
        path: "$.@odata.type",
        allow: Allow::FilledBeforeParse(fill_call_type),
        reason: "representations leave @odata.type out; Switchboard writes #microsoft.graph.call",
    },
    Deviation {
        examples: "v1.0-call.md: JSON representation / Representation",
        path: "$.@odata.type",
        allow: Allow::FilledBeforeParse(fill_call_type),
        reason: "representations leave @odata.type out; Switchboard writes #microsoft.graph.call",
    },
    Deviation {
        examples: "call.md: JSON representation / Representation",
        path: "$.callChainId",
        allow: Allow::FilledBeforeParse(fill_call_chain_id),
        reason: "this page version predates callChainId (v1.0-call.md has it); Switchboard \
                 always writes it",
    },
    Deviation {
        examples: "call.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&["replacesContext"]),
        reason: "replacesContext (an old beta property for transfers) is not modelled: \
                 Switchboard does not implement transfer",
    },
    Deviation {
        examples: "v1.0-call.md: JSON representation / Representation",
        path: "$.activeModalities",
        allow: Allow::FilledBeforeParse(fill_empty_list),
        reason: "beta-only (Call::BETA_ONLY); Call requires it and leaves it out of v1.0 JSON \
                 by Call::to_json, not by its serde shape",
    },
    Deviation {
        examples: "v1.0-call.md: JSON representation / Representation",
        path: "$.routingPolicies",
        allow: Allow::FilledBeforeParse(fill_empty_list),
        reason: "beta-only, as activeModalities",
    },
    Deviation {
        examples: "v1.0-call.md: JSON representation / Representation",
        path: "$.callRoutes",
        allow: Allow::FilledBeforeParse(fill_empty_list),
        reason: "callRoutes is missing from this representation though the v1.0 SDK's call has \
                 it; Switchboard always writes it (empty: no forwarding)",
    },
    Deviation {
        examples: "v1.0-call.md: JSON representation / Representation",
        path: "$.tenantId",
        allow: Allow::FilledBeforeParse(fill_placeholder_string),
        reason: "tenantId is missing from this representation though the page's property table \
                 and every SDK list it; Switchboard always writes it",
    },
    Deviation {
        examples: "v1.0-call.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&["contentSharingSessions", "transcription"]),
        reason: "content sharing and transcription need media, which Switchboard does not have \
                 (DESIGN.md, out of scope); Call does not model them",
    },
    // --- graph/inviteparticipantsoperation.md, graph/commsoperation.md ----------------------
    Deviation {
        examples: "inviteparticipantsoperation.md: JSON representation / Representation",
        path: "$.@odata.type",
        allow: Allow::FilledBeforeParse(fill_invite_operation_type),
        reason: "representations leave @odata.type out; Switchboard writes \
                 #microsoft.graph.inviteParticipantsOperation, the discriminator the SDKs need",
    },
    Deviation {
        examples: "commsoperation.md: JSON representation / Representation",
        path: "$.@odata.type",
        allow: Allow::FilledBeforeParse(fill_comms_operation_type),
        reason: "representations leave @odata.type out; a bare operation is \
                 #microsoft.graph.commsOperation",
    },
    // --- identity sets and identities ---------------------------------------------------------
    Deviation {
        examples: "identityset.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&["conversation", "conversationIdentityType"]),
        reason: "conversation identities name Teams chats in chat APIs; no calls API page \
                 uses them and Switchboard never writes them",
    },
    Deviation {
        examples: "communicationsidentityset.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&["assertedIdentity", "azureCommunicationServicesUser", "endpointType"]),
        reason: "asserted identities, Azure Communication Services users and the set's own \
                 endpointType belong to interop scenarios Switchboard does not have (DESIGN.md, \
                 out of scope); IdentitySet does not model them",
    },
    Deviation {
        examples: "communicationsapplicationidentity.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&["applicationType", "hidden"]),
        reason: "Identity models the members every identity kind shares (id, displayName, \
                 tenantId, identityProvider); applicationType and hidden are never set by \
                 Switchboard",
    },
    Deviation {
        examples: "communicationsapplicationinstanceidentity.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&["hidden"]),
        reason: "as communicationsApplicationIdentity: hidden is never set by Switchboard",
    },
    // --- graph/participant.md -----------------------------------------------------------------
    Deviation {
        examples: "participant.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&["recordingInfo", "restrictedExperience"]),
        reason: "no media, so no recording; no meeting restrictions: Participant does not model \
                 them",
    },
    // --- graph/onlinemeeting.md ---------------------------------------------------------------
    Deviation {
        examples: "onlinemeeting.md: JSON representation / Representation",
        path: "$.@odata.type",
        allow: Allow::FilledBeforeParse(fill_online_meeting_type),
        reason: "representations leave @odata.type out; Switchboard writes #microsoft.graph.onlineMeeting",
    },
    Deviation {
        examples: "onlinemeeting.md: JSON representation / Representation",
        path: "$.joinUrl",
        allow: Allow::FilledBeforeParse(fill_join_url),
        reason: "joinUrl, the deprecated twin of joinWebUrl the 2019 create-meeting page \
                 shows, is written by Switchboard; this newer representation dropped it",
    },
    Deviation {
        examples: "onlinemeeting.md: JSON representation / Representation",
        path: "$.autoAdmittedUsers",
        allow: Allow::FilledBeforeParse(fill_auto_admitted_users),
        reason: "autoAdmittedUsers is written by Switchboard as the 2019 create-meeting page \
                 shows; this newer representation replaced it with lobbyBypassSettings",
    },
    Deviation {
        examples: "onlinemeeting.md: JSON representation / Representation",
        path: "$",
        allow: Allow::DroppedKeys(&[
            "allowAttendeeToEnableCamera",
            "allowAttendeeToEnableMic",
            "allowMeetingChat",
            "allowTeamworkReactions",
            "allowedPresenters",
            "alternativeRecording",
            "anonymizeIdentityForRoles",
            "audioConferencing",
            "broadcastSettings",
            "isEntryExitAnnounced",
            "joinInformation",
            "lobbyBypassSettings",
            "recordAutomatically",
            "recording",
            "shareMeetingChatHistoryDefault",
            "videoTeleconferenceId",
            "watermarkProtection",
        ]),
        reason: "meeting policies, lobby, recording, dial-in and broadcast settings: Switchboard's \
                 meetings exist to be joined by calls (DESIGN.md, Directory); OnlineMeeting \
                 models what create-meeting and joining use (ids, URLs, chatInfo, \
                 joinMeetingIdSettings, times, subject, participants)",
    },
];

fn fill_call_type(_: &Map<String, Value>) -> Value {
    Value::String("#microsoft.graph.call".to_owned())
}

fn fill_comms_operation_type(_: &Map<String, Value>) -> Value {
    Value::String("#microsoft.graph.commsOperation".to_owned())
}

fn fill_invite_operation_type(_: &Map<String, Value>) -> Value {
    Value::String("#microsoft.graph.inviteParticipantsOperation".to_owned())
}

fn fill_notification_type(_: &Map<String, Value>) -> Value {
    Value::String("#microsoft.graph.commsNotification".to_owned())
}

fn fill_notifications_type(_: &Map<String, Value>) -> Value {
    Value::String("#microsoft.graph.commsNotifications".to_owned())
}

fn fill_online_meeting_type(_: &Map<String, Value>) -> Value {
    Value::String("#microsoft.graph.onlineMeeting".to_owned())
}

fn fill_join_url(meeting: &Map<String, Value>) -> Value {
    meeting.get("joinWebUrl").cloned().unwrap_or(Value::Null)
}

fn fill_auto_admitted_users(_: &Map<String, Value>) -> Value {
    Value::String("everyoneInCompany".to_owned())
}

fn fill_empty_list(_: &Map<String, Value>) -> Value {
    Value::Array(Vec::new())
}

fn fill_placeholder_string(_: &Map<String, Value>) -> Value {
    Value::String("String".to_owned())
}

fn fill_resource_url(notification: &Map<String, Value>) -> Value {
    let resource = notification.get("resource").and_then(Value::as_str).unwrap_or_default();
    Value::String(resource.replacen("/app/", "/communications/", 1))
}

fn fill_call_chain_id(_call: &Map<String, Value>) -> Value {
    Value::String("00000000-0000-4000-8000-c0c0c0c0c0c0".to_owned())
}

fn fill_legacy_resource(notification: &Map<String, Value>) -> Value {
    let url = notification.get("resourceUrl").and_then(Value::as_str).unwrap_or_default();
    Value::String(url.replacen("/communications/", "/app/", 1))
}

/// How a doc block fails to be JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    /// Only trailing commas; the test removes them and checks the block like any other.
    TrailingComma,
    /// Not a body at all; not checked.
    NotABody,
}

/// Doc blocks that are not JSON in the docs, by example name.
const NOT_JSON: &[(&str, Broken, &str)] = &[
    ("application-post-calls.md: Example 1 / Request", Broken::TrailingComma, "`mediaConfig` ends in `,}`"),
    ("application-post-calls.md: Example 1 / Response", Broken::TrailingComma, "`mediaConfig` ends in `],}`"),
    (
        "application-post-calls.md: Example 2 / Request #2",
        Broken::NotABody,
        "the sample media-session blob, shown with escaped quotes: the string that goes into \
         appHostedMediaConfig.blob, not a request body",
    ),
    ("application-post-calls.md: Example 2 / Response", Broken::TrailingComma, "`mediaConfig` ends in `,}`"),
    ("application-post-calls.md: Example 5 / Request", Broken::TrailingComma, "`mediaConfig` ends in `],}`"),
    ("application-post-calls.md: Example 5 / Response", Broken::TrailingComma, "`mediaConfig` ends in `],}`"),
    ("application-post-calls.md: Example 6 / Request", Broken::TrailingComma, "`mediaConfig` ends in `,}`"),
    ("application-post-calls.md: Example 7 / Request", Broken::TrailingComma, "`mediaConfig` ends in `],}`"),
    ("application-post-calls.md: Example 8 / Request", Broken::TrailingComma, "`mediaConfig` ends in `],}`"),
    (
        "call-get.md: Example 1 / Response",
        Broken::TrailingComma,
        "`source.identity.application` and `mediaConfig` end in `,}`",
    ),
    (
        "call-get.md: Example 2 / Response",
        Broken::TrailingComma,
        "`source.identity.application` and `mediaConfig` end in `,}`",
    ),
    (
        "v1.0-call.md: JSON representation / Representation",
        Broken::TrailingComma,
        "`transcription` is followed by `,}`",
    ),
];

// ---------------------------------------------------------------------------------------------
// Pages and what their examples are.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
    Notification,
    /// A resource page's `JSON representation` (placeholders such as `"String"` or
    /// `"a | b | c"` stand for values: each is replaced by a sample of its type before the
    /// check, see [`sample_placeholders`]) or its `Example` block.
    Representation,
}

/// The model type a request or response body is read into.
#[derive(Debug, Clone, Copy)]
enum Target {
    InviteParticipantsBody,
    CommsOperation,
    CreateCallBody,
    Call,
    CreateOnlineMeetingBody,
    OnlineMeeting,
    Participant,
    ParticipantCollection,
    ParticipantInfo,
    InvitationParticipantInfo,
    IdentitySet,
    Identity,
    ResultInfo,
    ChatInfo,
    MeetingInfo,
    MediaStream,
    RemovedState,
    CallOptions,
    CommsNotification,
    CommsNotifications,
}

/// What a notification's `resourceData` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Call,
    Operation,
    Roster,
}

impl Resource {
    /// From `resourceUrl`: `/communications/calls/{id}`, `.../participants`, `.../operations/{id}`.
    fn from_url(url: &str) -> Option<Resource> {
        let rest = url.strip_prefix("/communications/calls/").or_else(|| url.strip_prefix("/app/calls/"))?;
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [_] => Some(Resource::Call),
            [_, "participants"] => Some(Resource::Roster),
            [_, "operations", _] => Some(Resource::Operation),
            _ => None,
        }
    }
}

struct Page {
    /// Path below `shared/reference`.
    file: &'static str,
    name: &'static str,
    /// The type request bodies, response bodies and representations/examples are read as
    /// (`None`: the page has none; one found is an error).
    request: Option<Target>,
    response: Option<Target>,
    resource: Option<Target>,
    /// Expected numbers of request, response, notification and representation examples.
    expected: [usize; 4],
}

struct Example {
    name: String,
    kind: Kind,
    /// 1-based line of the opening fence.
    line: usize,
    body: String,
}

/// The reference folder: `shared/` is a sibling of the checkout (here and in CI).
fn reference(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference").join(file)
}

fn read_page(page: &Page) -> String {
    let path = reference(page.file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); the doc examples are fixtures and must be present: \
             shared/ is expected beside the checkout",
            path.display()
        )
    })
}

/// Every example block of a page: bodies of ```http request and response blocks (after the
/// request line or status line and the headers) and ```json blocks (kind from their section).
fn extract(page: &str, markdown: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut example = String::from("(top)");
    let mut section: Option<String> = None;
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        if let Some(heading) = line.strip_prefix("## ") {
            example = heading.trim().to_owned();
            section = None;
            continue;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            example = heading.split(':').next().unwrap_or(heading).trim().to_owned();
            section = None;
            continue;
        }
        if let Some(heading) = line.strip_prefix("#### ").or_else(|| line.strip_prefix("##### ")) {
            section = Some(heading.trim().to_owned());
            continue;
        }
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let info = info.trim().to_owned();
        let mut content: Vec<&str> = Vec::new();
        let mut closed = false;
        for (_, inner) in lines.by_ref() {
            if inner.trim() == "```" {
                closed = true;
                break;
            }
            content.push(inner);
        }
        assert!(closed, "{page}: code block opened at line {} is never closed", index + 1);
        let (kind, body) = match info.as_str() {
            "http" => {
                let first = content.iter().position(|l| !l.trim().is_empty());
                let Some(first) = first else { continue };
                let kind =
                    if content[first].trim_start().starts_with("HTTP/") { Kind::Response } else { Kind::Request };
                let blank = content[first..].iter().position(|l| l.trim().is_empty());
                let body = blank.map(|b| content[first + b..].join("\n")).unwrap_or_default();
                (kind, body)
            }
            "json" => {
                // A block directly under an example's heading takes its kind from that heading
                // (call-delete.md puts notifications under "### Notification - ...").
                let label = section.as_deref().unwrap_or(example.as_str());
                let kind = if section.is_none()
                    && (example.starts_with("JSON representation") || example.starts_with("Example"))
                {
                    Kind::Representation
                } else if label.starts_with("Request") {
                    Kind::Request
                } else if label.starts_with("Response") {
                    Kind::Response
                } else if label.starts_with("Notification") {
                    Kind::Notification
                } else {
                    panic!("{page}: json block at line {} under unknown section {label:?}", index + 1)
                };
                (kind, content.join("\n"))
            }
            _ => continue,
        };
        let body = body.trim().to_owned();
        if body.is_empty() {
            // A request line or headers only (the "HTTP request" listing, notification POSTs).
            continue;
        }
        let label = section.clone().unwrap_or_else(|| format!("{kind:?}"));
        let base = format!("{page}: {example} / {label}");
        let taken = out.iter().filter(|e| e.name == base || e.name.starts_with(&format!("{base} #"))).count();
        let name = if taken == 0 { base } else { format!("{base} #{}", taken + 1) };
        out.push(Example { name, kind, line: index + 1, body });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Matching, preparing, comparing.
// ---------------------------------------------------------------------------------------------

/// `*` in `pattern` matches any run of bytes for which `star` holds.
fn glob(pattern: &[u8], text: &[u8], star: fn(u8) -> bool) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            (0..=text.len()).take_while(|&i| i == 0 || star(text[i - 1])).any(|i| glob(rest, &text[i..], star))
        }
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..], star),
    }
}

/// A path's parent and last member; `@odata.type` and `@odata.context` are one member.
fn split_member(path: &str) -> Option<(&str, &str)> {
    let (parent, key) = path.rsplit_once('.')?;
    match parent.rsplit_once('.') {
        Some((grandparent, "@odata")) => Some((grandparent, &path[grandparent.len() + 1..])),
        _ => Some((parent, key)),
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    glob(pattern.as_bytes(), name.as_bytes(), |_| true)
}

fn path_matches(pattern: &str, path: &str) -> bool {
    glob(pattern.as_bytes(), path.as_bytes(), |b| b.is_ascii_digit())
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 100 {
        format!("{}...", text.chars().take(100).collect::<String>())
    } else {
        text
    }
}

/// Removes commas that directly precede `}` or `]`, outside strings.
fn remove_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Checks examples against [`ALLOWED`], recording which entries were used.
struct Checker<'t> {
    table: &'t [Deviation],
    example: String,
    used: BTreeSet<usize>,
    errors: Vec<String>,
    next_id: usize,
}

impl<'t> Checker<'t> {
    fn new(table: &'t [Deviation]) -> Self {
        Checker { table, example: String::new(), used: BTreeSet::new(), errors: Vec::new(), next_id: 0 }
    }

    fn error(&mut self, path: &str, message: impl std::fmt::Display) {
        self.errors.push(format!("{}: {path}: {message}", self.example));
    }

    /// The first entry that applies to this example at `path` (a [`Allow::DroppedKeys`] entry
    /// applies to the members it names of the object at its path).
    fn allowance(&self, path: &str) -> Option<(usize, Allow)> {
        let member = split_member(path);
        self.table
            .iter()
            .enumerate()
            .find(|(_, d)| {
                name_matches(d.examples, &self.example)
                    && match d.allow {
                        Allow::DroppedKeys(keys) => {
                            member.is_some_and(|(parent, key)| path_matches(d.path, parent) && keys.contains(&key))
                        }
                        _ => path_matches(d.path, path),
                    }
            })
            .map(|(i, d)| (i, d.allow))
    }

    fn not_typed(&mut self, path: &str) -> bool {
        match self.allowance(path) {
            Some((i, Allow::NotTyped)) => {
                self.used.insert(i);
                true
            }
            _ => false,
        }
    }

    /// The example as Switchboard would send it: real ids for the documented nulls, required
    /// properties the example leaves out filled in.
    fn prepare(&mut self, path: &str, value: &mut Value) {
        match value {
            Value::Object(map) => {
                let fills: Vec<(usize, String, Value)> = self
                    .table
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| name_matches(d.examples, &self.example))
                    .filter_map(|(i, d)| match d.allow {
                        Allow::FilledBeforeParse(fill) => {
                            let (parent, key) = split_member(d.path)?;
                            (path_matches(parent, path) && !map.contains_key(key))
                                .then(|| (i, key.to_owned(), fill(map)))
                        }
                        _ => None,
                    })
                    .collect();
                for (i, key, fill) in fills {
                    self.used.insert(i);
                    map.insert(key, fill);
                }
                for (key, child) in map.iter_mut() {
                    let child_path = format!("{path}.{key}");
                    if child.is_null() {
                        if let Some((_, Allow::RealValueForNull)) = self.allowance(&child_path) {
                            self.next_id += 1;
                            *child = Value::String(format!("00000000-0000-4000-8000-{:012}", self.next_id));
                        }
                    }
                    self.prepare(&child_path, child);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.prepare(&format!("{path}[{i}]"), item);
                }
            }
            _ => {}
        }
    }

    /// Every key and value of `example` must be in `ours`, but for the allowed differences.
    fn compare(&mut self, path: &str, example: &Value, ours: Option<&Value>) {
        if let Some((i, allow)) = self.allowance(path) {
            match allow {
                Allow::RealValueForNull if example.is_null() => {
                    self.used.insert(i);
                    return;
                }
                Allow::Dropped | Allow::DroppedKeys(_) => {
                    self.used.insert(i);
                    if ours.is_none() {
                        return;
                    }
                }
                Allow::Spelling { example: theirs, ours: mine } if example.as_str() == Some(theirs) => {
                    self.used.insert(i);
                    let ours = ours.and_then(Value::as_str);
                    if ours != Some(theirs) && ours != Some(mine) {
                        self.error(path, format!("expected {theirs:?} or {mine:?}, ours has {ours:?}"));
                    }
                    return;
                }
                _ => {}
            }
        }
        let Some(ours) = ours else {
            self.error(path, format!("missing from ours (the example has {})", short(example)));
            return;
        };
        match (example, ours) {
            (Value::Object(theirs), Value::Object(mine)) => {
                for (key, value) in theirs {
                    self.compare(&format!("{path}.{key}"), value, mine.get(key));
                }
            }
            (Value::Array(theirs), Value::Array(mine)) => {
                if theirs.len() != mine.len() {
                    self.error(path, format!("the example has {} elements, ours {}", theirs.len(), mine.len()));
                    return;
                }
                for (i, (t, m)) in theirs.iter().zip(mine).enumerate() {
                    self.compare(&format!("{path}[{i}]"), t, Some(m));
                }
            }
            (t, m) if t == m => {}
            (t, m) => self.error(path, format!("the example has {}, ours has {}", short(t), short(m))),
        }
    }
}

fn roundtrip<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(value.clone())
        .map_err(|e| format!("does not parse as {}: {e}", std::any::type_name::<T>()))?;
    serde_json::to_value(&typed).map_err(|e| format!("does not serialise: {e}"))
}

fn roundtrip_as(target: Target, value: &Value) -> Result<Value, String> {
    match target {
        Target::InviteParticipantsBody => roundtrip::<InviteParticipantsBody>(value),
        Target::CommsOperation => roundtrip::<CommsOperation>(value),
        Target::CreateCallBody => roundtrip::<CreateCallBody>(value),
        Target::Call => roundtrip::<Call>(value),
        Target::CreateOnlineMeetingBody => roundtrip::<CreateOnlineMeetingBody>(value),
        Target::OnlineMeeting => roundtrip::<OnlineMeeting>(value),
        Target::Participant => roundtrip::<Participant>(value),
        Target::ParticipantCollection => roundtrip::<CollectionPage<Participant>>(value),
        Target::ParticipantInfo => roundtrip::<ParticipantInfo>(value),
        Target::InvitationParticipantInfo => roundtrip::<InvitationParticipantInfo>(value),
        Target::IdentitySet => roundtrip::<IdentitySet>(value),
        Target::Identity => roundtrip::<Identity>(value),
        Target::ResultInfo => roundtrip::<ResultInfo>(value),
        Target::ChatInfo => roundtrip::<ChatInfo>(value),
        Target::MeetingInfo => roundtrip::<MeetingInfo>(value),
        Target::MediaStream => roundtrip::<MediaStream>(value),
        Target::RemovedState => roundtrip::<RemovedState>(value),
        Target::CallOptions => roundtrip::<CallOptions>(value),
        Target::CommsNotification => roundtrip::<CommsNotification>(value),
        Target::CommsNotifications => roundtrip::<CommsNotifications>(value),
    }
}

/// Samples for references to another type (`{"@odata.type": "microsoft.graph.resultInfo"}`)
/// whose model has required members: the reference keeps its `@odata.type` and gets these
/// members. References to types whose members are all optional stay as they are.
const TYPE_SAMPLES: &[(&str, &str)] = &[
    ("microsoft.graph.resultInfo", r#"{"code": 0, "subcode": 0, "message": "String"}"#),
    ("microsoft.graph.removedState", r#"{"reason": "String"}"#),
    (
        "microsoft.graph.mediaStream",
        r#"{"mediaType": "unknown", "sourceId": "String", "direction": "inactive", "serverMuted": true}"#,
    ),
    (
        "microsoft.graph.joinMeetingIdSettings",
        r#"{"joinMeetingId": "String", "isPasscodeRequired": true, "passcode": "String"}"#,
    ),
    (
        "microsoft.graph.commsNotification",
        r#"{"changeType": "created", "resource": "/app/calls/c/participants",
            "resourceUrl": "/communications/calls/c/participants", "resourceData": []}"#,
    ),
];

/// Samples for placeholders that name no type (`"endpointType": "String"`), by member name.
/// Arrays of `"String"` get the sample too (`"requestedModalities": ["String"]`).
const MEMBER_SAMPLES: &[(&str, &str)] = &[
    ("endpointType", "default"),
    ("direction", "outgoing"),
    ("state", "establishing"),
    ("requestedModalities", "audio"),
];

/// A resource page's JSON representation with its placeholders replaced by sample values of
/// the type they name: `"Boolean"` → `true`, `"Int32"`/`"Int64"` → `0`, a timestamp →
/// `"2020-01-01T00:00:00Z"`, an enumeration `"a | b | c"` → `"a"`; other strings (`"String"`,
/// `"String (identifier)"`) are strings already. Real examples have no placeholders and pass
/// through unchanged.
fn sample_placeholders(value: &mut Value) {
    if let Value::Object(map) = value {
        for (key, sample) in MEMBER_SAMPLES {
            let sample = Value::String((*sample).to_owned());
            match map.get_mut(*key) {
                Some(v @ Value::String(_)) if v == "String" => *v = sample,
                Some(Value::Array(items)) => {
                    items.iter_mut().filter(|v| *v == "String").for_each(|v| *v = sample.clone())
                }
                _ => {}
            }
        }
        if map.len() == 1 {
            let reference =
                map.get("@odata.type").and_then(Value::as_str).map(|t| t.trim_start_matches('#').to_owned());
            if let Some((_, sample)) = reference.and_then(|r| TYPE_SAMPLES.iter().find(|(t, _)| *t == r)) {
                let sample: Map<String, Value> = serde_json::from_str(sample).expect("TYPE_SAMPLES are JSON objects");
                map.extend(sample);
                return;
            }
        }
    }
    match value {
        Value::String(text) => {
            let t = text.trim();
            let sample = match t {
                "Boolean" => Some(Value::Bool(true)),
                "Int16" | "Int32" | "Int64" | "Integer" => Some(Value::from(0)),
                _ if t.contains("timestamp") || t == "DateTimeOffset" => {
                    Some(Value::String("2020-01-01T00:00:00Z".to_owned()))
                }
                _ if t.contains(" | ") => {
                    Some(Value::String(t.split('|').next().unwrap_or_default().trim().to_owned()))
                }
                _ => None,
            };
            if let Some(sample) = sample {
                *value = sample;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sample_placeholders),
        Value::Object(map) => map.values_mut().for_each(sample_placeholders),
        _ => {}
    }
}

/// Whether a representation block is in fact a notification envelope (commsnotification.md
/// shows two envelopes under its JSON representation).
fn is_envelope(value: &Value) -> bool {
    value.get("value").and_then(Value::as_array).is_some_and(|items| {
        items.iter().all(|item| item.get("changeType").is_some() || item.get("@odata.type").is_some())
    })
}

/// The envelope as `CommsNotifications`, then each `resourceData` by its `resourceUrl`.
/// An error comes with the JSON path it concerns.
fn roundtrip_notifications(checker: &mut Checker<'_>, value: &Value) -> Result<Value, (String, String)> {
    let mut envelope: CommsNotifications = serde_json::from_value(value.clone())
        .map_err(|e| ("$".to_owned(), format!("does not parse as CommsNotifications: {e}")))?;
    for (i, notification) in envelope.value.iter_mut().enumerate() {
        let data_path = format!("$.value[{i}].resourceData");
        if checker.not_typed(&data_path) {
            continue;
        }
        let url_path = format!("$.value[{i}].resourceUrl");
        let resource = match checker.allowance(&url_path) {
            Some((index, Allow::ReadAs(resource))) => {
                checker.used.insert(index);
                resource
            }
            _ => Resource::from_url(&notification.resource_url)
                .or_else(|| Resource::from_url(&notification.resource))
                .ok_or_else(|| {
                    (url_path.clone(), format!("{:?} names no call, roster or operation", notification.resource_url))
                })?,
        };
        let data = &notification.resource_data;
        let typed = match resource {
            Resource::Call => roundtrip::<Call>(data),
            Resource::Operation => roundtrip::<CommsOperation>(data),
            Resource::Roster => roundtrip::<Vec<Participant>>(data),
        };
        notification.resource_data = typed.map_err(|e| (data_path, e))?;
    }
    serde_json::to_value(&envelope).map_err(|e| ("$".to_owned(), format!("does not serialise: {e}")))
}

/// Checks one example, recording its differences in `checker`.
fn check_example(checker: &mut Checker<'_>, page: &Page, example: &Example) {
    checker.example = example.name.clone();
    let listed = NOT_JSON.iter().find(|(name, _, _)| *name == example.name);
    let strict = serde_json::from_str::<Value>(&example.body);
    let parsed = match (strict, listed) {
        (Ok(value), None) => value,
        (Err(e), None) => {
            checker.error(
                "$",
                format!("not JSON (line {}): {e}; list it in NOT_JSON if the docs are wrong", example.line),
            );
            return;
        }
        (Ok(_), Some(_)) => {
            checker.error("$", "listed in NOT_JSON but parses: remove it from the list");
            return;
        }
        (Err(_), Some((_, Broken::NotABody, _))) => return,
        (Err(_), Some((_, Broken::TrailingComma, _))) => {
            match serde_json::from_str::<Value>(&remove_trailing_commas(&example.body)) {
                Ok(value) => value,
                Err(e) => {
                    checker.error("$", format!("still not JSON without its trailing commas: {e}"));
                    return;
                }
            }
        }
    };
    let mut parsed = parsed;
    if example.kind == Kind::Representation {
        sample_placeholders(&mut parsed);
    }
    let mut prepared = parsed.clone();
    checker.prepare("$", &mut prepared);
    let root = |e: String| ("$".to_owned(), e);
    let target = |t: Option<Target>, what: &str| {
        t.ok_or_else(|| ("$".to_owned(), format!("the page declares no type for its {what} bodies")))
    };
    let ours = if checker.not_typed("$") {
        Ok(prepared)
    } else {
        match example.kind {
            Kind::Request => target(page.request, "request").and_then(|t| roundtrip_as(t, &prepared).map_err(root)),
            Kind::Response => target(page.response, "response").and_then(|t| roundtrip_as(t, &prepared).map_err(root)),
            Kind::Notification => roundtrip_notifications(checker, &prepared),
            Kind::Representation if is_envelope(&prepared) => roundtrip_notifications(checker, &prepared),
            Kind::Representation => {
                target(page.resource, "representation").and_then(|t| roundtrip_as(t, &prepared).map_err(root))
            }
        }
    };
    match ours {
        Ok(ours) => checker.compare("$", &parsed, Some(&ours)),
        Err((path, e)) => checker.error(&path, e),
    }
}

fn check_page(page: &Page) {
    let markdown = read_page(page);
    let examples = extract(page.name, &markdown);
    let count = |kind: Kind| examples.iter().filter(|e| e.kind == kind).count();
    let found = [count(Kind::Request), count(Kind::Response), count(Kind::Notification), count(Kind::Representation)];
    let names: Vec<&str> = examples.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        found, page.expected,
        "{}: expected [requests, responses, notifications, representations] = {:?}, the extractor found {found:?}: {names:#?}",
        page.name, page.expected
    );

    let mut checker = Checker::new(ALLOWED);
    for example in &examples {
        check_example(&mut checker, page, example);
    }
    for (name, _, _) in NOT_JSON.iter().filter(|(name, _, _)| name.starts_with(page.name)) {
        if !names.contains(name) {
            checker.errors.push(format!("NOT_JSON names {name:?}, which is no example of the page"));
        }
    }
    for (i, deviation) in ALLOWED.iter().enumerate() {
        if deviation.examples.starts_with(page.name) && !checker.used.contains(&i) {
            checker.errors.push(format!(
                "ALLOWED entry {:?} at {} is used by no example: remove it or fix its pattern",
                deviation.examples, deviation.path
            ));
        }
    }
    assert!(
        checker.errors.is_empty(),
        "{} difference(s) between the examples of {} and our serialisation:\n  {}",
        checker.errors.len(),
        page.name,
        checker.errors.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn participant_invite_examples_round_trip() {
    check_page(&Page {
        file: "participant-invite.md",
        name: INVITE,
        request: Some(Target::InviteParticipantsBody),
        response: Some(Target::CommsOperation),
        resource: None,
        // Five examples, each: request, response, operation notification, roster notification.
        expected: [5, 5, 10, 0],
    });
}

#[test]
fn create_call_examples_round_trip() {
    check_page(&Page {
        file: "graph/application-post-calls.md",
        name: CALLS,
        request: Some(Target::CreateCallBody),
        response: Some(Target::Call),
        resource: None,
        // Requests of Examples 1-8 and the media-session blob of Example 2; responses of
        // Examples 1, 2, 5; notifications: two of Ex. 1, three of Ex. 5, one of Ex. 8.
        expected: [9, 3, 6, 0],
    });
}

#[test]
fn create_online_meeting_examples_round_trip() {
    check_page(&Page {
        file: "graph/application-post-onlinemeetings.md",
        name: MEETINGS,
        request: Some(Target::CreateOnlineMeetingBody),
        response: Some(Target::OnlineMeeting),
        resource: None,
        expected: [3, 3, 0, 0],
    });
}

#[test]
fn get_call_examples_round_trip() {
    check_page(&Page {
        file: "graph/call-get.md",
        name: P_CALL_GET,
        request: None,
        response: Some(Target::Call),
        resource: None,
        // Two responses: a P2P call and a meeting call.
        expected: [0, 2, 0, 0],
    });
}

#[test]
fn delete_call_examples_round_trip() {
    check_page(&Page {
        file: "graph/call-delete.md",
        name: P_CALL_DELETE,
        request: None,
        response: None,
        resource: None,
        // The terminating and terminated notifications (the 204 has no body).
        expected: [0, 0, 2, 0],
    });
}

#[test]
fn list_participants_examples_round_trip() {
    check_page(&Page {
        file: "graph/call-list-participants.md",
        name: P_CALL_LIST_PARTICIPANTS,
        request: None,
        response: Some(Target::ParticipantCollection),
        resource: None,
        // Two responses: a roster, and a large roster.
        expected: [0, 2, 0, 0],
    });
}

#[test]
fn get_participant_examples_round_trip() {
    check_page(&Page {
        file: "graph/participant-get.md",
        name: P_PARTICIPANT_GET,
        request: None,
        response: Some(Target::Participant),
        resource: None,
        // One response.
        expected: [0, 1, 0, 0],
    });
}

#[test]
fn delete_participant_examples_round_trip() {
    check_page(&Page {
        file: "graph/participant-delete.md",
        name: P_PARTICIPANT_DELETE,
        request: Some(Target::InviteParticipantsBody),
        response: Some(Target::CommsOperation),
        resource: None,
        // Example 2 invites before cancelling: its request and response (the 204s have no body).
        expected: [1, 1, 0, 0],
    });
}

#[test]
fn keep_alive_examples_round_trip() {
    check_page(&Page {
        file: "graph/call-keepalive.md",
        name: P_CALL_KEEPALIVE,
        request: None,
        response: None,
        resource: None,
        // No body at all: request and 200 are empty.
        expected: [0, 0, 0, 0],
    });
}

#[test]
fn v1_invite_examples_round_trip() {
    check_page(&Page {
        file: "graph/v1.0-participant-invite.md",
        name: P_V1_0_PARTICIPANT_INVITE,
        request: Some(Target::InviteParticipantsBody),
        response: Some(Target::CommsOperation),
        resource: None,
        // Three examples: request, response, operation and roster notifications each.
        expected: [3, 3, 6, 0],
    });
}

#[test]
fn comms_notification_representations_round_trip() {
    check_page(&Page {
        file: "graph/commsnotification.md",
        name: P_COMMSNOTIFICATION,
        request: None,
        response: None,
        resource: Some(Target::CommsNotification),
        // The representation and two example envelopes (a call, a roster).
        expected: [0, 0, 0, 3],
    });
}

#[test]
fn comms_notifications_representation_round_trips() {
    check_page(&Page {
        file: "graph/commsnotifications.md",
        name: P_COMMSNOTIFICATIONS,
        request: None,
        response: None,
        resource: Some(Target::CommsNotifications),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn v1_comms_notification_representation_round_trips() {
    check_page(&Page {
        file: "graph/v1.0-commsnotification.md",
        name: P_V1_0_COMMSNOTIFICATION,
        request: None,
        response: None,
        resource: Some(Target::CommsNotification),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn participant_representation_round_trips() {
    check_page(&Page {
        file: "graph/participant.md",
        name: P_PARTICIPANT,
        request: None,
        response: None,
        resource: Some(Target::Participant),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn call_representation_round_trips() {
    check_page(&Page {
        file: "graph/call.md",
        name: P_CALL,
        request: None,
        response: None,
        resource: Some(Target::Call),
        // The Teams join URL block is not JSON (an http block without a body).
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn v1_call_representation_round_trips() {
    check_page(&Page {
        file: "graph/v1.0-call.md",
        name: P_V1_0_CALL,
        request: None,
        response: None,
        resource: Some(Target::Call),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn invite_participants_operation_representation_round_trips() {
    check_page(&Page {
        file: "graph/inviteparticipantsoperation.md",
        name: P_INVITEPARTICIPANTSOPERATION,
        request: None,
        response: None,
        resource: Some(Target::CommsOperation),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn comms_operation_representation_round_trips() {
    check_page(&Page {
        file: "graph/commsoperation.md",
        name: P_COMMSOPERATION,
        request: None,
        response: None,
        resource: Some(Target::CommsOperation),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn identity_set_representation_round_trips() {
    check_page(&Page {
        file: "graph/identityset.md",
        name: P_IDENTITYSET,
        request: None,
        response: None,
        resource: Some(Target::IdentitySet),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn communications_identity_set_representation_round_trips() {
    check_page(&Page {
        file: "graph/communicationsidentityset.md",
        name: P_COMMUNICATIONSIDENTITYSET,
        request: None,
        response: None,
        resource: Some(Target::IdentitySet),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn identity_representation_round_trips() {
    check_page(&Page {
        file: "graph/identity.md",
        name: P_IDENTITY,
        request: None,
        response: None,
        resource: Some(Target::Identity),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn communications_user_identity_representation_round_trips() {
    check_page(&Page {
        file: "graph/communicationsuseridentity.md",
        name: P_COMMUNICATIONSUSERIDENTITY,
        request: None,
        response: None,
        resource: Some(Target::Identity),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn communications_phone_identity_representation_round_trips() {
    check_page(&Page {
        file: "graph/communicationsphoneidentity.md",
        name: P_COMMUNICATIONSPHONEIDENTITY,
        request: None,
        response: None,
        resource: Some(Target::Identity),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn communications_application_identity_representation_round_trips() {
    check_page(&Page {
        file: "graph/communicationsapplicationidentity.md",
        name: P_COMMUNICATIONSAPPLICATIONIDENTITY,
        request: None,
        response: None,
        resource: Some(Target::Identity),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn communications_application_instance_identity_representation_round_trips() {
    check_page(&Page {
        file: "graph/communicationsapplicationinstanceidentity.md",
        name: P_COMMUNICATIONSAPPLICATIONINSTANCEIDENTITY,
        request: None,
        response: None,
        resource: Some(Target::Identity),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn invitation_participant_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/invitationparticipantinfo.md",
        name: P_INVITATIONPARTICIPANTINFO,
        request: None,
        response: None,
        resource: Some(Target::InvitationParticipantInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn v1_invitation_participant_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/v1.0-invitationparticipantinfo.md",
        name: P_V1_0_INVITATIONPARTICIPANTINFO,
        request: None,
        response: None,
        resource: Some(Target::InvitationParticipantInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn participant_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/participantinfo.md",
        name: P_PARTICIPANTINFO,
        request: None,
        response: None,
        resource: Some(Target::ParticipantInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn v1_participant_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/v1.0-participantinfo.md",
        name: P_V1_0_PARTICIPANTINFO,
        request: None,
        response: None,
        resource: Some(Target::ParticipantInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn result_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/resultinfo.md",
        name: P_RESULTINFO,
        request: None,
        response: None,
        resource: Some(Target::ResultInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn chat_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/chatinfo.md",
        name: P_CHATINFO,
        request: None,
        response: None,
        resource: Some(Target::ChatInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn meeting_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/meetinginfo.md",
        name: P_MEETINGINFO,
        request: None,
        response: None,
        resource: Some(Target::MeetingInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn organizer_meeting_info_examples_round_trip() {
    check_page(&Page {
        file: "graph/organizermeetinginfo.md",
        name: P_ORGANIZERMEETINGINFO,
        request: None,
        response: None,
        resource: Some(Target::MeetingInfo),
        // Representation and example.
        expected: [0, 0, 0, 2],
    });
}

#[test]
fn token_meeting_info_examples_round_trip() {
    check_page(&Page {
        file: "graph/tokenmeetinginfo.md",
        name: P_TOKENMEETINGINFO,
        request: None,
        response: None,
        resource: Some(Target::MeetingInfo),
        // Representation and example.
        expected: [0, 0, 0, 2],
    });
}

#[test]
fn join_meeting_id_meeting_info_representation_round_trips() {
    check_page(&Page {
        file: "graph/joinmeetingidmeetinginfo.md",
        name: P_JOINMEETINGIDMEETINGINFO,
        request: None,
        response: None,
        resource: Some(Target::MeetingInfo),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn media_stream_examples_round_trip() {
    check_page(&Page {
        file: "graph/mediastream.md",
        name: P_MEDIASTREAM,
        request: None,
        response: None,
        resource: Some(Target::MediaStream),
        // Representation and example.
        expected: [0, 0, 0, 2],
    });
}

#[test]
fn removed_state_representation_round_trips() {
    check_page(&Page {
        file: "graph/removedstate.md",
        name: P_REMOVEDSTATE,
        request: None,
        response: None,
        resource: Some(Target::RemovedState),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn outgoing_call_options_representation_round_trips() {
    check_page(&Page {
        file: "graph/outgoingcalloptions.md",
        name: P_OUTGOINGCALLOPTIONS,
        request: None,
        response: None,
        resource: Some(Target::CallOptions),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn incoming_call_options_representation_round_trips() {
    check_page(&Page {
        file: "graph/incomingcalloptions.md",
        name: P_INCOMINGCALLOPTIONS,
        request: None,
        response: None,
        resource: Some(Target::CallOptions),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn call_options_representation_round_trips() {
    check_page(&Page {
        file: "graph/calloptions.md",
        name: P_CALLOPTIONS,
        request: None,
        response: None,
        resource: Some(Target::CallOptions),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn online_meeting_representation_round_trips() {
    check_page(&Page {
        file: "graph/onlinemeeting.md",
        name: P_ONLINEMEETING,
        request: None,
        response: None,
        resource: Some(Target::OnlineMeeting),
        expected: [0, 0, 0, 1],
    });
}

#[test]
fn every_allowed_difference_and_broken_block_gives_a_reason() {
    for d in ALLOWED {
        assert!(d.reason.len() > 20, "ALLOWED entry {:?} at {} needs a reason", d.examples, d.path);
        assert!(d.path.starts_with('$'), "path {:?} must start at the root $", d.path);
        assert!(
            PAGES.iter().any(|page| d.examples.starts_with(&format!("{page}: "))),
            "ALLOWED entry {:?} must start with its page",
            d.examples
        );
    }
    for (name, _, reason) in NOT_JSON {
        assert!(!reason.is_empty(), "NOT_JSON entry {name:?} needs a reason");
    }
}

#[test]
fn the_checker_names_the_example_and_the_path_of_a_difference() {
    let mut checker = Checker::new(&[]);
    checker.example = "page.md: Example 9 / Response".to_owned();
    let example: Value = serde_json::json!({"a": {"b": [1, {"c": "x"}]}, "d": null});
    let ours: Value = serde_json::json!({"a": {"b": [1, {"c": "y"}]}, "extra": true});
    checker.compare("$", &example, Some(&ours));
    assert_eq!(
        checker.errors,
        vec![
            "page.md: Example 9 / Response: $.a.b[1].c: the example has \"x\", ours has \"y\"".to_owned(),
            "page.md: Example 9 / Response: $.d: missing from ours (the example has null)".to_owned(),
        ]
    );
    let shorter: Value = serde_json::json!({"a": {"b": [1]}, "d": null});
    checker.errors.clear();
    checker.compare("$", &example, Some(&shorter));
    assert!(checker.errors[0].contains("$.a.b: the example has 2 elements, ours 1"), "{:?}", checker.errors);
}

#[test]
fn path_patterns_match_indices_only_where_written() {
    assert!(path_matches("$.value[*].resourceData[*].id", "$.value[0].resourceData[12].id"));
    assert!(!path_matches("$.value[*].resourceData[*].id", "$.value[0].resourceData[1].info.identity.user.id"));
    assert!(!path_matches("$.participants[*].id", "$.participants[0].identity.user.id"));
    assert!(path_matches("$.x.@odata.type", "$.x.@odata.type"));
    assert!(name_matches(
        "p.md: Example * / Notification - roster*",
        "p.md: Example 2 / Notification - roster updated"
    ));
    assert_eq!(split_member("$.a.@odata.type"), Some(("$.a", "@odata.type")));
    assert_eq!(split_member("$.@odata.context"), Some(("$", "@odata.context")));
    assert_eq!(split_member("$.value[0].id"), Some(("$.value[0]", "id")));
    assert_eq!(remove_trailing_commas(r#"{"a": [1,], "b": ",}", }"#), r#"{"a": [1], "b": ",}" }"#);
}

#[test]
fn the_model_carries_the_phone_identity_set_spelling_switchboard_writes() {
    let written = serde_json::json!({
        "@odata.type": "#microsoft.graph.communicationsIdentitySet",
        "phone": {"@odata.type": "#microsoft.graph.identity", "id": "+12345678901"}
    });
    let set: IdentitySet = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(set.odata_type.as_deref(), Some(graph_model::odata::COMMS_IDENTITY_SET));
    let mut checker = Checker::new(&[]);
    checker.compare("$", &written, Some(&serde_json::to_value(&set).unwrap()));
    assert!(checker.errors.is_empty(), "{:?}", checker.errors);
}
