// SPDX-License-Identifier: MPL-2.0
//! A real MQTT broker for tests: Debian's `mosquitto` (scripts/setup.sh installs it) on a free
//! loopback port with a generated configuration, a password file and, for TLS, a CA and server
//! certificate made at test time with `openssl`; and a subscriber that collects what arrives.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

pub const USER: &str = "camera";
pub const PASSWORD: &str = "s3cr3t-PW";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        super::output_text(&out)
    );
}

/// A test CA, a server certificate for 127.0.0.1 / localhost and a client certificate
/// signed by it.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Makes a CA (`NAME-ca.pem`) in `dir`; with `server`, a server certificate signed by it.
pub fn make_certs(dir: &Path, name: &str) -> Certs {
    let p = |f: &str| dir.join(format!("{name}-{f}"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
        ])
        .args(ec)
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args(["req", "-subj", "/CN=localhost"])
        .args(ec)
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    std::fs::write(p("ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext"))
        .arg("-out")
        .arg(p("server.pem")));
    std::fs::write(p("client-ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(Command::new("openssl")
        .args(["req", "-subj", "/CN=camera"])
        .args(ec)
        .arg("-keyout")
        .arg(p("client.key"))
        .arg("-out")
        .arg(p("client.csr")));
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("client.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        // An X.509 v3 certificate: rustls refuses v1.
        .arg("-extfile")
        .arg(p("client-ext"))
        .arg("-out")
        .arg(p("client.pem")));
    Certs {
        ca: p("ca.pem"),
        cert: p("server.pem"),
        key: p("server.key"),
        client_cert: p("client.pem"),
        client_key: p("client.key"),
    }
}

/// A running `mosquitto` with a plain listener (`port`) and, with certificates, a TLS one
/// (`tls_port`). Users log in as [`USER`]/[`PASSWORD`]; persistence keeps the subscriber's
/// session across [`Broker::kill`] and [`Broker::restart`].
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    pub tls_port: Option<u16>,
    conf: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        Self::start_with(None)
    }

    /// With a TLS listener; `require_client_cert`: it asks clients for a certificate.
    pub fn start_tls(
        certs: impl FnOnce(&Path) -> Certs,
        require_client_cert: bool,
    ) -> (Broker, Certs) {
        let dir = tempfile::tempdir().unwrap();
        let c = certs(dir.path());
        (Self::start_in(dir, Some((&c, require_client_cert))), c)
    }

    fn start_with(certs: Option<(&Certs, bool)>) -> Broker {
        Self::start_in(tempfile::tempdir().unwrap(), certs)
    }

    fn start_in(dir: tempfile::TempDir, certs: Option<(&Certs, bool)>) -> Broker {
        let d = dir.path();
        let passwd = d.join("passwd");
        run(Command::new("mosquitto_passwd")
            .args(["-c", "-b"])
            .arg(&passwd)
            .args([USER, PASSWORD]));
        let port = free_port();
        let mut conf = format!(
            "user root\nper_listener_settings false\nset_tcp_nodelay true\nallow_anonymous false\npassword_file {}\n\
             persistence true\npersistence_location {}/\nautosave_interval 0\n\
             log_dest file {}\nlog_type all\nlistener {port} 127.0.0.1\n",
            passwd.display(),
            d.display(),
            d.join("mosquitto.log").display()
        );
        let tls_port = certs.map(|(c, require)| {
            let p = free_port();
            conf += &format!(
                "listener {p} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require}\n",
                c.ca.display(),
                c.cert.display(),
                c.key.display()
            );
            p
        });
        let path = d.join("mosquitto.conf");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(conf.as_bytes())
            .unwrap();
        let mut b = Broker {
            child: None,
            port,
            tls_port,
            conf: path,
            dir,
        };
        b.restart();
        b
    }

    /// Starts the broker again on the same ports (after [`Broker::kill`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (apt install mosquitto, or scripts/setup.sh)");
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen on {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes the persistence file now (SIGUSR1): subscriptions survive a [`Broker::kill`].
    pub fn save(&self) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        run(Command::new("kill").args(["-USR1", &pid]));
        let db = self.dir.path().join("mosquitto.db");
        let start = Instant::now();
        while !db.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no {}",
                db.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: connections drop without a goodbye, nothing more is saved.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// `mqtt://camera:PASSWORD@127.0.0.1:PORT/TOPIC`.
    pub fn url(&self, topic: &str) -> String {
        format!("mqtt://{USER}:{PASSWORD}@127.0.0.1:{}/{topic}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A QoS 1 subscriber with a persistent session that collects payloads and reconnects by
/// itself.
pub struct Subscriber {
    got: Arc<Mutex<Vec<String>>>,
    subscribed: Arc<AtomicBool>,
    client: Client,
    stop: Arc<AtomicBool>,
}

impl Subscriber {
    pub fn new(port: u16, topic: &str) -> Subscriber {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = format!(
            "test-sub-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_credentials(USER, PASSWORD);
        let (client, mut conn) = Client::new(o, 100);
        let got: Arc<Mutex<Vec<String>>> = Arc::default();
        let subscribed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s, c, t, st) = (
            Arc::clone(&got),
            Arc::clone(&subscribed),
            client.clone(),
            topic.to_string(),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            for ev in conn.iter() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = c.try_subscribe(t.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => s.store(true, Ordering::SeqCst),
                    Ok(Event::Incoming(Packet::Publish(p))) => g
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&p.payload).into_owned()),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        let sub = Subscriber {
            got,
            subscribed,
            client,
            stop,
        };
        let start = Instant::now();
        while !sub.subscribed.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10), "no SUBACK");
            std::thread::sleep(Duration::from_millis(10));
        }
        sub
    }

    /// Waits until `n` messages arrived (at most `timeout`); returns all so far as JSON.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        while self.got.lock().unwrap().len() < n && start.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.messages()
    }

    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|m| serde_json::from_str(m).unwrap_or_else(|e| panic!("{e}: {m}")))
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.client.try_disconnect();
    }
}
