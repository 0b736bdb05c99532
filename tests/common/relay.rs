//! A TCP relay for fault tests: dlq connects through it to the real broker,
//! and the test cuts every connection at a moment of its choosing while the
//! broker stays up. In front of Kafka it also rewrites the address the
//! broker advertises to its own (`kafka_address.rs`), so that clients stay
//! on the relay.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::kafka_address::Rewrite;

pub struct Relay {
    pub port: u16,
    /// Kafka: the broker's advertised address, rewritten to the relay's.
    kafka: Arc<Mutex<Option<Rewrite>>>,
    refuse: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    /// Bytes relayed from the client to the broker so far.
    pub sent: Arc<AtomicU64>,
    target: Arc<Mutex<Option<String>>>,
}

impl Relay {
    /// Listens on a free loopback port and relays each connection to `target`.
    pub fn start(target: &str) -> Relay {
        let relay = Relay::start_deferred();
        relay.forward_to(target);
        relay
    }

    /// As [`Relay::start`], in front of a Kafka broker at `target` that
    /// advertises itself by that address.
    pub fn start_kafka(target: &str) -> Relay {
        let relay = Relay::start_deferred();
        let upstream: SocketAddr = target.parse().expect("a Kafka HOST:PORT");
        let me: SocketAddr = format!("127.0.0.1:{}", relay.port).parse().unwrap();
        *relay.kafka.lock().unwrap() = Some(Rewrite::new(upstream, me));
        relay.forward_to(target);
        relay
    }

    /// Listens now; connections wait until [`Relay::forward_to`] names the
    /// target (a broker that must advertise the relay's port needs it first).
    pub fn start_deferred() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().unwrap().port();
        let refuse = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let sent = Arc::new(AtomicU64::new(0));
        let target: Arc<Mutex<Option<String>>> = Arc::default();
        let kafka: Arc<Mutex<Option<Rewrite>>> = Arc::default();
        let (r, s, n, t, k) = (
            refuse.clone(),
            streams.clone(),
            sent.clone(),
            target.clone(),
            kafka.clone(),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                let target = loop {
                    if let Some(t) = t.lock().unwrap().clone() {
                        break t;
                    }
                    thread::sleep(Duration::from_millis(20));
                };
                let Ok(client) = client else { continue };
                if r.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                {
                    let mut all = s.lock().unwrap();
                    all.push(client.try_clone().unwrap());
                    all.push(server.try_clone().unwrap());
                }
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Some(n.clone()),
                    None,
                );
                let rewrite = k.lock().unwrap().clone();
                pump(server, client, None, rewrite);
            }
        });
        Relay {
            port,
            kafka,
            refuse,
            streams,
            sent,
            target,
        }
    }

    /// Sets where connections go.
    pub fn forward_to(&self, target: &str) {
        *self.target.lock().unwrap() = Some(target.to_owned());
    }

    /// Drops every open connection; with `refuse_new`, later ones too.
    pub fn cut(&self, refuse_new: bool) {
        self.refuse.store(refuse_new, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Accepts connections again after `cut(true)`.
    pub fn heal(&self) {
        self.refuse.store(false, Ordering::SeqCst);
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    count: Option<Arc<AtomicU64>>,
    rewrite: Option<Rewrite>,
) {
    thread::spawn(move || {
        let _ = from.set_read_timeout(Some(Duration::from_secs(600)));
        let mut buf = [0u8; 16 * 1024];
        let mut pending = Vec::new();
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let sent = match &rewrite {
                        None => to.write_all(&buf[..n]),
                        Some(r) => {
                            pending.extend_from_slice(&buf[..n]);
                            r.frames(&mut pending)
                                .iter()
                                .try_for_each(|f| to.write_all(f))
                        }
                    };
                    if sent.is_err() {
                        break;
                    }
                    if let Some(c) = &count {
                        c.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
