//! The examples of the Graph pages Switchboard copies, used as fixtures of the wire types.
//!
//! Every JSON example of `participant-invite.md` (request bodies, response bodies, notification
//! bodies), of `graph/application-post-calls.md` and of `graph/application-post-onlinemeetings.md`
//! is read from `shared/reference` (a sibling of the checkout), parsed into the model type it
//! stands for, serialised again and compared with the example. "Equivalent" means: every key and
//! value of the example is in our serialisation, recursively, arrays element by element; our
//! serialisation may hold more (the examples are shortened). The differences we accept are listed
//! in [`ALLOWED`], each with the examples and the JSON path it applies to and its reason; any
//! other difference fails the test naming the example and the JSON path. An entry that no example
//! uses fails too, so the table cannot go stale.
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
    Call, CommsNotifications, CommsOperation, CreateCallBody, CreateOnlineMeetingBody, IdentitySet,
    InviteParticipantsBody, OnlineMeeting, Participant,
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
];

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
];

// ---------------------------------------------------------------------------------------------
// Pages and what their examples are.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
    Notification,
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
    request: Target,
    response: Target,
    /// Expected numbers of request, response and notification examples.
    expected: [usize; 3],
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
                let label = section.as_deref().unwrap_or_default();
                let kind = if label.starts_with("Request") {
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

    /// The first entry that applies to this example at `path`.
    fn allowance(&self, path: &str) -> Option<(usize, Allow)> {
        self.table
            .iter()
            .enumerate()
            .find(|(_, d)| name_matches(d.examples, &self.example) && path_matches(d.path, path))
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
                            let (parent, key) = d.path.rsplit_once('.')?;
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
                Allow::Dropped => {
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
    }
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
            _ => Resource::from_url(&notification.resource_url).ok_or_else(|| {
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
    let mut prepared = parsed.clone();
    checker.prepare("$", &mut prepared);
    let root = |e: String| ("$".to_owned(), e);
    let ours = if checker.not_typed("$") {
        Ok(prepared)
    } else {
        match example.kind {
            Kind::Request => roundtrip_as(page.request, &prepared).map_err(root),
            Kind::Response => roundtrip_as(page.response, &prepared).map_err(root),
            Kind::Notification => roundtrip_notifications(checker, &prepared),
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
    let found = [count(Kind::Request), count(Kind::Response), count(Kind::Notification)];
    let names: Vec<&str> = examples.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        found, page.expected,
        "{}: expected [requests, responses, notifications] = {:?}, the extractor found {found:?}: {names:#?}",
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
        request: Target::InviteParticipantsBody,
        response: Target::CommsOperation,
        // Five examples, each: request, response, operation notification, roster notification.
        expected: [5, 5, 10],
    });
}

#[test]
fn create_call_examples_round_trip() {
    check_page(&Page {
        file: "graph/application-post-calls.md",
        name: CALLS,
        request: Target::CreateCallBody,
        response: Target::Call,
        // Requests of Examples 1-8 and the media-session blob of Example 2; responses of
        // Examples 1, 2, 5; notifications: two of Ex. 1, three of Ex. 5, one of Ex. 8.
        expected: [9, 3, 6],
    });
}

#[test]
fn create_online_meeting_examples_round_trip() {
    check_page(&Page {
        file: "graph/application-post-onlinemeetings.md",
        name: MEETINGS,
        request: Target::CreateOnlineMeetingBody,
        response: Target::OnlineMeeting,
        expected: [3, 3, 0],
    });
}

#[test]
fn every_allowed_difference_and_broken_block_gives_a_reason() {
    for d in ALLOWED {
        assert!(d.reason.len() > 20, "ALLOWED entry {:?} at {} needs a reason", d.examples, d.path);
        assert!(d.path.starts_with('$'), "path {:?} must start at the root $", d.path);
        assert!(
            [INVITE, CALLS, MEETINGS].iter().any(|page| d.examples.starts_with(&format!("{page}: "))),
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
