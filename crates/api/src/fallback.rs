//! The answer to a request no route takes, shaped as whoever owns the path would answer it.
//!
//! Under a Graph version (`/beta`, `/v1.0`) Graph's OData layer names the first segment it
//! cannot resolve: `400 BadRequest` "Resource not found for the segment 'foo'.". A path that
//! starts with no version and belongs to none of Switchboard's own surfaces is what Graph's root
//! answers for an unknown version: `400 BadRequest` "Invalid version.". The surfaces that are
//! not Graph (control API, identity, console, operational endpoints) keep their `404
//! UnknownError`. Which path belongs to which is read from the same endpoint list the router is
//! built from ([`crate::endpoints::all`]), so a route added anywhere moves the line with it.

use std::borrow::Cow;

use crate::error::{ApiError, GraphError};
use crate::graph::VERSIONS;

/// One segment of a route template: a literal, or a `{parameter}` that takes any segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Parameter,
}

pub(crate) fn template(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| if s.starts_with('{') { Segment::Parameter } else { Segment::Literal(s.to_owned()) })
        .collect()
}

/// What the fallback knows of the routes.
#[derive(Debug, Default)]
pub struct Fallback {
    /// Every Graph route template, version first.
    graph: Vec<Vec<Segment>>,
    /// Where each other surface's paths are recognised: the first literal segment of each of
    /// its templates, with its position (`_switchboard` at 0; `oauth2` at 1 after `{tenant}`).
    others: Vec<(usize, String)>,
}

impl Fallback {
    /// From every route of the server: `(is a Graph route, path template)`.
    pub fn new<'a>(routes: impl IntoIterator<Item = (bool, &'a str)>) -> Fallback {
        let mut fallback = Fallback::default();
        for (graph, path) in routes {
            let segments = template(path);
            if graph {
                fallback.graph.push(segments);
            } else if let Some(anchor) = segments.iter().enumerate().find_map(|(i, s)| match s {
                Segment::Literal(literal) => Some((i, literal.clone())),
                Segment::Parameter => None,
            }) {
                if !fallback.others.contains(&anchor) {
                    fallback.others.push(anchor);
                }
            }
        }
        fallback
    }

    /// The error for a request on `path` that no route answers.
    pub fn answer(&self, path: &str) -> ApiError {
        let segments: Vec<Cow<str>> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
            .collect();
        let Some(first) = segments.first() else { return unknown_path(path) };
        if VERSIONS.contains(&first.as_ref()) {
            // The longest run of leading segments some Graph route has; the next one is the
            // segment Graph cannot resolve (or the last, when the path stops short of a route).
            let resolved = self.graph.iter().map(|t| resolved_prefix(t, &segments)).max().unwrap_or(1);
            let segment = segments.get(resolved).or(segments.last()).map(Cow::as_ref).unwrap_or_default();
            return ApiError::new(GraphError::BadRequest, format!("Resource not found for the segment '{segment}'."));
        }
        if self.others.iter().any(|(i, literal)| segments.get(*i).is_some_and(|s| s == literal)) {
            return unknown_path(path);
        }
        ApiError::new(GraphError::BadRequest, "Invalid version.")
    }
}

/// How many leading segments of `path` the route `template` has.
fn resolved_prefix(template: &[Segment], path: &[Cow<str>]) -> usize {
    template
        .iter()
        .zip(path)
        .take_while(|(t, p)| match t {
            Segment::Parameter => true,
            // Past the version, as Graph reads them (see `crate::canonical`).
            Segment::Literal(literal) => literal.eq_ignore_ascii_case(p),
        })
        .count()
}

/// A path of Switchboard's own surfaces that no route answers (the answer they always had).
fn unknown_path(path: &str) -> ApiError {
    ApiError::new(GraphError::UnknownPath, format!("Resource not found for the segment '{path}'."))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn fallback() -> Fallback {
        Fallback::new([
            (true, "/beta/communications/calls/{call_id}"),
            (true, "/beta/communications/calls/{call_id}/participants/{participant_id}"),
            (true, "/v1.0/communications/calls/{call_id}/participants/invite"),
            (true, "/beta/users/{user_id}/onlineMeetings/{meeting_id}"),
            (false, "/_switchboard/calls"),
            (false, "/{tenant}/oauth2/v2.0/token"),
            (false, "/healthz"),
        ])
    }

    fn answer(path: &str) -> (StatusCode, &'static str, String) {
        let e = fallback().answer(path);
        (e.status(), e.code(), e.message)
    }

    fn segment(name: &str) -> (StatusCode, &'static str, String) {
        (StatusCode::BAD_REQUEST, "BadRequest", format!("Resource not found for the segment '{name}'."))
    }

    #[test]
    fn under_a_version_the_first_segment_no_route_has_is_named() {
        assert_eq!(answer("/v1.0/communications/foo"), segment("foo"));
        assert_eq!(answer("/beta/communications/calls/c1/bogus"), segment("bogus"));
        assert_eq!(answer("/beta/communications/calls/c1/participants/p1/x/y"), segment("x"));
        assert_eq!(answer("/beta/nothing/here"), segment("nothing"));
        assert_eq!(answer("/beta/users/u1/calendar"), segment("calendar"));
        assert_eq!(answer("/beta/communications/calls/c%201/b%61d"), segment("bad"));
        assert_eq!(answer("/beta/Communications/CALLS/c1/Bogus"), segment("Bogus"));
        // A path that stops short of every route names its last segment.
        assert_eq!(answer("/beta/communications/calls/c1/participants"), segment("participants"));
        assert_eq!(answer("/v1.0"), segment("v1.0"));
    }

    #[test]
    fn a_path_without_a_version_is_an_invalid_version_unless_switchboard_owns_it() {
        let invalid = (StatusCode::BAD_REQUEST, "BadRequest", "Invalid version.".to_owned());
        for path in ["/communications/calls", "/v2.0/communications/calls", "/V1.0/me", "/nowhere"] {
            assert_eq!(answer(path), invalid, "{path}");
        }
        for path in ["/_switchboard/nothing", "/tenant-1/oauth2/v2.0/nothing", "/healthz/x", "/"] {
            let (status, code, message) = answer(path);
            assert_eq!((status, code), (StatusCode::NOT_FOUND, "UnknownError"), "{path}");
            assert_eq!(message, format!("Resource not found for the segment '{path}'."));
        }
    }
}
