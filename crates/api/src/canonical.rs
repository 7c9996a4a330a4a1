//! Graph's OData layer reads the segments of a path whatever their case
//! (`/v1.0/Communications/Calls/{id}/Participants/Microsoft.Graph.Invite`); the routes are
//! declared in one spelling. A path under a Graph version whose literal segments differ from a
//! route's only in case is rewritten to that route's spelling before routing. The version
//! segment is compared as written (`/V1.0` is Graph's "Invalid version.", see
//! [`crate::fallback`]), and so are the ids in a path's parameters: only literals are
//! rewritten.

use std::collections::HashSet;

use axum::extract::Request;
use axum::http::Uri;

use crate::fallback::{template, Segment};

/// The Graph routes' templates, to spell a path as its route does.
#[derive(Debug, Default)]
pub struct CanonicalPaths {
    templates: Vec<Vec<Segment>>,
    /// Every literal segment of every template, as written.
    literals: HashSet<String>,
}

impl CanonicalPaths {
    /// From the Graph routes' path templates (`/beta/communications/calls/{call_id}`).
    pub fn new<'a>(graph_routes: impl IntoIterator<Item = &'a str>) -> CanonicalPaths {
        let mut paths = CanonicalPaths::default();
        for path in graph_routes {
            let segments = template(path);
            for segment in &segments {
                if let Segment::Literal(literal) = segment {
                    paths.literals.insert(literal.clone());
                }
            }
            paths.templates.push(segments);
        }
        paths
    }

    /// `path` in the spelling of the route it names, when that differs from it only in the
    /// case of segments past the version; `None` when it needs no rewriting or names no route.
    pub fn canonical(&self, path: &str) -> Option<String> {
        let segments = || path.split('/').filter(|s| !s.is_empty());
        // Every request goes through here: most paths are spelled as their route, and their
        // ids are no literal in any case, which needs no allocation to tell.
        let differs = |s: &str| !self.literals.contains(s) && self.literals.iter().any(|l| l.eq_ignore_ascii_case(s));
        if !segments().skip(1).any(differs) {
            return None;
        }
        let segments: Vec<&str> = segments().collect();
        // As the router does, a literal wins over a parameter: `participants/Microsoft.Graph.Invite`
        // is the invite, not a participant of that id.
        let literals = |t: &[Segment]| t.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        let route = self
            .templates
            .iter()
            .filter(|t| {
                t.len() == segments.len()
                    && t.iter().zip(&segments).enumerate().all(|(i, (t, s))| match t {
                        Segment::Parameter => true,
                        Segment::Literal(literal) if i == 0 => literal == s,
                        Segment::Literal(literal) => literal.eq_ignore_ascii_case(s),
                    })
            })
            .max_by_key(|t| literals(t))?;
        let spelled: Vec<&str> = route
            .iter()
            .zip(&segments)
            .map(|(t, s)| match t {
                Segment::Literal(literal) => literal.as_str(),
                Segment::Parameter => s,
            })
            .collect();
        Some(format!("/{}", spelled.join("/")))
    }

    /// Rewrites `request`'s path (keeping its query) to its route's spelling, if it needs it.
    pub fn rewrite(&self, mut request: Request) -> Request {
        let Some(path) = self.canonical(request.uri().path()) else { return request };
        let target = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = request.uri().clone().into_parts();
        if let Ok(path_and_query) = target.parse() {
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> CanonicalPaths {
        CanonicalPaths::new([
            "/beta/communications/calls/{call_id}",
            "/beta/communications/calls/{call_id}/keepAlive",
            "/beta/communications/calls/{call_id}/participants/{participant_id}",
            "/beta/communications/calls/{call_id}/participants/microsoft.graph.invite",
            "/v1.0/communications/calls/{call_id}/participants/{participant_id}",
            "/v1.0/users/{user_id}/onlineMeetings",
        ])
    }

    #[test]
    fn literals_take_their_routes_spelling_and_ids_keep_theirs() {
        let paths = paths();
        let canonical = |p: &str| paths.canonical(p);
        assert_eq!(canonical("/beta/Communications/CALLS/Ab-1"), Some("/beta/communications/calls/Ab-1".into()));
        assert_eq!(
            canonical("/beta/communications/calls/C1/KEEPALIVE"),
            Some("/beta/communications/calls/C1/keepAlive".into())
        );
        assert_eq!(
            canonical("/beta/communications/calls/c1/Participants/Microsoft.Graph.Invite"),
            Some("/beta/communications/calls/c1/participants/microsoft.graph.invite".into())
        );
        // An id spelled like a literal stays as it is.
        assert_eq!(
            canonical("/v1.0/communications/Calls/CALLS/participants/Participants"),
            Some("/v1.0/communications/calls/CALLS/participants/Participants".into())
        );
        assert_eq!(canonical("/v1.0/Users/Adele/OnlineMeetings"), Some("/v1.0/users/Adele/onlineMeetings".into()));
    }

    #[test]
    fn paths_already_spelled_as_their_route_or_naming_none_are_left_alone() {
        let paths = paths();
        for path in [
            "/beta/communications/calls/Ab-1",
            "/beta/communications/calls/c1/keepAlive",
            // The version is compared as written: `/V1.0` is an invalid version.
            "/V1.0/communications/Calls/c1/participants/p1",
            "/BETA/communications/calls/c1",
            // No route has these, in any case.
            "/beta/communications/Calls/c1/Bogus",
            "/beta/Communications",
            "/_switchboard/Calls",
            "/",
        ] {
            assert_eq!(paths.canonical(path), None, "{path}");
        }
    }
}
