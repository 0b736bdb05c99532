//! A bulk read straight from each partition's leader, over the plain TCP
//! connection Kafka speaks without TLS or SASL, taking each answer off the
//! socket one record batch at a time.
//!
//! librdkafka reads a whole fetch answer into memory before it hands on a
//! record. Kafka keeps an answer under `fetch.max.bytes`, but a server that
//! ignores the fetch sizes (noida-db answers with whole partitions) sends
//! answers as large as a partition: memory then follows the partition, and a
//! partition over the receive limit could not be read at all. Here memory is
//! one batch and the socket's buffer, whatever the answer's size; the
//! connection's flow control holds the server back while the copies go out.
//! In a bulk run two fetches are in flight on each connection (each for a
//! different partition), so the server prepares the next answer while this
//! one is read; other reads go one partition after the other, in order.
//!
//! What this reader does not take apart (TLS or SASL, compressed or legacy
//! batches, aborted transactions, an error code, an answer that brings
//! nothing new) is left to librdkafka: each partition not done is handed
//! back at the offset it got to, and the librdkafka read goes on from there.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::Timestamp;

use super::{Plan, Reader, Sink, Stop};
use crate::broker::kafka::envelope::{self, Raw};
use crate::broker::kafka::wire::{self, Answer};

/// Fetches in flight on one connection.
const DEPTH: usize = 2;
/// What each fetch asks for at most (a broker that honours it answers in
/// pieces of this size).
const FETCH_BYTES: i32 = 4 << 20;
/// The socket's read buffer.
const READ_BUFFER: usize = 256 << 10;

/// How a plain connection is read.
#[derive(Clone, Copy, Debug)]
pub struct Direct {
    /// `isolation.level` is `read_committed` (librdkafka's default).
    pub read_committed: bool,
}

/// One partition's range: the next offset wanted and the end (exclusive).
struct Part {
    partition: i32,
    next: i64,
    end: i64,
}

/// Reads what it can of `ranges` over plain connections; returns what is
/// left for librdkafka. A bulk read keeps two fetches in flight on each
/// leader's connection; any other read keeps the order of `ranges`, one
/// partition after the other, one fetch at a time. Once anything is left to
/// librdkafka, so is everything after it.
pub fn read(
    consumer: &Reader,
    direct: Direct,
    plan: &Plan,
    ranges: &[(i32, i64, i64)],
    tx: &mut Sink,
) -> Result<Vec<(i32, i64, i64)>, Stop> {
    let Ok(leaders) = leaders(consumer, &plan.topic, plan.stall) else {
        return Ok(ranges.to_vec());
    };
    if ranges.iter().any(|r| !leaders.contains_key(&r.0)) {
        return Ok(ranges.to_vec());
    }
    // The partitions read together on one connection: all of a leader's in a
    // bulk read, else each run of a leader's that are next to each other.
    let mut groups: Vec<(&str, Vec<Part>)> = Vec::new();
    for &(partition, next, end) in ranges {
        let addr = leaders[&partition].as_str();
        let part = Part {
            partition,
            next,
            end,
        };
        let at = match plan.together {
            true => groups.iter().position(|g| g.0 == addr),
            false => groups.len().checked_sub(1).filter(|&i| groups[i].0 == addr),
        };
        match at {
            Some(i) => groups[i].1.push(part),
            None => groups.push((addr, vec![part])),
        }
    }
    let depth = if plan.together { DEPTH } else { 1 };
    let mut conns: HashMap<&str, Conn> = HashMap::new();
    let mut over = false;
    let mut left = Vec::new();
    for (addr, mut parts) in groups {
        if !over {
            let read = match conns.entry(addr) {
                Entry::Occupied(c) => Ok(c.into_mut()),
                Entry::Vacant(v) => Conn::open(addr, plan.stall).map(|c| v.insert(c)),
            };
            // Any failure leaves the rest to librdkafka, which says what went wrong.
            match read
                .map_err(Failed::from)
                .and_then(|c| c.read(depth, direct, plan, &mut parts, tx))
            {
                Ok(()) => {}
                Err(Failed::Closed) => return Err(Stop::Closed),
                Err(Failed::Over) => over = true,
            }
        }
        left.extend(
            parts
                .iter()
                .filter(|p| p.next < p.end)
                .map(|p| (p.partition, p.next, p.end)),
        );
    }
    Ok(left)
}

