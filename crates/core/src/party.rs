//! A party: the one identity an invitee, a call target or a participant stands for.
//!
//! Parsed once at the edge from an `identitySet`; the rest of the system works with `Party`.

use graph_model::{odata, Identity, IdentitySet};
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The longest identity id accepted (an id is part of the key the store indexes).
pub const MAX_ID_CHARS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PartyKind {
    User,
    Phone,
    Application,
    ApplicationInstance,
    Guest,
}

impl PartyKind {
    fn key_prefix(self) -> &'static str {
        match self {
            PartyKind::User => "user",
            PartyKind::Phone => "phone",
            PartyKind::Application => "application",
            PartyKind::ApplicationInstance => "applicationInstance",
            PartyKind::Guest => "guest",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    pub kind: PartyKind,
    /// Directory object id, application client id, or E.164 number.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Kept so the echo of an invite shows what the client sent (`"AAD"` in the docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
}

impl Party {
    /// Parses an identity set that must name exactly one kind of identity.
    pub fn from_identity_set(set: &IdentitySet) -> Result<Party, DomainError> {
        let present = set.present();
        let (key, identity) = match present.as_slice() {
            [] => return Err(DomainError::invalid("identity names no user, phone or application")),
            [one] => *one,
            _ => {
                let keys: Vec<&str> = present.iter().map(|(k, _)| *k).collect();
                return Err(DomainError::invalid(format!(
                    "identity must name exactly one kind, got {}",
                    keys.join(", ")
                )));
            }
        };
        let kind = match key {
            "user" => PartyKind::User,
            "phone" => PartyKind::Phone,
            "application" => PartyKind::Application,
            "applicationInstance" => PartyKind::ApplicationInstance,
            "guest" => PartyKind::Guest,
            other => return Err(DomainError::invalid(format!("identity kind '{other}' cannot be invited"))),
        };
        let id = identity.id.as_deref().map(str::trim).unwrap_or_default();
        check_id(&format!("identity.{key}.id"), id)?;
        let id = if kind == PartyKind::Phone { parse_e164(id)? } else { id.to_owned() };
        Ok(Party {
            kind,
            id,
            display_name: identity.display_name.clone(),
            tenant_id: identity.tenant_id.clone(),
            identity_provider: identity.identity_provider.clone(),
        })
    }

    /// The key that makes an identity unique among a conversation's active participants.
    pub fn key(&self) -> String {
        let id = if self.kind == PartyKind::Phone { self.id.clone() } else { self.id.to_ascii_lowercase() };
        format!("{}:{}", self.kind.key_prefix(), id)
    }

    /// The identity as Teams' messages name it (`8:orgid:<id>`, `4:+E164`, `28:<app>`).
    pub fn mri(&self) -> String {
        match self.kind {
            PartyKind::User => format!("8:orgid:{}", self.id),
            PartyKind::Phone => format!("4:{}", self.id),
            PartyKind::Application | PartyKind::ApplicationInstance => format!("28:{}", self.id),
            PartyKind::Guest => format!("8:guest:{}", self.id),
        }
    }

    /// Whether two parties are the same identity.
    pub fn same_identity(&self, other: &Party) -> bool {
        self.key() == other.key()
    }

    /// The `identitySet` Graph renders for this party. Phone identities are rendered as a
    /// `communicationsIdentitySet`, the only set type whose SDK models know `phone`.
    pub fn to_identity_set(&self) -> IdentitySet {
        let identity = Identity {
            odata_type: Some(odata::IDENTITY.to_owned()),
            id: Some(self.id.clone()),
            display_name: self.display_name.clone(),
            identity_provider: match self.kind {
                PartyKind::User => Some(self.identity_provider.clone().unwrap_or_else(|| "AAD".to_owned())),
                _ => None,
            },
            tenant_id: match self.kind {
                PartyKind::Phone => None,
                _ => self.tenant_id.clone(),
            },
        };
        let mut set = IdentitySet {
            odata_type: Some(
                if self.kind == PartyKind::Phone { odata::COMMS_IDENTITY_SET } else { odata::IDENTITY_SET }.to_owned(),
            ),
            ..IdentitySet::default()
        };
        match self.kind {
            PartyKind::User => set.user = Some(identity),
            PartyKind::Phone => set.phone = Some(identity),
            PartyKind::Application => set.application = Some(identity),
            PartyKind::ApplicationInstance => set.application_instance = Some(identity),
            PartyKind::Guest => set.guest = Some(identity),
        }
        set
    }
}

/// Checks an identity id, from an `identitySet` or from SIP (a caller's number): present, at
/// most [`MAX_ID_CHARS`] characters, and without control characters (U+0000, which PostgreSQL
/// cannot store, and the others, which no directory id holds). `what` names it in the message.
pub fn check_id(what: &str, id: &str) -> Result<(), DomainError> {
    if id.is_empty() {
        return Err(DomainError::invalid(format!("{what} is required")));
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(DomainError::invalid(format!("{what} is longer than {MAX_ID_CHARS} characters")));
    }
    if id.chars().any(char::is_control) {
        return Err(DomainError::invalid(format!("{what} holds a control character")));
    }
    Ok(())
}

/// Checks that a phone id is in E.164: `+`, a country code, at most 15 digits in all.
pub fn parse_e164(raw: &str) -> Result<String, DomainError> {
    let invalid = || DomainError::invalid(format!("phone id '{raw}' is not an E.164 number"));
    let digits = raw.strip_prefix('+').ok_or_else(invalid)?;
    if digits.len() < 3 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(invalid());
    }
    let parsed = phonenumber::parse(None, raw).map_err(|_| invalid())?;
    let formatted = parsed.format().mode(phonenumber::Mode::E164).to_string();
    if formatted != raw {
        return Err(invalid());
    }
    Ok(formatted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: &str) -> IdentitySet {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parses_a_user_and_keys_it_case_insensitively() {
        let p = Party::from_identity_set(&set(r#"{"user":{"id":"ABC","identityProvider":"AAD"}}"#)).unwrap();
        assert_eq!(p.kind, PartyKind::User);
        assert_eq!(p.key(), "user:abc");
        assert_eq!(p.mri(), "8:orgid:ABC");
    }

    #[test]
    fn refuses_no_kind_and_several_kinds() {
        assert!(Party::from_identity_set(&set("{}")).is_err());
        assert!(Party::from_identity_set(&set(r#"{"user":{"id":"a"},"phone":{"id":"+12345678901"}}"#)).is_err());
        assert!(Party::from_identity_set(&set(r#"{"user":{}}"#)).is_err());
    }

    #[test]
    fn phone_ids_must_be_e164() {
        assert_eq!(parse_e164("+12345678901").unwrap(), "+12345678901");
        for bad in ["12345678901", "+1 234 567", "+0123456", "+1234567890123456", "+44abc", "+", ""] {
            assert!(parse_e164(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phone_identities_render_as_communications_identity_sets() {
        let p = Party::from_identity_set(&set(r#"{"phone":{"id":"+12345678901"}}"#)).unwrap();
        let rendered = serde_json::to_value(p.to_identity_set()).unwrap();
        assert_eq!(rendered["@odata.type"], "#microsoft.graph.communicationsIdentitySet");
        assert_eq!(rendered["phone"]["id"], "+12345678901");
        assert!(rendered["user"].is_null());
    }
}
