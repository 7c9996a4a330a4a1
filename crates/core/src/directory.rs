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

impl Application {
    /// The object id of this application's service principal in its tenant: the `oid` (and
    /// `sub`) of its app-only tokens. See [`service_principal_id`].
    pub fn service_principal_id(&self) -> String {
        service_principal_id(&self.tenant_id, &self.client_id)
    }
}

/// The namespace of [`service_principal_id`]'s name-based UUIDs (random, fixed for good: every
/// object id Switchboard ever gave out depends on it).
const SERVICE_PRINCIPAL_NAMESPACE: uuid::Uuid = uuid::uuid!("ab29d489-2992-436a-8965-d37dbd756fb5");

/// The object id of the service principal of application `app` in `tenant`. In Entra ID an
/// application (its client id, `appid`) has one service principal per tenant it is used in, a
/// directory object with an id of its own; app-only tokens name it in `oid` and `sub`. The
/// directory stores none: the id is a name-based UUID (version 5, RFC 9562) of the tenant and
/// client id, both compared without case as GUIDs are, so it is the same on every node, after
/// every restart and after an export and import, and differs from the client id and between
/// tenants, as Entra's do.
pub fn service_principal_id(tenant: &TenantId, app: &AppId) -> String {
    let name = format!("{}/{}", tenant.as_str().to_ascii_lowercase(), app.as_str().to_ascii_lowercase());
    name_based_uuid(&SERVICE_PRINCIPAL_NAMESPACE, &name).to_string()
}

/// RFC 9562's name-based UUID, version 5: the first 16 bytes of the SHA-1 of the namespace and
/// the name, with the version and variant bits set.
fn name_based_uuid(namespace: &uuid::Uuid, name: &str) -> uuid::Uuid {
    use sha1::{Digest, Sha1};
    let hash = Sha1::new().chain_update(namespace.as_bytes()).chain_update(name.as_bytes()).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_principal_id_is_a_version_5_uuid_of_its_tenant_and_client_id() {
        let tenant = TenantId::from("0b5e2f1a-6c3d-4e7f-8a9b-1c2d3e4f5a6b");
        let app = AppId::from("2891555a-92ff-42e6-80fa-6e1300c6b5c6");
        let id = service_principal_id(&tenant, &app);
        let parsed = uuid::Uuid::parse_str(&id).expect("a GUID");
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(parsed.to_string(), id, "written as GUIDs are, lower case and hyphenated");
        assert_ne!(id, app.0, "a service principal is not its application");
        // Stable, and blind to the case of either id.
        assert_eq!(id, service_principal_id(&tenant, &app));
        let upper = |s: &str| s.to_ascii_uppercase();
        assert_eq!(id, service_principal_id(&TenantId(upper(&tenant.0)), &AppId(upper(&app.0))));
        // One per tenant the application is in, and one per application in a tenant.
        assert_ne!(id, service_principal_id(&TenantId::from("9d1f0c3e-2b4a-4c5d-8e6f-7a8b9c0d1e2f"), &app));
        assert_ne!(id, service_principal_id(&tenant, &AppId::from("dd3885da-f9ab-486b-bfae-85de3d445555")));
    }

    #[test]
    fn the_name_based_uuid_is_rfc_9562s_version_5() {
        // With the DNS namespace it gives the well-known id of "python.org" (Python's
        // `uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")`): the standard hashing and bits.
        let id = name_based_uuid(&uuid::Uuid::NAMESPACE_DNS, "python.org");
        assert_eq!(id.to_string(), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
    }
}
