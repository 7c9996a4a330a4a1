//! Writing notifications into the outbox, inside the transaction of the change they report.

use graph_model::CallState;
use switchboard_core::{render, Call, CallId, Conversation, Operation, Participant, ParticipantId, Timestamp};
use switchboard_store::{OutboxRow, Tx};

use crate::error::EngineResult;

fn enqueue(tx: &mut dyn Tx, call: &Call, body: &impl serde::Serialize, now: Timestamp) -> EngineResult<()> {
    // A notification is 1-2 KiB: starting there spares serde_json's growth from 128 bytes.
    let mut out = Vec::with_capacity(2048);
    serde_json::to_writer(&mut out, body).map_err(|e| crate::EngineError::Internal(e.to_string()))?;
    let body = String::from_utf8(out).map_err(|e| crate::EngineError::Internal(e.to_string()))?;
    tx.enqueue_notification(call, &body, now)?;
    Ok(())
}

/// The call's state, to the call itself: `updated`, or `deleted` once terminated.
pub(crate) fn call_state(
    tx: &mut dyn Tx,
    call: &Call,
    conversation: &Conversation,
    now: Timestamp,
) -> EngineResult<()> {
    // A roster still to be rendered would otherwise be rendered after this change (e.g. after
    // the call's own participant left with its end): it is the roster of before, so render it now.
    freeze_roster_mark(tx, &call.id)?;
    enqueue(tx, call, &render::call_notification(call, conversation), now)
}

/// Renders the call's unrendered roster mark, if any, as the roster is now.
fn freeze_roster_mark(tx: &mut dyn Tx, call: &CallId) -> EngineResult<()> {
    let mut marks: Vec<OutboxRow> = tx.roster_mark(call)?.into_iter().collect();
    render_marks(tx, &mut marks)
}

/// An incoming call, to the called application's calling webhook: `created`, state `incoming`.
pub(crate) fn incoming_call(
    tx: &mut dyn Tx,
    call: &Call,
    conversation: &Conversation,
    now: Timestamp,
) -> EngineResult<()> {
    enqueue(tx, call, &render::incoming_call_notification(call, conversation), now)
}

/// A call ends: `terminating` then `terminated`, as Graph reports a hang-up.
pub(crate) fn call_ended(
    tx: &mut dyn Tx,
    call: &Call,
    conversation: &Conversation,
    now: Timestamp,
) -> EngineResult<()> {
    let mut terminating = call.clone();
    terminating.state = CallState::Terminating;
    terminating.result_info = None;
    call_state(tx, &terminating, conversation, now)?;
    call_state(tx, call, conversation, now)
}

/// A finished operation, to the call that started it (if that call is still live).
pub(crate) fn operation_finished(tx: &mut dyn Tx, op: &Operation, now: Timestamp) -> EngineResult<()> {
    match tx.call(op.call_id.as_str())? {
        Some(call) if call.is_live() => enqueue(tx, &call, &render::operation_notification(op), now),
        _ => Ok(()),
    }
}

/// A roster change, to every established call of a group call or meeting: with
/// `isDeltaRosterEnabled` only `changed` (after one whole roster when established); otherwise a
/// "roster changed" mark that delivery renders into the whole roster, so a burst of changes
/// costs one snapshot (DESIGN.md, "Notifications").
pub(crate) fn roster_changed(
    tx: &mut dyn Tx,
    conversation: &Conversation,
    changed: &[Participant],
    now: Timestamp,
) -> EngineResult<()> {
    roster_changed_but_for(tx, conversation, changed, None, now)
}

/// The roster change of `joined`, a participant who joined without ringing in place of a
/// replaced leg (an escalation or a move, `replacesCallId`): as [`roster_changed`], except that
/// a live leg carried over to `joined` is sent no `Roster`. Its driver is told `Joined` by the
/// same change, and the agent driver tells the new leg its roster after `joined` (the `Roster`
/// would run on the new leg's own lane, unordered with `Joined`, and show the same snapshot again).
pub(crate) fn joined_in_place(
    tx: &mut dyn Tx,
    conversation: &Conversation,
    joined: &Participant,
    now: Timestamp,
) -> EngineResult<()> {
    roster_changed_but_for(tx, conversation, std::slice::from_ref(joined), Some(&joined.id), now)
}

fn roster_changed_but_for(
    tx: &mut dyn Tx,
    conversation: &Conversation,
    changed: &[Participant],
    carried: Option<&ParticipantId>,
    now: Timestamp,
) -> EngineResult<()> {
    // Hidden participants are left out; a change of hidden participants alone changes no
    // roster anyone sees.
    let visible: Vec<Participant>;
    let changed = match changed.iter().all(Participant::in_roster) {
        true => changed,
        false => {
            visible = changed.iter().filter(|p| p.in_roster()).cloned().collect();
            if visible.is_empty() {
                return Ok(());
            }
            &visible
        }
    };
    // Agents see the roster of every call they are in, peer-to-peer ones included.
    crate::legs::roster_changed(tx, &conversation.id, carried, now)?;
    if !conversation.kind.has_roster_notifications() {
        return Ok(());
    }
    let mut whole: Option<Vec<Participant>> = None;
    for mut call in tx.calls_in_conversation(&conversation.id)? {
        if call.state != CallState::Established {
            continue;
        }
        if call.delta_roster() {
            if call.roster_started {
                if !changed.is_empty() {
                    enqueue(tx, &call, &render::roster_notification(&call.id, changed), now)?;
                }
                continue;
            }
            // The one whole roster a delta call gets, rendered now: the deltas after it are
            // relative to it.
            if whole.is_none() {
                whole = Some(crate::participants::whole_roster(tx, &conversation.id)?);
            }
            let roster = whole.as_deref().unwrap_or_default();
            enqueue(tx, &call, &render::roster_notification(&call.id, roster), now)?;
        } else {
            tx.mark_roster_changed(&call, now)?;
        }
        if !call.roster_started {
            call.roster_started = true;
            tx.update_call(&call)?;
        }
    }
    Ok(())
}

/// Renders the whole roster into each claimed roster mark, as it is now: the rows are then
/// ordinary notifications, and every attempt sends the same body.
pub(crate) fn render_marks(tx: &mut dyn Tx, rows: &mut [OutboxRow]) -> EngineResult<()> {
    for row in rows.iter_mut().filter(|r| r.roster_mark) {
        let roster = match tx.call(row.call_id.as_str())? {
            Some(call) => crate::participants::whole_roster(tx, &call.conversation_id)?,
            None => Vec::new(),
        };
        let body = serde_json::to_string(&render::roster_notification(&row.call_id, &roster))
            .map_err(|e| crate::EngineError::Internal(e.to_string()))?;
        tx.render_roster_mark(row.id, &body)?;
        row.body = body;
        row.roster_mark = false;
    }
    Ok(())
}
