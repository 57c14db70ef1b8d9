// SPDX-License-Identifier: MPL-2.0
//! Publishing each frame's people out of the process: JSON records ([`record`]), JSON Lines
//! files ([`file`]) and an MQTT broker ([`mqtt`]) behind a bounded queue ([`queue`]) that keeps
//! every message until the broker acknowledges it. The `posepublish` element and the
//! `json-output` properties are thin wrappers around this module.

pub mod backoff;
pub mod file;
pub mod mqtt;
pub mod queue;
pub mod record;
pub mod uri;

pub use backoff::Backoff;
pub use file::JsonLinesWriter;
pub use mqtt::{MqttConfig, MqttPublisher, Report, TlsFiles};
pub use queue::{Limits, Overflow, PushError, Stats, WaitError};
pub use uri::{Location, MqttUri, UriError};

/// Why publishing cannot go on; each names its cause in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("invalid location: {0}")]
    Location(#[from] UriError),
    /// The password could not be read from `password-env` or `password-file`.
    #[error("cannot read the password: {0}")]
    Password(String),
    /// `ca-file`, `cert-file` or `key-file` could not be used.
    #[error("TLS settings: {0}")]
    TlsSettings(String),
    /// The broker answered CONNACK with a refusal.
    #[error("the broker refused the connection: {reason}")]
    Refused { reason: String },
    #[error("unknown broker host '{host}': {detail}")]
    UnknownHost { host: String, detail: String },
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("QoS {0} is not 0, 1 or 2")]
    Qos(u8),
    #[error("cannot start the publishing thread: {0}")]
    Thread(String),
    /// A JSON Lines file could not be opened or written.
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
}
