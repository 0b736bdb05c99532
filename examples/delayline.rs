//! A delay line for benchmarks: a TCP relay that holds every byte for a fixed
//! one-way delay in each direction, without limiting bandwidth.
//!
//! `delayline --rtt 20ms 127.0.0.1:15672=127.0.0.1:5672 [LISTEN=UPSTREAM ...]`
//! listens on each LISTEN address and relays each connection to UPSTREAM.
//! A reader stamps each chunk with the time it arrived and queues it without
//! bound; a writer sends it once half the round trip has passed, so what is in
//! flight is limited only by the endpoints' own windows, as on a real long
//! link. A pair written `kafka:LISTEN=UPSTREAM` also rewrites the address a
//! Kafka broker hands out (metadata and coordinator answers carry a host and
//! port, which clients then dial): the relay cuts the answers into frames at
//! their size prefix and puts LISTEN where UPSTREAM was, so every connection
//! of the client comes back through the relay. A second pair relays a
//! management API beside AMQP. Loopback only: it refuses to listen or connect
//! anywhere else.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

#[path = "../tests/common/kafka_address.rs"]
mod kafka_address;
use kafka_address::Rewrite;

fn usage() -> ! {
    eprintln!("usage: delayline --rtt DURATION [kafka:]LISTEN=UPSTREAM [[kafka:]LISTEN=UPSTREAM ...] (loopback addresses)");
    std::process::exit(2)
}

fn loopback(s: &str) -> SocketAddr {
    match s.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_loopback() => a,
        _ => {
            eprintln!("delayline: {s:?} is not a loopback address:port");
            std::process::exit(2)
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut one_way = Duration::ZERO;
    let mut pairs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--rtt" {
            let Some(v) = it.next() else { usage() };
            let rtt = humantime::parse_duration(v).unwrap_or_else(|_| usage());
            one_way = rtt / 2;
        } else if let Some((l, u)) = a.split_once('=') {
            let (kafka, l) = match l.strip_prefix("kafka:") {
                Some(l) => (true, l),
                None => (false, l),
            };
            pairs.push((loopback(l), loopback(u), kafka));
        } else {
            usage()
        }
    }
    if pairs.is_empty() {
        usage()
    }
    let mut tasks = Vec::new();
    for (listen, upstream, kafka) in pairs {
        let rewrite = kafka.then(|| Rewrite::new(upstream, listen));
        let listener = TcpListener::bind(listen).await.unwrap_or_else(|e| {
            eprintln!("delayline: cannot listen on {listen}: {e}");
            std::process::exit(1)
        });
        let what = if kafka {
            " (Kafka addresses rewritten)"
        } else {
            ""
        };
        eprintln!("delayline: {listen} -> {upstream}, {one_way:?} each way{what}");
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(relay(client, upstream, one_way, rewrite.clone()));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, delay: Duration, rewrite: Option<Rewrite>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(pipe(cr, sw, delay, None), pipe(sr, cw, delay, rewrite));
}

/// Copies `from` to `to`, each chunk held until `delay` after it arrived;
/// with a rewrite, chunks are whole Kafka frames with the address replaced.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    rewrite: Option<Rewrite>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 256 * 1024];
        let mut pending = Vec::new();
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = Instant::now() + delay;
                    let chunks = match &rewrite {
                        None => vec![buf[..n].to_vec()],
                        Some(r) => {
                            pending.extend_from_slice(&buf[..n]);
                            r.frames(&mut pending)
                        }
                    };
                    if chunks.into_iter().any(|c| tx.send((due, c)).is_err()) {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
