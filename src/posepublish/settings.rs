// SPDX-License-Identifier: MPL-2.0
//! `posepublish`'s settings and the property definitions that set them.

use std::path::PathBuf;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

use crate::publish::{self, Limits, Location, MqttConfig, Overflow, PublishError, TlsFiles};

#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// As set; parsed at start. Never logged or read back as is (it may hold a password).
    pub location: Option<String>,
    pub stream: Option<String>,
    pub append: bool,
    pub qos: u32,
    pub client_id: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub max_queue: u32,
    pub max_queue_bytes: u64,
    pub overflow: Overflow,
    pub eos_timeout_ms: u32,
    pub reconnect_delay_ms: u32,
    pub reconnect_delay_max_ms: u32,
    pub keep_alive_s: u32,
    pub stats_interval_ms: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let limits = Limits::default();
        Settings {
            location: None,
            stream: None,
            append: false,
            qos: 1,
            client_id: None,
            password_env: None,
            password_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            max_queue: limits.max_messages as u32,
            max_queue_bytes: limits.max_bytes as u64,
            overflow: limits.overflow,
            eos_timeout_ms: 10_000,
            reconnect_delay_ms: 500,
            reconnect_delay_max_ms: 30_000,
            keep_alive_s: 30,
            stats_interval_ms: 5_000,
        }
    }
}

const MAX_MS: u32 = 3_600_000;

fn uint(name: &str, nick: &str, blurb: &str, range: (u32, u32), default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(range.0)
        .maximum(range.1)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn string(name: &str, nick: &str, blurb: &str) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name)
        .nick(nick)
        .blurb(blurb)
        .mutable_ready()
        .build()
}

/// The element's properties; all apply from the next start (READY).
pub(super) fn properties() -> Vec<glib::ParamSpec> {
    let s = Settings::default();
    vec![
        string("location", "Location",
            "Where records go: a file path or file:///path (JSON Lines), or mqtt://[user[:password]@]host[:port]/topic, mqtts://... for TLS (ports 1883/8883 by default). Reads back with the password as ***"),
        string("stream", "Stream",
            "Name written as 'stream' in every record, to tell cameras apart; empty = the element's name"),
        glib::ParamSpecBoolean::builder("append")
            .nick("Append")
            .blurb("File locations: append to the file instead of emptying it at start")
            .default_value(s.append)
            .mutable_ready()
            .build(),
        uint("mqtt-qos", "MQTT QoS",
            "MQTT quality of service: 0 at most once, 1 at least once (waits for PUBACK), 2 exactly once (waits for PUBCOMP)",
            (0, 2), s.qos),
        string("client-id", "Client id",
            "MQTT client identifier; empty = trtpose-<pid>-<n>, unique per element"),
        string("password-env", "Password environment variable",
            "Name of an environment variable holding the MQTT password (instead of the URI's); the user name stays in the URI"),
        string("password-file", "Password file",
            "File whose first line is the MQTT password; wins over password-env and the URI"),
        string("ca-file", "CA file",
            "mqtts: PEM file of the CA certificates that sign the broker's certificate; empty = the system's"),
        string("cert-file", "Client certificate file",
            "mqtts: PEM client certificate chain, for brokers that ask for one (with key-file)"),
        string("key-file", "Client key file",
            "mqtts: PEM private key of cert-file"),
        uint("max-queue", "Maximum queue",
            "Messages not yet acknowledged by the broker kept at most; past it the overflow policy applies",
            (1, 10_000_000), s.max_queue),
        glib::ParamSpecUInt64::builder("max-queue-bytes")
            .nick("Maximum queue bytes")
            .blurb("Payload bytes not yet acknowledged kept at most; 0 = no byte limit (only max-queue)")
            .minimum(0)
            .maximum(1 << 40)
            .default_value(s.max_queue_bytes)
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("overflow", s.overflow)
            .nick("Overflow")
            .blurb("When the queue is full: drop-oldest drops the oldest message not yet sent (warned, counted in 'dropped'); block makes the video wait")
            .mutable_ready()
            .build(),
        uint("eos-timeout", "EOS timeout",
            "Milliseconds EOS waits for the broker to acknowledge the queued messages; 0 = do not wait",
            (0, MAX_MS), s.eos_timeout_ms),
        uint("reconnect-delay", "Reconnect delay",
            "Milliseconds before the first reconnection attempt; doubles per failed attempt up to reconnect-delay-max",
            (1, MAX_MS), s.reconnect_delay_ms),
        uint("reconnect-delay-max", "Maximum reconnect delay",
            "Longest wait between reconnection attempts, in milliseconds",
            (1, MAX_MS), s.reconnect_delay_max_ms),
        uint("keep-alive", "Keep alive",
            "MQTT keep-alive in seconds: how soon a silent broker is taken for gone",
            (1, 65_535), s.keep_alive_s),
        uint("stats-interval", "Statistics interval",
            "Milliseconds between 'posepublish' element messages with the counters (sent, queued, dropped, reconnects, duplicates); 0 = only the one at EOS",
            (0, MAX_MS), s.stats_interval_ms),
    ]
}

