//! Client-side digest authentication for the trunk's `401`/`407` challenges.
//!
//! RFC 2617 (MD5) and RFC 8760 (SHA-256, spelled `SHA-256` on the wire). The hashing is rsip's
//! `DigestGenerator`; the challenge is parsed here because rsip's typed header only knows the
//! spelling `SHA256`, which RFC 8760 does not use. With several challenges the strongest
//! algorithm we support wins (SHA-256 over MD5), as RFC 8760 §2.4 asks.

use rsip::headers::auth::{Algorithm, AuthQop};

/// One `Digest` challenge from `WWW-Authenticate` or `Proxy-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `MD5` or `SHA-256` as the server spelled it (echoed back).
    pub algorithm: String,
    /// Whether the server offers `qop=auth`.
    pub qop_auth: bool,
}

impl Challenge {
    /// Parses `Digest realm="...", nonce="...", ...`; `None` for another scheme or an
    /// algorithm we do not support.
    pub fn parse(value: &str) -> Option<Challenge> {
        let rest = value.trim();
        let (scheme, params) = rest.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let params = parse_params(params);
        let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let algorithm = get("algorithm").unwrap_or_else(|| "MD5".to_owned());
        hash_algorithm(&algorithm)?;
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            qop_auth: get("qop").is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"))),
            algorithm,
        })
    }

    /// The best challenge of several header values (SHA-256 before MD5).
    pub fn best<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(Challenge::parse)
            .max_by_key(|c| matches!(hash_algorithm(&c.algorithm), Some(Algorithm::Sha256)))
    }

    /// The `Authorization` / `Proxy-Authorization` value answering this challenge.
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &rsip::Method,
        uri: &rsip::Uri,
        cnonce: &str,
    ) -> String {
        let algorithm = hash_algorithm(&self.algorithm).unwrap_or(Algorithm::Md5);
        let qop = self.qop_auth.then(|| AuthQop::Auth { cnonce: cnonce.to_owned(), nc: 1 });
        let response = rsip::services::DigestGenerator {
            username,
            password,
            nonce: &self.nonce,
            uri,
            realm: &self.realm,
            method,
            qop: qop.as_ref(),
            algorithm,
        }
        .compute();
        let mut value = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
            self.realm, self.nonce, self.algorithm
        );
        if self.qop_auth {
            value.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\""));
        }
        if let Some(opaque) = &self.opaque {
            value.push_str(&format!(", opaque=\"{opaque}\""));
        }
        value
    }
}

fn hash_algorithm(name: &str) -> Option<Algorithm> {
    match name.to_ascii_uppercase().as_str() {
        "MD5" => Some(Algorithm::Md5),
        "SHA-256" => Some(Algorithm::Sha256),
        _ => None,
    }
}

/// `k=v, k="v, with comma"` into pairs, quotes removed.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_owned();
        if key.is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => v.extend(chars.next()),
                    '"' => break,
                    c => v.push(c),
                }
            }
            v
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect::<String>().trim().to_owned()
        };
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_challenge_with_quoted_commas() {
        let c = Challenge::parse(
            r#"Digest realm="trunk, east", nonce="abc", qop="auth,auth-int", opaque="xyz", algorithm=MD5"#,
        )
        .unwrap();
        assert_eq!(c.realm, "trunk, east");
        assert_eq!(c.nonce, "abc");
        assert_eq!(c.opaque.as_deref(), Some("xyz"));
        assert!(c.qop_auth);
        assert_eq!(c.algorithm, "MD5");
        assert_eq!(Challenge::parse("Basic realm=\"x\""), None);
        assert_eq!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-512-256"), None);
    }

    #[test]
    fn prefers_sha_256_over_md5() {
        let c = Challenge::best([
            "Digest realm=\"r\", nonce=\"1\", algorithm=MD5",
            "Digest realm=\"r\", nonce=\"2\", algorithm=SHA-256",
        ])
        .unwrap();
        assert_eq!(c.algorithm, "SHA-256");
        assert_eq!(c.nonce, "2");
    }

    #[test]
    fn md5_response_matches_rfc_2617_arithmetic() {
        // HA1 = MD5("bob:biloxi.com:zanzibar"), HA2 = MD5("INVITE:sip:bob@biloxi.com"),
        // response = MD5(HA1:nonce:HA2), computed independently with md5sum.
        let c = Challenge::parse(r#"Digest realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093""#).unwrap();
        let uri = rsip::Uri::try_from("sip:bob@biloxi.com").unwrap();
        let value = c.authorization("bob", "zanzibar", &rsip::Method::Invite, &uri, "unused");
        assert!(value.contains("response=\"bf57e4e0d0bffc0fbaedce64d59add5e\""), "{value}");
        assert!(value.contains("uri=\"sip:bob@biloxi.com\""));
        assert!(!value.contains("qop"));
    }

    #[test]
    fn sha_256_with_qop_echoes_the_algorithm_and_counts_the_nonce() {
        let c = Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, opaque="o""#).unwrap();
        let uri = rsip::Uri::try_from("sip:+15550100@127.0.0.1").unwrap();
        let value = c.authorization("u", "p", &rsip::Method::Invite, &uri, "cn");
        assert!(value.contains("algorithm=SHA-256"));
        assert!(value.contains("qop=auth, nc=00000001, cnonce=\"cn\""));
        assert!(value.contains("opaque=\"o\""));
        let response = value.split("response=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(response.len(), 64, "a SHA-256 digest is 64 hex digits");
    }
}
