//! `$select` on the Graph routes whose pages say they support the OData query parameters (get
//! call, list participants, get participant). One projection for all of them, applied to the
//! JSON a handler wrote: the route table names the resource type and the shape (one entity or a
//! page of them), and [`select`] does the rest, so no handler knows `$select` exists.
//!
//! What is kept: the named properties, `id`, and every `@odata.*` annotation; on a page, the
//! projection applies to each item and `@odata.nextLink` carries the same `$select`, so every
//! page has the same shape. The `@odata.context` names the selection as OData's context URLs do
//! (`$metadata#communications/calls(state,direction)/$entity`). Property names are matched
//! without case, as Graph matches them, and written in Graph's spelling. Where Graph is silent
//! or Switchboard differs: docs/decisions.md, "OData query options".

use axum::body::Body as HttpBody;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use graph_model::GraphVersion;
use serde_json::{Map, Value};

use crate::error::{ApiError, GraphError};

/// A Graph resource type `$select` can name the properties of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Call,
    Participant,
}

impl Resource {
    /// The type's qualified name, as Graph's messages write it.
    pub fn type_name(self) -> &'static str {
        match self {
            Resource::Call => "microsoft.graph.call",
            Resource::Participant => "microsoft.graph.participant",
        }
    }

    /// Its structural properties in `version` (from the wire types, so they cannot drift).
    fn properties(self, version: GraphVersion) -> impl Iterator<Item = &'static str> {
        let all = match self {
            Resource::Call => graph_model::Call::PROPERTIES,
            Resource::Participant => graph_model::Participant::PROPERTIES,
        };
        all.iter().copied().filter(move |name| self != Resource::Call || graph_model::Call::has_property(version, name))
    }

    fn navigation_properties(self) -> &'static [&'static str] {
        match self {
            Resource::Call => graph_model::Call::NAVIGATION_PROPERTIES,
            Resource::Participant => &[],
        }
    }
}

/// The structural property names of `resource` in `version`: what `$select` takes.
pub fn selectable(resource: Resource, version: GraphVersion) -> Vec<&'static str> {
    resource.properties(version).collect()
}

/// What a route answers: one entity, or a page of them (`value`, `@odata.nextLink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Entity,
    Collection,
}

/// A route's `$select`: the type it selects from and the shape of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projection {
    pub resource: Resource,
    pub shape: Shape,
}

/// A parsed `$select`: properties in Graph's spelling, in the order first named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Structural properties: written, as `null` when the resource has no value.
    structural: Vec<&'static str>,
    /// Navigation properties: accepted; without `$expand` they add nothing.
    navigation: Vec<&'static str>,
    /// Everything named, for the context URL and the next link.
    named: Vec<&'static str>,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(GraphError::BadRequest, message)
}

/// The `$select` of a query string, if it has one. A name is the option's when it decodes to
/// `$select` exactly, as the other options are read (docs/decisions.md).
pub fn requested(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(query) = query else { return Ok(None) };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| ApiError::invalid("The query string could not be read."))?;
    let mut values = pairs.into_iter().filter(|(name, _)| name == "$select").map(|(_, value)| value);
    let first = values.next();
    if values.next().is_some() {
        return Err(bad_request(
            "Query option '$select' was specified more than once, but it must be specified at most once.",
        ));
    }
    Ok(first)
}

/// Parses the value of `$select` against the properties of `resource` in `version`: a
/// comma-separated list of property names, each matched without case (spaces around a name are
/// ignored); `*` selects everything (`Ok(None)`). A name the type does not have is the 400
/// Graph answers.
pub fn parse(raw: &str, resource: Resource, version: GraphVersion) -> Result<Option<Selection>, ApiError> {
    if raw.trim().is_empty() {
        return Err(bad_request("The query option '$select' is empty: name at least one property."));
    }
    let mut selection = Selection { structural: Vec::new(), navigation: Vec::new(), named: Vec::new() };
    let mut everything = false;
    for item in raw.split(',').map(str::trim) {
        if item.is_empty() {
            // (The value is not echoed: it may be as long as the URL.)
            return Err(bad_request("Syntax error in '$select': a property name is empty."));
        }
        if item == "*" {
            everything = true;
            continue;
        }
        if item.contains('/') {
            return Err(bad_request(format!(
                "'{item}' is a path: Switchboard selects top-level properties of '{}' only.",
                resource.type_name()
            )));
        }
        let known = |name: &&str| name.eq_ignore_ascii_case(item);
        let (name, structural) = match resource.properties(version).find(known) {
            Some(name) => (name, true),
            None => match resource.navigation_properties().iter().copied().find(known) {
                Some(name) => (name, false),
                None => {
                    return Err(bad_request(format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{item}' on type '{}'.",
                    resource.type_name()
                )))
                }
            },
        };
        if selection.named.contains(&name) {
            continue;
        }
        selection.named.push(name);
        if structural {
            selection.structural.push(name);
        } else {
            selection.navigation.push(name);
        }
    }
    Ok((!everything).then_some(selection))
}