fn path(v: &glib::Value) -> Option<PathBuf> {
    text(v).map(PathBuf::from)
}

fn text(v: &glib::Value) -> Option<String> {
    v.get::<Option<String>>()
        .expect("type checked upstream")
        .filter(|s| !s.is_empty())
}

fn path_value(p: &Option<PathBuf>) -> glib::Value {
    p.as_ref().map(|p| p.display().to_string()).to_value()
}

impl Settings {
    /// Sets a property; `false` for names this struct does not hold.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let u = |v: &glib::Value| v.get::<u32>().expect("type checked upstream");
        match name {
            "location" => self.location = text(value),
            "stream" => self.stream = text(value),
            "append" => self.append = value.get().expect("type checked upstream"),
            "mqtt-qos" => self.qos = u(value),
            "client-id" => self.client_id = text(value),
            "password-env" => self.password_env = text(value),
            "password-file" => self.password_file = path(value),
            "ca-file" => self.ca_file = path(value),
            "cert-file" => self.cert_file = path(value),
            "key-file" => self.key_file = path(value),
            "max-queue" => self.max_queue = u(value),
            "max-queue-bytes" => self.max_queue_bytes = value.get().expect("type checked upstream"),
            "overflow" => self.overflow = value.get().expect("type checked upstream"),
            "eos-timeout" => self.eos_timeout_ms = u(value),
            "reconnect-delay" => self.reconnect_delay_ms = u(value),
            "reconnect-delay-max" => self.reconnect_delay_max_ms = u(value),
            "keep-alive" => self.keep_alive_s = u(value),
            "stats-interval" => self.stats_interval_ms = u(value),
            _ => return false,
        }
        true
    }

    /// A property's value; `None` for names this struct does not hold.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "location" => self.redacted_location().to_value(),
            "stream" => self.stream.to_value(),
            "append" => self.append.to_value(),
            "mqtt-qos" => self.qos.to_value(),
            "client-id" => self.client_id.to_value(),
            "password-env" => self.password_env.to_value(),
            "password-file" => path_value(&self.password_file),
            "ca-file" => path_value(&self.ca_file),
            "cert-file" => path_value(&self.cert_file),
            "key-file" => path_value(&self.key_file),
            "max-queue" => self.max_queue.to_value(),
            "max-queue-bytes" => self.max_queue_bytes.to_value(),
            "overflow" => self.overflow.to_value(),
            "eos-timeout" => self.eos_timeout_ms.to_value(),
            "reconnect-delay" => self.reconnect_delay_ms.to_value(),
            "reconnect-delay-max" => self.reconnect_delay_max_ms.to_value(),
            "keep-alive" => self.keep_alive_s.to_value(),
            "stats-interval" => self.stats_interval_ms.to_value(),
            _ => return None,
        })
    }

    /// The location as it may be shown: MQTT passwords as `***`; an unparsable one only
    /// as the reason (it may hold a password too).
    pub fn redacted_location(&self) -> Option<String> {
        let raw = self.location.as_deref()?;
        Some(match publish::uri::parse(raw) {
            Ok(l) => l.redacted(),
            Err(e) => format!("(invalid: {e})"),
        })
    }

    pub fn location(&self) -> Result<Location, PublishError> {
        Ok(publish::uri::parse(self.location.as_deref().unwrap_or(""))?)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_messages: self.max_queue as usize,
            max_bytes: usize::try_from(self.max_queue_bytes).unwrap_or(usize::MAX),
            overflow: self.overflow,
        }
    }

    pub fn mqtt_config(&self, uri: publish::MqttUri) -> MqttConfig {
        let ms = |v: u32| Duration::from_millis(v as u64);
        MqttConfig {
            uri,
            qos: self.qos as u8,
            client_id: self.client_id.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            tls: TlsFiles {
                ca: self.ca_file.clone(),
                cert: self.cert_file.clone(),
                key: self.key_file.clone(),
            },
            keep_alive: Duration::from_secs(self.keep_alive_s as u64),
            reconnect_delay: ms(self.reconnect_delay_ms),
            reconnect_delay_max: ms(self.reconnect_delay_max_ms),
        }
    }
}
