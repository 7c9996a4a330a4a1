//! Fuzzing the request parsing: every body of the committed corpus (`tests/corpus/`: the seed
//! page's invites and hostile shapes), random JSON, and the corpus mutated at random go through
//! the same path as a request (serde into the wire type, then the core's rules). Nothing may
//! panic; the seed page's own invites must parse.

use graph_model::{CreateCallBody, InviteParticipantsBody};
use proptest::prelude::*;
use serde_json::Value;
use switchboard_core::call_kind::{plan_call, CallbackPolicy};
use switchboard_core::invite::parse_invite;

fn corpus() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (name, value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Runs a body through what a request goes through. Returns whether it was accepted.
fn exercise(value: &Value) -> (bool, bool) {
    let invite = serde_json::from_value::<InviteParticipantsBody>(value.clone()).map(|b| parse_invite(b).is_ok());
    let call = serde_json::from_value::<CreateCallBody>(value.clone())
        .map(|b| plan_call(&b, &CallbackPolicy::default()).is_ok());
    (invite.unwrap_or(false), call.unwrap_or(false))
}

#[test]
fn the_committed_corpus_parses_without_panics_and_the_seed_page_invites_are_accepted() {
    let corpus = corpus();
    assert!(corpus.len() >= 18, "the corpus is committed ({} files)", corpus.len());
    for (name, value) in &corpus {
        let (invite_ok, call_ok) = exercise(value);
        if name.starts_with("invite-seed-page") {
            assert!(invite_ok, "{name} must be accepted");
        }
        if name == "call-p2p.json" {
            assert!(call_ok, "{name} must be accepted");
        }
        if name.starts_with("invite-") && !name.starts_with("invite-seed-page") {
            assert!(!invite_ok, "{name} must be refused");
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("participants"),
            Just("identity"),
            Just("user"),
            Just("phone"),
            Just("+14255550101"),
            Just("replacesCallId"),
            Just("participantId"),
            Just("https://bot.example/cb"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("participants".to_owned()),
                    Just("identity".to_owned()),
                    Just("user".to_owned()),
                    Just("phone".to_owned()),
                    Just("application".to_owned()),
                    Just("id".to_owned()),
                    Just("clientContext".to_owned()),
                    Just("replacesCallId".to_owned()),
                    Just("participantId".to_owned()),
                    Just("targets".to_owned()),
                    Just("callbackUri".to_owned()),
                    Just("chatInfo".to_owned()),
                    Just("meetingInfo".to_owned()),
                    Just("threadId".to_owned()),
                    Just("endpointType".to_owned()),
                    "[a-zA-Z@.]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a pseudo-random place of `seed` (chosen by `path`) with `new`.
fn mutate(seed: &Value, path: &[usize], new: Value) -> Value {
    let mut out = seed.clone();
    mutate_at(&mut out, path, new);
    out
}

fn mutate_at(here: &mut Value, path: &[usize], new: Value) {
    let Some((step, rest)) = path.split_first() else {
        *here = new;
        return;
    };
    match here {
        Value::Array(items) if !items.is_empty() => {
            let i = step % items.len();
            mutate_at(&mut items[i], rest, new)
        }
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().unwrap_or_default();
            if let Some(next) = map.get_mut(&key) {
                mutate_at(next, rest, new)
            }
        }
        _ => *here = new,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_json_never_panics(value in arbitrary_json()) {
        exercise(&value);
    }

    #[test]
    fn the_corpus_mutated_at_random_never_panics(
        pick in any::<usize>(),
        path in prop::collection::vec(any::<usize>(), 0..6),
        new in arbitrary_json(),
    ) {
        let corpus = corpus();
        let seed = &corpus[pick % corpus.len()].1;
        exercise(&mutate(seed, &path, new));
    }
}