impl Selection {
    /// The names as `$select` writes them again (next links, the context URL).
    pub fn list(&self) -> String {
        self.named.join(",")
    }

    /// Keeps the selected properties of one entity, `id` and the `@odata.*` annotations; a
    /// selected structural property the entity lacks is written as `null`.
    pub fn project_entity(&self, entity: &mut Map<String, Value>) {
        entity.retain(|key, _| key.starts_with("@odata.") || key == "id" || self.structural.contains(&key.as_str()));
        for name in &self.structural {
            if !entity.contains_key(*name) {
                entity.insert((*name).to_owned(), Value::Null);
            }
        }
    }

    /// Applies the selection to a response body of `shape`: the entity or each item, the
    /// context URL, and the next link (which keeps the selection for the next page).
    pub fn apply(&self, body: &mut Value, shape: Shape) {
        let Some(object) = body.as_object_mut() else { return };
        match shape {
            Shape::Entity => self.project_entity(object),
            Shape::Collection => {
                if let Some(items) = object.get_mut("value").and_then(Value::as_array_mut) {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        self.project_entity(item);
                    }
                }
                if let Some(Value::String(next)) = object.get_mut("@odata.nextLink") {
                    let separator = if next.contains('?') { '&' } else { '?' };
                    *next = format!("{next}{separator}$select={}", self.list());
                }
            }
        }
        if let Some(Value::String(context)) = object.get_mut("@odata.context") {
            *context = context_with_selection(context, &self.list());
        }
    }
}

/// OData's context URL of a selection: the list after the entity set, before `/$entity`
/// (`...#communications/calls(state)/$entity`, `...#communications/calls('id')/participants(info)`).
fn context_with_selection(context: &str, list: &str) -> String {
    match context.strip_suffix("/$entity") {
        Some(set) => format!("{set}({list})/$entity"),
        None => format!("{context}({list})"),
    }
}