/// The leader's address of each partition of `topic`.
fn leaders(consumer: &Reader, topic: &str, timeout: Duration) -> Result<HashMap<i32, String>, ()> {
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|_| ())?;
    let brokers: HashMap<i32, String> = md
        .brokers()
        .iter()
        .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
        .collect();
    let t = md.topics().iter().find(|t| t.name() == topic).ok_or(())?;
    Ok(t.partitions()
        .iter()
        .filter_map(|p| Some((p.id(), brokers.get(&p.leader())?.clone())))
        .collect())
}

enum Failed {
    /// Nobody reads on: the run is over.
    Closed,
    /// This reader cannot go on; librdkafka takes over.
    Over,
}

impl From<io::Error> for Failed {
    fn from(_: io::Error) -> Failed {
        Failed::Over
    }
}

impl From<Stop> for Failed {
    fn from(s: Stop) -> Failed {
        match s {
            Stop::Closed => Failed::Closed,
            _ => Failed::Over,
        }
    }
}

/// A connection to one leader.
struct Conn {
    write: TcpStream,
    read: BufReader<TcpStream>,
    correlation: i32,
}

impl Conn {
    fn open(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let write = connect(addr, timeout)?;
        let read = BufReader::with_capacity(READ_BUFFER, write.try_clone()?);
        Ok(Conn {
            write,
            read,
            correlation: 0,
        })
    }

    /// Reads `parts` to their ends with up to `depth` fetches in flight,
    /// each for a different partition, advancing each one's `next`.
    fn read(
        &mut self,
        depth: usize,
        direct: Direct,
        plan: &Plan,
        parts: &mut [Part],
        tx: &mut Sink,
    ) -> Result<(), Failed> {
        let mut inflight: VecDeque<(usize, i32)> = VecDeque::new();
        let mut buf = Vec::new();
        loop {
            while inflight.len() < depth {
                let Some(i) = (0..parts.len())
                    .find(|&i| parts[i].next < parts[i].end && !inflight.iter().any(|f| f.0 == i))
                else {
                    break;
                };
                self.correlation = self.correlation.wrapping_add(1);
                let p = &parts[i];
                let request = wire::fetch_request(
                    self.correlation,
                    &plan.topic,
                    p.partition,
                    p.next,
                    FETCH_BYTES,
                    direct.read_committed,
                );
                self.write.write_all(&request)?;
                inflight.push_back((i, self.correlation));
            }
            let Some((i, asked)) = inflight.pop_front() else {
                return Ok(());
            };
            if self.read.buffer().is_empty() {
                // What is gathered goes on before the wait for the broker.
                tx.flush()?;
            }
            take(&mut self.read, asked, plan, &mut parts[i], &mut buf, tx)?;
        }
    }
}

/// Takes one answer off the connection, handing on its records.
fn take(
    conn: &mut BufReader<TcpStream>,
    asked: i32,
    plan: &Plan,
    part: &mut Part,
    buf: &mut Vec<u8>,
    tx: &mut Sink,
) -> Result<(), Failed> {
    let before = part.next;
    let (mut answer, head) = Answer::start(conn, &plan.topic, part.partition)?;
    if head.correlation != asked || head.error != 0 || head.aborted > 0 {
        return Err(Failed::Over);
    }
    while let Some(batch) = answer.batch(buf)? {
        if batch.control() {
            part.next = part.next.max(batch.next_offset().min(part.end));
            continue;
        }
        for r in batch.records(buf)? {
            if r.offset < part.next {
                continue;
            }
            if r.offset >= part.end {
                part.next = part.end;
                break;
            }
            part.next = r.offset + 1;
            if plan
                .skip
                .get(&part.partition)
                .is_some_and(|s| s.contains(&r.offset))
            {
                continue;
            }
            let timestamp = match r.timestamp {
                -1 => Timestamp::NotAvailable,
                ms if batch.log_append_time() => Timestamp::LogAppendTime(ms),
                ms => Timestamp::CreateTime(ms),
            };
            let m = envelope::from_raw(&Raw {
                topic: &plan.topic,
                partition: part.partition,
                offset: r.offset,
                timestamp,
                key: r.key,
                payload: r.value,
                headers: &r.headers,
            });
            tx.send((part.partition, r.offset, m))?;
        }
        // Offsets compaction removed from the batch's end.
        if part.next < part.end && batch.next_offset() > part.next {
            part.next = batch.next_offset().min(part.end);
        }
    }
    answer.finish()?;
    if part.next == before {
        // Nothing new (a transaction still open, or a gap this reader cannot
        // see past): librdkafka knows how to wait for it.
        return Err(Failed::Over);
    }
    Ok(())
}

fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
