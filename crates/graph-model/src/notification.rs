//! The `commsNotifications` envelope posted to a call's callback URI.

use serde::{Deserialize, Serialize};

use crate::ChangeType;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommsNotifications {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub value: Vec<CommsNotification>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommsNotification {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub change_type: ChangeType,
    /// The legacy `/app/...` form, still sent by Graph beside `resourceUrl`.
    pub resource: String,
    pub resource_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_uri: Option<String>,
    pub resource_data: serde_json::Value,
}

impl CommsNotifications {
    pub fn single(notification: CommsNotification) -> Self {
        CommsNotifications { odata_type: crate::odata::COMMS_NOTIFICATIONS.to_owned(), value: vec![notification] }
    }
}
