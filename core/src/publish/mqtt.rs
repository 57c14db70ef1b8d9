// SPDX-License-Identifier: MPL-2.0
//! The MQTT side of publishing: a worker thread that connects, sends the [`Queue`]'s messages
//! in order and reconnects with backoff when the broker goes away.
//!
//! Each connection is a fresh `rumqttc` client: its own retransmission state dies with it, so
//! the queue alone decides what is sent again (every message not acknowledged, in order).
//! A second thread per connection drives `rumqttc`'s event loop and reports writes and
//! acknowledgements to the queue; the worker hands messages to the client only while the
//! connection is up, at most `window` not acknowledged at a time.
//!
//! Refused logins, unknown hosts and failed TLS handshakes end the worker with a
//! [`PublishError`]; everything else (refused TCP connections, resets, timeouts) is retried.

use std::net::ToSocketAddrs as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, Connection, ConnectionError, Event, MqttOptions, NetworkOptions,
    Outgoing, Packet, QoS, TlsConfiguration, TlsError, Transport,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::queue::{Limits, Link, PushError, Queue, Stats, WaitError};
use super::uri::{MqttUri, Secret};
use super::{Backoff, PublishError};

/// Messages not acknowledged at most at once on a connection.
const WINDOW: usize = 100;
/// How long `stop` waits for the worker to say goodbye to the broker.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// PEM files for `mqtts://`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates to trust; `None`: the system's.
    pub ca: Option<PathBuf>,
    /// Client certificate chain and its key, for brokers that ask for one.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub uri: MqttUri,
    /// 0, 1 or 2.
    pub qos: u8,
    /// `None`: `trtpose-<pid>-<n>`, unique in the process.
    pub client_id: Option<String>,
    /// Environment variable holding the password (instead of the URI's).
    pub password_env: Option<String>,
    /// File holding the password (first line); wins over `password_env`.
    pub password_file: Option<PathBuf>,
    pub tls: TlsFiles,
    /// Whole seconds, at least 1 (MQTT counts in seconds).
    pub keep_alive: Duration,
    pub reconnect_delay: Duration,
    pub reconnect_delay_max: Duration,
}

impl MqttConfig {
    pub fn new(uri: MqttUri) -> Self {
        MqttConfig {
            uri,
            qos: 1,
            client_id: None,
            password_env: None,
            password_file: None,
            tls: TlsFiles::default(),
            keep_alive: Duration::from_secs(30),
            reconnect_delay: Duration::from_millis(500),
            reconnect_delay_max: Duration::from_secs(30),
        }
    }
}

/// What the worker tells its owner, from the worker's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Connected; `reconnect` after a lost or failed connection.
    Connected { reconnect: bool },
    /// A connection that worked was lost; retrying.
    Lost(String),
    /// An attempt failed; retrying after `delay`.
    Retry { why: String, delay: Duration },
    /// Publishing stopped for good.
    Fatal(PublishError),
}

pub type Reporter = Box<dyn Fn(Report) + Send + Sync>;

/// The password to log in with: `password_file`, else `password_env`, else the URI's.
pub fn resolve_password(c: &MqttConfig) -> Result<Option<Secret>, PublishError> {
    if let Some(p) = &c.password_file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| PublishError::Password(format!("password-file {}: {e}", p.display())))?;
        let line = text.lines().next().unwrap_or("");
        return Ok(Some(Secret::new(line)));
    }
    if let Some(var) = &c.password_env {
        let v = std::env::var(var).map_err(|_| {
            PublishError::Password(format!("environment variable {var} is not set"))
        })?;
        return Ok(Some(Secret::new(v)));
    }
    Ok(c.uri.password.clone())
}

/// A rustls client configuration (ring provider) from the PEM files.
pub fn tls_config(files: &TlsFiles) -> Result<rustls::ClientConfig, PublishError> {
    let err =
        |what: &str, e: &dyn std::fmt::Display| PublishError::TlsSettings(format!("{what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca {
        Some(ca) => {
            let name = format!("ca-file {}", ca.display());
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| err(&name, &e))? {
                let cert = cert.map_err(|e| err(&name, &e))?;
                roots.add(cert).map_err(|e| err(&name, &e))?;
            }
            if roots.is_empty() {
                return Err(err(&name, &"no certificate in it"));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(err("system CA certificates", &"none found; set ca-file"));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("protocol versions", &e))?
        .with_root_certificates(roots);
    match (&files.cert, &files.key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let name = format!("cert-file {}", cert.display());
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| err(&name, &e))?
                .collect::<Result<_, _>>()
                .map_err(|e| err(&name, &e))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| err(&format!("key-file {}", key.display()), &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| err("client certificate", &e))
        }
        _ => Err(err(
            "client certificate",
            &"cert-file and key-file go together",
        )),
    }
}

