//! The `commsNotifications` envelope posted to a call's callback URI.

use serde::{Deserialize, Serialize};

use crate::ChangeType;

/// The envelope; `D` is the type of each notification's `resourceData`. Read, it is any JSON
/// (`serde_json::Value`, the default); written, it is the wire type itself (a call, an operation,
/// a roster), so a notification serialises straight to its string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommsNotifications<D = serde_json::Value> {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub value: Vec<CommsNotification<D>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommsNotification<D = serde_json::Value> {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub change_type: ChangeType,
    /// The legacy `/app/...` form, still sent by Graph beside `resourceUrl`.
    pub resource: String,
    pub resource_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_uri: Option<String>,
    pub resource_data: D,
}

impl<D> CommsNotifications<D> {
    pub fn single(notification: CommsNotification<D>) -> Self {
        CommsNotifications { odata_type: crate::odata::COMMS_NOTIFICATIONS.to_owned(), value: vec![notification] }
    }
}
