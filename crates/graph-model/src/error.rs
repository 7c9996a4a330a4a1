//! The Graph error body: `{"error":{"code","message","innerError":{...}}}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub inner_error: InnerError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InnerError {
    #[serde(rename = "request-id")]
    pub request_id: String,
    #[serde(rename = "client-request-id", default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    pub date: String,
}

/// `resultInfo`: a numeric code and subcode, and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultInfo {
    #[serde(rename = "@odata.type", default = "result_info_type")]
    pub odata_type: String,
    pub code: i32,
    pub subcode: i32,
    pub message: String,
}

fn result_info_type() -> String {
    crate::odata::RESULT_INFO.to_owned()
}

impl ResultInfo {
    pub fn new(code: i32, subcode: i32, message: impl Into<String>) -> Self {
        ResultInfo { odata_type: result_info_type(), code, subcode, message: message.into() }
    }
}