fn default_client_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "trtpose-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn qos_of(level: u8) -> Option<QoS> {
    match level {
        0 => Some(QoS::AtMostOnce),
        1 => Some(QoS::AtLeastOnce),
        2 => Some(QoS::ExactlyOnce),
        _ => None,
    }
}

/// `Some` for errors that retrying cannot fix.
fn fatal_cause(e: &ConnectionError) -> Option<PublishError> {
    let refused = |reason: &str| {
        Some(PublishError::Refused {
            reason: reason.to_string(),
        })
    };
    match e {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword => refused("bad user name or password"),
            ConnectReturnCode::NotAuthorized => {
                refused("not authorized (check the user name and password)")
            }
            ConnectReturnCode::BadClientId => refused("client id rejected (set client-id)"),
            ConnectReturnCode::RefusedProtocolVersion => {
                refused("MQTT 3.1.1 is not accepted by the broker")
            }
            ConnectReturnCode::ServiceUnavailable | ConnectReturnCode::Success => None,
        },
        // A reset during the handshake (broker going down) is retried; a handshake the
        // peer or rustls rejected is not. With TLS 1.3 a broker that wants a client
        // certificate says so after the client's handshake, in the first read.
        _ if rustls_cause(e).is_some() => rustls_cause(e).map(|r| PublishError::Tls(r.to_string())),
        ConnectionError::Tls(TlsError::Io(_)) => None,
        ConnectionError::Tls(t) => Some(PublishError::Tls(t.to_string())),
        _ => None,
    }
}

/// The rustls error somewhere in an error's chain (I/O errors wrap it without exposing it
/// as their source).
fn rustls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

/// Drives one connection's event loop until it ends, telling the queue what happened.
fn drive(mut conn: Connection, queue: Arc<Queue>, qos: QoS) {
    for event in conn.iter() {
        let mut g = queue.lock();
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => g.link = Link::Up,
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => g.written(pkid, qos == QoS::AtMostOnce),
            Ok(Event::Incoming(Packet::PubAck(a))) if qos == QoS::AtLeastOnce => g.acked(a.pkid),
            Ok(Event::Incoming(Packet::PubComp(c))) if qos == QoS::ExactlyOnce => g.acked(c.pkid),
            Ok(_) => {}
            Err(e) => {
                g.link = Link::Lost {
                    fatal: fatal_cause(&e),
                    why: e.to_string(),
                };
                drop(g);
                queue.notify();
                return;
            }
        }
        drop(g);
        queue.notify();
    }
    let mut g = queue.lock();
    if !matches!(g.link, Link::Lost { .. }) {
        g.link = Link::Lost {
            fatal: None,
            why: "connection closed".into(),
        };
    }
    drop(g);
    queue.notify();
}

struct Worker {
    queue: Arc<Queue>,
    options: MqttOptions,
    uri: MqttUri,
    qos: QoS,
    window: usize,
    backoff: Backoff,
    report: Reporter,
    connections: u64,
}

impl Worker {
    fn run(mut self) {
        loop {
            if self.queue.lock().closed {
                return;
            }
            let why = match (self.uri.host.as_str(), self.uri.port).to_socket_addrs() {
                Err(e) if self.connections == 0 => {
                    return self.fatal(PublishError::UnknownHost {
                        host: self.uri.host.clone(),
                        detail: e.to_string(),
                    });
                }
                Err(e) => format!("cannot resolve {}: {e}", self.uri.host),
                Ok(_) => match self.session() {
                    Ok(why) => why,
                    Err(fatal) => return self.fatal(fatal),
                },
            };
            if self.queue.lock().closed {
                return;
            }
            let delay = self.backoff.next_delay();
            (self.report)(Report::Retry { why, delay });
            let until = Instant::now() + delay;
            let mut g = self.queue.lock();
            while !g.closed && Instant::now() < until {
                g = self
                    .queue
                    .wait(g, until.saturating_duration_since(Instant::now()));
            }
        }
    }

    fn fatal(&self, e: PublishError) {
        self.queue.set_fatal(e.clone());
        (self.report)(Report::Fatal(e));
    }

