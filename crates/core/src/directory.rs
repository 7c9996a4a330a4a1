//! The directory: tenants, applications, application instances, users and phone numbers.

use serde::{Deserialize, Serialize};

use crate::{AppId, Behaviour, TenantId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
}

/// A registered application (a bot): client credentials and granted application permissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub client_id: AppId,
    pub tenant_id: TenantId,
    pub display_name: String,
    /// SHA-256 of each client secret, hex; secrets themselves are never stored.
    pub secret_hashes: Vec<String>,
    /// Granted application permissions (`roles` of its tokens).
    pub permissions: Vec<String>,
    /// The "Webhook for calling": where incoming calls are notified.
    pub calling_webhook: Option<String>,
}

/// A resource account of an application, optionally with a phone number (needed for PSTN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInstance {
    pub id: String,
    pub app_id: AppId,
    pub tenant_id: TenantId,
    pub display_name: String,
    pub phone_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub tenant_id: TenantId,
    pub display_name: String,
    #[serde(default)]
    pub behaviour: Behaviour,
}

/// A phone number reachable through the simulated PSTN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    pub number: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub behaviour: Behaviour,
}
