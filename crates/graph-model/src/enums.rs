//! Graph enumerations. Input is read case-insensitively (the docs themselves mix `Running`,
//! `running` and `Busy`, `busy`); output uses the spelling each place of the docs uses.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a closed enum with its canonical wire spelling, a case-insensitive `FromStr`,
/// and serde impls using them.
macro_rules! graph_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling Graph writes.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Reads any casing of a documented value.
            pub fn parse(value: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(value))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($wire),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::parse(&raw).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        concat!("unknown ", stringify!($name), " value '{}'"),
                        raw
                    ))
                })
            }
        }
    };
}

graph_enum!(
    /// `callState`, camelCase as Graph writes it everywhere.
    CallState {
        Incoming => "incoming",
        Establishing => "establishing",
        Ringing => "ringing",
        Established => "established",
        Hold => "hold",
        Transferring => "transferring",
        TransferAccepted => "transferAccepted",
        Redirecting => "redirecting",
        Terminating => "terminating",
        Terminated => "terminated",
    }
);

impl CallState {
    pub fn is_terminal(self) -> bool {
        matches!(self, CallState::Terminated)
    }
}

graph_enum!(
    /// `callDirection`.
    CallDirection { Incoming => "incoming", Outgoing => "outgoing" }
);

graph_enum!(
    /// `modality`.
    Modality {
        Unknown => "unknown",
        Audio => "audio",
        Video => "video",
        VideoBasedScreenSharing => "videoBasedScreenSharing",
        Data => "data",
    }
);

graph_enum!(
    /// `endpointType`.
    EndpointType {
        Default => "default",
        Voicemail => "voicemail",
        SkypeForBusiness => "skypeForBusiness",
        SkypeForBusinessVoipPhone => "skypeForBusinessVoipPhone",
        UnknownFutureValue => "unknownFutureValue",
    }
);

graph_enum!(
    /// `operationStatus` as Graph's metadata spells it (PascalCase), used in responses and GET.
    /// Notification bodies use [`OperationStatus::notification_str`] instead.
    OperationStatus {
        NotStarted => "NotStarted",
        Running => "Running",
        Completed => "Completed",
        Failed => "Failed",
    }
);

impl OperationStatus {
    /// Lower camelCase, as every notification example of the docs writes it.
    pub fn notification_str(self) -> &'static str {
        match self {
            OperationStatus::NotStarted => "notStarted",
            OperationStatus::Running => "running",
            OperationStatus::Completed => "completed",
            OperationStatus::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, OperationStatus::Completed | OperationStatus::Failed)
    }
}

graph_enum!(
    /// `changeType` of a commsNotification.
    ChangeType { Created => "created", Updated => "updated", Deleted => "deleted" }
);

graph_enum!(
    /// `mediaDirection`.
    MediaDirection {
        Inactive => "inactive",
        SendOnly => "sendOnly",
        ReceiveOnly => "receiveOnly",
        SendReceive => "sendReceive",
    }
);

graph_enum!(
    /// `rejectReason`, PascalCase in the metadata, lower case in the examples.
    RejectReason { None => "none", Busy => "busy", Forbidden => "forbidden" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_read_any_case_and_write_graph_spelling() {
        let status: OperationStatus = serde_json::from_str("\"running\"").unwrap();
        assert_eq!(status, OperationStatus::Running);
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"Running\"");
        assert_eq!(status.notification_str(), "running");
        let state: CallState = serde_json::from_str("\"Established\"").unwrap();
        assert_eq!(serde_json::to_string(&state).unwrap(), "\"established\"");
        assert_eq!(CallState::parse("transferaccepted"), Some(CallState::TransferAccepted));
    }

    #[test]
    fn unknown_enum_values_are_errors_not_defaults() {
        assert!(serde_json::from_str::<Modality>("\"smell\"").is_err());
    }
}
