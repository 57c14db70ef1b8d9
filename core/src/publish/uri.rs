// SPDX-License-Identifier: MPL-2.0
//! `location` parsing: a file path, `file://…`, or `mqtt[s]://[user[:password]@]host[:port]/topic`.
//! The password never shows in `Debug` or `Display`: both print the URI redacted.

use std::fmt;
use std::path::PathBuf;

pub const MQTT_PORT: u16 = 1883;
pub const MQTTS_PORT: u16 = 8883;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("location is empty")]
    Empty,
    #[error("scheme '{0}' is not supported (file path, file://, mqtt:// or mqtts://)")]
    Scheme(String),
    #[error("file:// URIs must name an absolute local path (file:///path)")]
    FileHost,
    #[error("no broker host")]
    NoHost,
    #[error("port '{0}' is not a number from 1 to 65535")]
    Port(String),
    #[error("IPv6 broker addresses are not supported; use a host name")]
    Ipv6,
    #[error("no topic: add it as the path (mqtt://host/topic)")]
    NoTopic,
    #[error("topic '{0}' has a wildcard (+ or #); publishing needs a plain topic")]
    Wildcard(String),
    #[error("bad percent escape in '{0}'")]
    Escape(String),
}

/// A password kept out of logs: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A broker address and topic. `Display` and `Debug` print it redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct MqttUri {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub topic: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

impl fmt::Display for MqttUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", if self.tls { "mqtts" } else { "mqtt" })?;
        if let Some(u) = &self.username {
            write!(f, "{}", encode(u))?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}:{}/{}", self.host, self.port, self.topic)
    }
}

impl fmt::Debug for MqttUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MqttUri({self})")
    }
}

/// Where `posepublish` sends its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Mqtt(MqttUri),
}

impl Location {
    /// The location as it may be shown: MQTT passwords replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Mqtt(u) => u.to_string(),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        parse(s)
    }
}

/// Parses a `location`; anything without `scheme://` is a file path.
pub fn parse(s: &str) -> Result<Location, UriError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(UriError::Empty);
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Ok(Location::File(PathBuf::from(s)));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(UriError::FileHost);
            }
            Ok(Location::File(PathBuf::from(decode(path)?)))
        }
        "mqtt" => parse_mqtt(rest, false).map(Location::Mqtt),
        "mqtts" => parse_mqtt(rest, true).map(Location::Mqtt),
        _ => Err(UriError::Scheme(scheme.to_string())),
    }
}

fn parse_mqtt(rest: &str, tls: bool) -> Result<MqttUri, UriError> {
    let (authority, topic) = rest.split_once('/').unwrap_or((rest, ""));
    let topic = decode(topic)?;
    if topic.is_empty() {
        return Err(UriError::NoTopic);
    }
    if topic.contains(['+', '#']) {
        return Err(UriError::Wildcard(topic));
    }
    // The last '@' ends the user part: a host has none, a raw password may.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(decode(user)?), Some(Secret(decode(pass)?))),
            None => (Some(decode(u)?), None),
        },
    };
    if hostport.starts_with('[') {
        return Err(UriError::Ipv6);
    }
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| UriError::Port(p.to_string()))?;
            (h, port)
        }
        None => (hostport, if tls { MQTTS_PORT } else { MQTT_PORT }),
    };
    if host.is_empty() {
        return Err(UriError::NoHost);
    }
    Ok(MqttUri {
        tls,
        host: host.to_string(),
        port,
        topic,
        username: username.filter(|u| !u.is_empty()),
        password,
    })
}

/// Percent-decoding, for user names and passwords with `@`, `:` or `/` in them.
fn decode(s: &str) -> Result<String, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| UriError::Escape(redact_escape(s)))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UriError::Escape(redact_escape(s)))
}

/// The text of a bad escape may be a password: only its length is shown.
fn redact_escape(s: &str) -> String {
    format!("<{} characters>", s.chars().count())
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '@' | ':' | '/' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt(s: &str) -> MqttUri {
        match parse(s).unwrap() {
            Location::Mqtt(u) => u,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn files_are_paths_or_file_uris() {
        assert_eq!(
            parse("out/poses.jsonl").unwrap(),
            Location::File("out/poses.jsonl".into())
        );
        assert_eq!(
            parse("file:///tmp/a%20b.jsonl").unwrap(),
            Location::File("/tmp/a b.jsonl".into())
        );
        assert_eq!(
            parse("file://localhost/tmp/x").unwrap(),
            Location::File("/tmp/x".into())
        );
        assert_eq!(parse("file://host/x"), Err(UriError::FileHost));
    }

    #[test]
    fn mqtt_uris_with_defaults_credentials_and_topics() {
        let u = mqtt("mqtt://broker/cam1/poses");
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "broker", 1883));
        assert_eq!(u.topic, "cam1/poses");
        assert_eq!((u.username, u.password), (None, None));
        let u = mqtt("mqtts://alice:p%40ss:w@@broker.lan:9999/t");
        assert_eq!((u.tls, u.port), (true, 9999));
        assert_eq!(u.username.as_deref(), Some("alice"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("p@ss:w@"));
        assert_eq!(mqtt("mqtts://h/t").port, 8883);
        assert_eq!(mqtt("MQTT://bob@h/t").username.as_deref(), Some("bob"));
    }

    #[test]
    fn bad_uris_are_errors_that_say_why() {
        for (s, e) in [
            ("", UriError::Empty),
            ("http://h/t", UriError::Scheme("http".into())),
            ("mqtt://h", UriError::NoTopic),
            ("mqtt://h/", UriError::NoTopic),
            ("mqtt:///t", UriError::NoHost),
            ("mqtt://h:0/t", UriError::Port("0".into())),
            ("mqtt://h:99999/t", UriError::Port("99999".into())),
            ("mqtt://[::1]:1883/t", UriError::Ipv6),
            ("mqtt://h/a/+/b", UriError::Wildcard("a/+/b".into())),
            ("mqtt://h/#", UriError::Wildcard("#".into())),
        ] {
            assert_eq!(parse(s), Err(e), "{s}");
        }
    }

    #[test]
    fn passwords_never_print() {
        let secret = "hunter2%41";
        let loc = parse(&format!("mqtt://u:{secret}@h:1/t")).unwrap();
        for text in [loc.redacted(), format!("{loc:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(loc.redacted(), "mqtt://u:***@h:1/t");
        let e = parse("mqtt://u:hunter2%zz@h/t").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        // A user without a password, and special characters encoded back.
        assert_eq!(
            parse("mqtt://a%40b@h/t").unwrap().redacted(),
            "mqtt://a%40b@h:1883/t"
        );
    }
}
