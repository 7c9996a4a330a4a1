//! `identitySet` / `communicationsIdentitySet` and `identity`.

use serde::{Deserialize, Serialize};

/// One identity (`#microsoft.graph.identity` and its communications subtypes).
///
/// Real clients add `identityProvider` and `tenantId`, which no schema page lists; they are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Written as `null` when unknown, as Graph does (call-get.md's organizer).
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// `identitySet`. Absent members are written as `null`, as Graph's responses do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySet {
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub user: Option<Identity>,
    #[serde(default)]
    pub application: Option<Identity>,
    #[serde(default)]
    pub application_instance: Option<Identity>,
    #[serde(default)]
    pub device: Option<Identity>,
    #[serde(default)]
    pub phone: Option<Identity>,
    #[serde(default)]
    pub guest: Option<Identity>,
    #[serde(default)]
    pub encrypted: Option<Identity>,
    #[serde(default)]
    pub on_premises: Option<Identity>,
}

impl IdentitySet {
    /// The members that are set, with their key names.
    pub fn present(&self) -> Vec<(&'static str, &Identity)> {
        [
            ("user", &self.user),
            ("application", &self.application),
            ("applicationInstance", &self.application_instance),
            ("device", &self.device),
            ("phone", &self.phone),
            ("guest", &self.guest),
            ("encrypted", &self.encrypted),
            ("onPremises", &self.on_premises),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect()
    }
}