    /// One connection, from connecting to its end: why it ended, or the error that ends all.
    fn session(&mut self) -> Result<String, PublishError> {
        let (client, mut conn) = Client::new(self.options.clone(), self.window);
        // Without it Nagle holds the last small message back for a delayed ACK (~40 ms).
        let mut net = NetworkOptions::new();
        net.set_tcp_nodelay(true);
        conn.eventloop.set_network_options(net);
        self.queue.lock().link = Link::Connecting;
        let (queue, qos) = (self.queue.clone(), self.qos);
        let io = std::thread::Builder::new()
            .name("posepublish-io".into())
            .spawn(move || drive(conn, queue, qos))
            .map_err(|e| PublishError::Thread(e.to_string()))?;
        let mut up = false;
        loop {
            let mut g = self.queue.lock();
            let mut just_up = false;
            let next = loop {
                if g.closed || matches!(g.link, Link::Lost { .. }) {
                    break None;
                }
                if g.link == Link::Up {
                    if !up {
                        up = true;
                        just_up = true;
                        self.connections += 1;
                        if self.connections > 1 {
                            g.stats.reconnects += 1;
                        }
                    }
                    if let Some(p) = g.take_next(self.window) {
                        break Some(p);
                    }
                    if just_up {
                        // Report the connection before waiting for messages.
                        break None;
                    }
                }
                g = self.queue.wait(g, Duration::from_millis(100));
            };
            let closed = g.closed;
            drop(g);
            if just_up {
                self.backoff.reset();
                (self.report)(Report::Connected {
                    reconnect: self.connections > 1,
                });
            }
            match next {
                Some(payload) => {
                    let topic = self.uri.topic.clone();
                    if client
                        .publish(topic, self.qos, false, payload.as_ref().clone())
                        .is_err()
                    {
                        break;
                    }
                }
                None if closed => {
                    let _ = client.try_disconnect();
                    break;
                }
                None if just_up => continue,
                None => break,
            }
        }
        drop(client);
        // Closing: the goodbye gets a bounded wait; a connection ending on its own is over.
        let start = Instant::now();
        while !io.is_finished() && start.elapsed() < STOP_WAIT {
            std::thread::sleep(Duration::from_millis(10));
        }
        if io.is_finished() {
            let _ = io.join();
        }
        let mut g = self.queue.lock();
        g.requeue();
        let link = std::mem::take(&mut g.link);
        let closed = g.closed;
        drop(g);
        self.queue.notify();
        match link {
            Link::Lost { fatal: Some(e), .. } => Err(e),
            Link::Lost { why, .. } => {
                // Closing ends the connection on purpose: nothing to report.
                if up && !closed {
                    (self.report)(Report::Lost(why.clone()));
                }
                Ok(why)
            }
            _ => Ok("closed".into()),
        }
    }
}

/// Publishes queued messages to one topic of one broker from a worker thread.
pub struct MqttPublisher {
    queue: Arc<Queue>,
    worker: std::sync::Mutex<Option<JoinHandle<()>>>,
    uri: MqttUri,
}

impl MqttPublisher {
    /// Checks the settings (password source, TLS files) and starts connecting.
    pub fn start(
        config: &MqttConfig,
        limits: Limits,
        report: Reporter,
    ) -> Result<Self, PublishError> {
        let qos = qos_of(config.qos).ok_or(PublishError::Qos(config.qos))?;
        let uri = &config.uri;
        let client_id = config
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(default_client_id);
        let mut options = MqttOptions::new(client_id, uri.host.clone(), uri.port);
        let keep_alive = config.keep_alive.max(Duration::from_secs(1));
        options
            .set_keep_alive(Duration::from_secs(keep_alive.as_secs()))
            .set_clean_session(true)
            .set_max_packet_size(1 << 20, 256 << 20);
        let password = resolve_password(config)?;
        match (&uri.username, password) {
            (Some(user), pass) => {
                options.set_credentials(
                    user.clone(),
                    pass.as_ref().map_or("", Secret::expose).to_string(),
                );
            }
            (None, Some(_)) => {
                return Err(PublishError::Password(
                    "a password needs a user name: mqtt://USER@host/topic".into(),
                ));
            }
            (None, None) => {}
        }
        if uri.tls {
            let tls = tls_config(&config.tls)?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(tls),
            )));
        }
        let window = WINDOW.min(limits.max_messages).max(1);
        options.set_inflight(window as u16);
        let queue = Arc::new(Queue::new(limits));
        let worker = Worker {
            queue: queue.clone(),
            options,
            uri: uri.clone(),
            qos,
            window,
            backoff: Backoff::new(config.reconnect_delay, config.reconnect_delay_max),
            report,
            connections: 0,
        };
        let worker = std::thread::Builder::new()
            .name("posepublish-mqtt".into())
            .spawn(move || worker.run())
            .map_err(|e| PublishError::Thread(e.to_string()))?;
        Ok(MqttPublisher {
            queue,
            worker: std::sync::Mutex::new(Some(worker)),
            uri: uri.clone(),
        })
    }

    /// Queues one message; see [`Queue::push`].
    pub fn push(&self, payload: Vec<u8>) -> Result<u64, PushError> {
        self.queue.push(payload)
    }

    /// Waits until the broker acknowledged every queued message, at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), WaitError> {
        self.queue.wait_empty(timeout)
    }

    pub fn stats(&self) -> Stats {
        self.queue.stats()
    }

    pub fn fatal(&self) -> Option<PublishError> {
        self.queue.fatal()
    }

    /// While set (a flush), blocked pushes return.
    pub fn set_interrupted(&self, on: bool) {
        self.queue.set_interrupted(on)
    }

    /// The broker address with the password redacted.
    pub fn uri(&self) -> &MqttUri {
        &self.uri
    }

    /// Disconnects and ends the worker (bounded wait); returns the final counters. Messages
    /// not acknowledged by then are lost (`queued`).
    pub fn stop(&self) -> Stats {
        self.queue.close();
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = worker {
            let start = Instant::now();
            while !w.is_finished() && start.elapsed() < STOP_WAIT * 2 {
                std::thread::sleep(Duration::from_millis(10));
            }
            if w.is_finished() {
                let _ = w.join();
            }
        }
        self.queue.stats()
    }
}