/// The middleware of a route with a projection: refuses a bad `$select` before the handler
/// runs (as OData parses the URL before reading anything), then projects a `200` JSON body.
/// Errors pass through untouched.
pub(crate) async fn select(projection: Projection, version: GraphVersion, request: Request, next: Next) -> Response {
    let selection = match requested(request.uri().query())
        .and_then(|raw| raw.map(|raw| parse(&raw, projection.resource, version)).transpose())
    {
        Ok(Some(Some(selection))) => selection,
        Ok(_) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The body is one of ours, already in memory: a GET's JSON.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else { return ApiError::internal().into_response() };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else { return ApiError::internal().into_response() };
    selection.apply(&mut value, projection.shape);
    let Ok(bytes) = serde_json::to_vec(&value) else { return ApiError::internal().into_response() };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, HttpBody::from(bytes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(raw: &str, resource: Resource, version: GraphVersion) -> Selection {
        parse(raw, resource, version).expect("parses").expect("selects")
    }

    fn refused(raw: &str, resource: Resource, version: GraphVersion) -> String {
        let e = parse(raw, resource, version).expect_err("refused");
        assert_eq!((e.status(), e.code()), (StatusCode::BAD_REQUEST, "BadRequest"), "{raw}");
        e.message
    }

    #[test]
    fn names_are_matched_without_case_trimmed_deduplicated_and_written_as_graph_spells_them() {
        let s = parsed(" STATE , direction,state,CallbackUri", Resource::Call, GraphVersion::Beta);
        assert_eq!(s.list(), "state,direction,callbackUri");
        // A navigation property is named (context, next link) but writes nothing.
        let s = parsed("Participants,id", Resource::Call, GraphVersion::V1);
        assert_eq!(s.list(), "participants,id");
        assert_eq!(s.structural, ["id"]);
    }

    #[test]
    fn a_name_the_type_lacks_is_graphs_bad_request() {
        assert_eq!(
            refused("state,foo", Resource::Call, GraphVersion::Beta),
            "Parsing OData Select and Expand failed: Could not find a property named 'foo' on type 'microsoft.graph.call'."
        );
        assert!(refused("isMuted", Resource::Call, GraphVersion::Beta).contains("'isMuted'"));
        assert!(refused("state", Resource::Participant, GraphVersion::Beta).contains("microsoft.graph.participant"));
        // v1.0's call has no beta-only property.
        assert!(refused("answeredBy", Resource::Call, GraphVersion::V1).contains("'answeredBy'"));
        assert_eq!(parsed("answeredBy", Resource::Call, GraphVersion::Beta).list(), "answeredBy");
    }

    #[test]
    fn empty_lists_names_and_paths_are_refused_and_a_star_selects_everything() {
        for raw in ["", " ", "state,", ",state", "state,,direction"] {
            refused(raw, Resource::Call, GraphVersion::Beta);
        }
        let long = format!("state,{}", ",".repeat(3000));
        assert!(refused(&long, Resource::Call, GraphVersion::Beta).len() < 100, "the value is not echoed");
        assert!(refused("info/identity", Resource::Participant, GraphVersion::Beta).contains("top-level"));
        assert_eq!(parse("*", Resource::Call, GraphVersion::Beta).unwrap(), None);
        assert_eq!(parse("state,*", Resource::Call, GraphVersion::Beta).unwrap(), None);
    }

    #[test]
    fn the_option_is_read_once_decoded_and_only_under_its_exact_name() {
        assert_eq!(requested(None).unwrap(), None);
        assert_eq!(requested(Some("$top=1")).unwrap(), None);
        assert_eq!(requested(Some("%24select=state%2Cdirection&$top=1")).unwrap().as_deref(), Some("state,direction"));
        assert_eq!(requested(Some("$select=state+,id")).unwrap().as_deref(), Some("state ,id"));
        assert_eq!(requested(Some("$SELECT=state")).unwrap(), None, "another option (refused elsewhere)");
        let e = requested(Some("$select=state&$select=id")).unwrap_err();
        assert_eq!(e.code(), "BadRequest");
    }

    #[test]
    fn an_entity_keeps_what_was_selected_its_id_and_annotations() {
        let mut body = json!({
            "@odata.context": "http://x/beta/$metadata#communications/calls/$entity",
            "@odata.type": "#microsoft.graph.call",
            "id": "c", "state": "established", "direction": "outgoing", "subject": null, "targets": []
        });
        parsed("direction,subject,transcription,participants", Resource::Call, GraphVersion::Beta)
            .apply(&mut body, Shape::Entity);
        assert_eq!(
            body,
            json!({
                "@odata.context": "http://x/beta/$metadata#communications/calls(direction,subject,transcription,participants)/$entity",
                "@odata.type": "#microsoft.graph.call",
                "id": "c", "direction": "outgoing", "subject": null, "transcription": null
            })
        );
    }

    #[test]
    fn a_page_projects_each_item_and_its_next_link_keeps_the_selection() {
        let mut body = json!({
            "@odata.context": "http://x/beta/$metadata#communications/calls('c')/participants",
            "value": [
                {"@odata.type": "#microsoft.graph.participant", "id": "a", "info": {}, "isMuted": false},
                {"@odata.type": "#microsoft.graph.participant", "id": "b", "info": {}, "isMuted": true}
            ],
            "@odata.nextLink": "http://x/beta/communications/calls/c/participants?$top=2&$skiptoken=YQ"
        });
        parsed("ismuted", Resource::Participant, GraphVersion::V1).apply(&mut body, Shape::Collection);
        assert_eq!(
            body,
            json!({
                "@odata.context": "http://x/beta/$metadata#communications/calls('c')/participants(isMuted)",
                "value": [
                    {"@odata.type": "#microsoft.graph.participant", "id": "a", "isMuted": false},
                    {"@odata.type": "#microsoft.graph.participant", "id": "b", "isMuted": true}
                ],
                "@odata.nextLink": "http://x/beta/communications/calls/c/participants?$top=2&$skiptoken=YQ&$select=isMuted"
            })
        );
    }
}
