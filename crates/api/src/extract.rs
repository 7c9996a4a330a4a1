//! Extractors that answer malformed input with a Graph error body, never axum's plain text.

use std::borrow::Cow;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, GraphError};

/// A JSON body: `application/json` (415 otherwise), at most [`crate::MAX_BODY_BYTES`] (413),
/// parsed into `T` (400 with serde's reason otherwise; duplicate keys are refused).
pub struct GraphJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for GraphJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(GraphError::UnsupportedMediaType, "Content-Type must be application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(GraphError::RequestEntityTooLarge, "The request body is too large.")
            } else {
                ApiError::invalid("The request body could not be read.")
            }
        })?;
        parse_json(&bytes).map(GraphJson)
    }
}

/// Parses JSON (serde_json limits nesting to 128 levels). A key repeated in any object, read
/// by `T` or not, makes the body malformed, and so does a body that is not an object: every
/// body Graph and the control API read is one, and serde would otherwise read an array into a
/// struct by position (`["2026-01-01T00:00:00Z"]` as a meeting's `startDateTime`). So does a
/// string or key holding U+0000 (`"\u0000"`): PostgreSQL cannot store it in text, and both
/// stores must answer alike.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |e: serde_json::Error| ApiError::invalid(format!("Invalid request body: {e}"));
    serde_json::from_slice::<NoDuplicateKeys>(bytes).map_err(invalid)?;
    // The document parsed, so its first byte that is not JSON whitespace opens its top value.
    if bytes.iter().find(|b| !b" \t\r\n".contains(b)) != Some(&b'{') {
        return Err(ApiError::invalid("Invalid request body: a JSON object is expected."));
    }
    serde_json::from_slice(bytes).map_err(invalid)
}

/// Walks a JSON document and fails on the first object that repeats a key.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Graph's objects have a handful of keys: the first `LIST` are compared in a list (keys
        // without escapes are borrowed from the body), any more are hashed.
        const LIST: usize = 16;
        let mut listed: Vec<Cow<'de, str>> = Vec::new();
        let mut hashed = std::collections::HashSet::new();
        while let Some(Key(key)) = map.next_key()? {
            if listed.contains(&key) || hashed.contains(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key '{key}'")));
            }
            if listed.len() < LIST {
                listed.push(key);
            } else {
                hashed.insert(key);
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
        refuse_nul(value)?;
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
}

/// An object's key, borrowed from the body unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        refuse_nul(key)?;
        Ok(Key(Cow::Borrowed(key)))
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        refuse_nul(key)?;
        Ok(Key(Cow::Owned(key.to_owned())))
    }
}

fn refuse_nul<E: serde::de::Error>(text: &str) -> Result<(), E> {
    match text.contains('\0') {
        true => Err(E::custom("a string holds the character U+0000")),
        false => Ok(()),
    }
}

/// Whether a URI's path, a query or a form decodes to U+0000 (only `%00` does: a `%` always
/// opens an escape). Ids and values holding it are refused as malformed, as JSON strings are
/// ([`parse_json`]).
pub(crate) fn encodes_nul(raw: &[u8]) -> bool {
    raw.windows(3).any(|w| w == b"%00")
}

/// A query that decodes to U+0000 is malformed (see [`encodes_nul`]).
pub(crate) fn refuse_nul_in_query(query: Option<&str>) -> Result<(), ApiError> {
    match query.is_some_and(|q| encodes_nul(q.as_bytes())) {
        true => Err(ApiError::invalid("Invalid query: it holds the character U+0000.")),
        false => Ok(()),
    }
}

/// Path parameters; a malformed one is a 400 with a Graph body.
pub struct GraphPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for GraphPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if encodes_nul(parts.uri.path().as_bytes()) {
            return Err(ApiError::invalid("Invalid path: it holds the character U+0000."));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| GraphPath(p.0))
            .map_err(|e| ApiError::invalid(format!("Invalid path: {e}")))
    }
}

/// Query parameters; a malformed one is a 400 with a Graph body.
pub struct GraphQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for GraphQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        refuse_nul_in_query(parts.uri.query())?;
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| GraphQuery(q.0))
            .map_err(|e| ApiError::invalid(format!("Invalid query: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_at_any_depth_is_malformed() {
        assert!(parse_json::<serde_json::Value>(br#"{"a":{"b":[{"c":1,"c":2}]}}"#).is_err());
        assert!(parse_json::<serde_json::Value>(br#"{"a":1,"a":1}"#).is_err());
        assert!(parse_json::<serde_json::Value>(br#"{"a":{"c":1},"b":{"c":2}}"#).is_ok());
        // Keys with escapes, and objects past the listed keys (where they are hashed).
        assert!(parse_json::<serde_json::Value>(br#"{"\u0061":1,"a":2}"#).is_err());
        let object = |keys: &[usize]| {
            let fields: Vec<String> = keys.iter().map(|k| format!(r#""k{k}":{k}"#)).collect();
            format!("{{{}}}", fields.join(","))
        };
        for repeated in [0, 15, 16, 39] {
            let mut keys: Vec<usize> = (0..40).collect();
            keys.push(repeated);
            assert!(parse_json::<serde_json::Value>(object(&keys).as_bytes()).is_err(), "k{repeated} twice");
        }
        let distinct: Vec<usize> = (0..40).collect();
        assert!(parse_json::<serde_json::Value>(object(&distinct).as_bytes()).is_ok());
    }

    #[test]
    fn u0000_in_a_string_or_key_is_malformed_and_in_a_uri_is_found() {
        assert!(parse_json::<serde_json::Value>(br#"{"a":["x\u0000"]}"#).is_err());
        assert!(parse_json::<serde_json::Value>(br#"{"a\u0000":1}"#).is_err());
        // An escaped backslash before `u0000` is text, not U+0000.
        assert!(parse_json::<serde_json::Value>(br#"{"a":"\\u0000"}"#).is_ok());
        assert!(encodes_nul(b"/calls/a%00b") && encodes_nul(b"$skiptoken=%00"));
        assert!(!encodes_nul(b"$skiptoken=%2500") && !encodes_nul(b"/calls/100"));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_malformed() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            a: Option<String>,
        }
        assert!(parse_json::<Body>(b" \r\n\t{\"a\":\"x\"}").is_ok());
        for body in [&br#"["x"]"#[..], b"null", b"\"x\"", b"1", b" [ ]"] {
            let error = parse_json::<Body>(body).err().expect("refused");
            assert_eq!(error.code(), "invalidRequest", "{}", String::from_utf8_lossy(body));
        }
    }
}