impl Drop for MqttPublisher {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::uri::{Location, parse};

    fn uri(s: &str) -> MqttUri {
        match parse(s).unwrap() {
            Location::Mqtt(u) => u,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_password_comes_from_a_file_an_env_var_or_the_uri() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "from-file\nrest").unwrap();
        let mut c = MqttConfig::new(uri("mqtt://u:from-uri@h/t"));
        assert_eq!(resolve_password(&c).unwrap().unwrap().expose(), "from-uri");
        c.password_env = Some("TRTPOSE_TEST_SURELY_UNSET_VAR".into());
        let e = resolve_password(&c).unwrap_err().to_string();
        assert!(
            e.contains("TRTPOSE_TEST_SURELY_UNSET_VAR is not set"),
            "{e}"
        );
        c.password_file = Some(f);
        assert_eq!(resolve_password(&c).unwrap().unwrap().expose(), "from-file");
        c.password_file = Some(dir.path().join("missing"));
        assert!(resolve_password(&c).is_err());
    }

    #[test]
    fn tls_settings_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let files = TlsFiles {
            ca: Some(empty),
            ..Default::default()
        };
        let e = tls_config(&files).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no certificate"),
            "{e}"
        );
        let files = TlsFiles {
            ca: Some(dir.path().join("missing.pem")),
            ..Default::default()
        };
        assert!(
            tls_config(&files)
                .unwrap_err()
                .to_string()
                .contains("missing.pem")
        );
    }

    #[test]
    fn refusals_and_rejected_handshakes_are_fatal_resets_are_not() {
        let refused = ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword);
        assert_eq!(
            fatal_cause(&refused).unwrap().to_string(),
            "the broker refused the connection: bad user name or password"
        );
        let reset = ConnectionError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(fatal_cause(&reset), None);
        let tls_reset =
            ConnectionError::Tls(TlsError::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert_eq!(fatal_cause(&tls_reset), None);
        let bad_cert = ConnectionError::Tls(TlsError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        )));
        let e = fatal_cause(&bad_cert).unwrap().to_string();
        assert!(
            e.starts_with("TLS handshake failed: invalid peer certificate"),
            "{e}"
        );
        // A client certificate refused after the handshake, deep in the state error.
        let alert = ConnectionError::MqttState(rumqttc::StateError::Deserialization(
            rumqttc::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
            )),
        ));
        let e = fatal_cause(&alert).unwrap().to_string();
        assert!(e.contains("CertificateRequired"), "{e}");
    }

    #[test]
    fn an_unknown_host_is_fatal_before_any_connection() {
        let c = MqttConfig::new(uri("mqtt://no-such-host.invalid/t"));
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let p = MqttPublisher::start(
            &c,
            Limits::default(),
            Box::new(move |r| {
                let _ = tx.lock().unwrap().send(r);
            }),
        )
        .unwrap();
        let r = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(
            matches!(&r, Report::Fatal(PublishError::UnknownHost { host, .. }) if host == "no-such-host.invalid"),
            "{r:?}"
        );
        assert!(matches!(p.push(vec![1]), Err(PushError::Fatal(_))));
        p.stop();
    }
}
