//! Reading offset ranges straight from each partition's leader, over the
//! plain TCP connection Kafka speaks without TLS or SASL, taking each answer
//! off the socket one record batch at a time.
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
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::Timestamp;
use rdkafka::metadata::Metadata;

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
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    // The leaders the plan brought (from metadata already asked), else asked now.
    let asked;
    let leaders = if ranges.iter().all(|r| plan.leaders.contains_key(&r.0)) {
        &plan.leaders
    } else {
        let Ok(l) = leaders(consumer, &plan.topic, plan.stall) else {
            return Ok(ranges.to_vec());
        };
        asked = l;
        &asked
    };
    if ranges.iter().any(|r| !leaders.contains_key(&r.0)) {
        return Ok(ranges.to_vec());
    }
    // A bulk read takes all of a leader's partitions at once; others keep the order.
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
    Ok(leaders_in(&md, topic))
}

/// The leader's address of each partition of `topic` in `md` (none for a
/// topic it does not list).
pub fn leaders_in(md: &Metadata, topic: &str) -> HashMap<i32, String> {
    let brokers: HashMap<i32, String> = md
        .brokers()
        .iter()
        .map(|b| match b.host().contains(':') {
            true => (b.id(), format!("[{}]:{}", b.host(), b.port())),
            false => (b.id(), format!("{}:{}", b.host(), b.port())),
        })
        .collect();
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return HashMap::new();
    };
    t.partitions()
        .iter()
        .filter_map(|p| Some((p.id(), brokers.get(&p.leader())?.clone())))
        .collect()
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
    conn: &mut impl Read,
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
        // Nothing new (an open transaction, say): librdkafka knows how to wait.
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tokio::sync::mpsc;

    use super::*;
    use crate::broker::kafka::wire::tests::{answer, batch, Rec};

    /// Takes `bytes` as one answer to fetch 7 of partition 3 of `dlq`; the
    /// offsets handed on, and how it ended.
    fn taken(bytes: &[u8], part: &mut Part, skip: &[i64]) -> (Vec<i64>, Result<(), Failed>) {
        let mut plan = Plan {
            topic: "dlq".into(),
            ..Default::default()
        };
        plan.skip
            .insert(3, skip.iter().copied().collect::<BTreeSet<i64>>());
        let (tx, mut rx) = mpsc::channel(16);
        let mut sink = Sink {
            tx,
            batch: Vec::new(),
            bytes: 0,
        };
        let ended = take(&mut &bytes[..], 7, &plan, part, &mut Vec::new(), &mut sink);
        let _ = sink.flush();
        drop(sink);
        let mut got = Vec::new();
        while let Ok(Ok(batch)) = rx.try_recv() {
            got.extend(batch.into_iter().map(|(p, o, m)| {
                assert_eq!((p, m.id.clone()), (3, format!("3:{o}")));
                o
            }));
        }
        (got, ended)
    }

    fn one(value: &'static [u8]) -> Rec<'static> {
        (0, 0, None, Some(value), vec![])
    }

    #[test]
    fn hands_on_the_range_without_markers_skipped_offsets_or_what_is_past_the_end() {
        let mut records = batch(
            0,
            0,
            2,
            &[
                one(b"0"),
                (0, 1, None, Some(b"1"), vec![]),
                (0, 2, None, Some(b"2"), vec![]),
            ],
        );
        // A transaction's commit marker takes offset 3.
        records.extend(batch(3, 0x30, 0, &[one(b"")]));
        records.extend(batch(
            4,
            0,
            2,
            &[
                one(b"4"),
                (0, 1, None, Some(b"5"), vec![]),
                (0, 2, None, Some(b"6"), vec![]),
            ],
        ));
        let mut part = Part {
            partition: 3,
            next: 1,
            end: 6,
        };
        let (got, ended) = taken(&answer(0, 0, &records), &mut part, &[4]);
        assert!(ended.is_ok());
        assert_eq!(got, [1, 2, 5], "from next, without the marker, 4 or 6");
        assert_eq!(part.next, 6);
    }

    #[test]
    fn goes_past_offsets_compaction_removed() {
        // Records at 10 and 11 of a batch that ran to 14.
        let records = batch(10, 0, 4, &[one(b"a"), (0, 1, None, Some(b"b"), vec![])]);
        let mut part = Part {
            partition: 3,
            next: 10,
            end: 20,
        };
        let (got, ended) = taken(&answer(0, 0, &records), &mut part, &[]);
        assert!(ended.is_ok());
        assert_eq!((got, part.next), (vec![10, 11], 15));
    }

    #[test]
    fn leaves_to_librdkafka_what_it_does_not_read() {
        let records = batch(0, 0, 0, &[one(b"a")]);
        for (bytes, why) in [
            (answer(6, 0, &records), "an error code"),
            (answer(0, 1, &records), "aborted transactions"),
            (answer(0, 0, &[]), "nothing new"),
            (
                answer(0, 0, &batch(0, 4, 0, &[one(b"a")])),
                "a compressed batch",
            ),
        ] {
            let mut part = Part {
                partition: 3,
                next: 0,
                end: 5,
            };
            let (got, ended) = taken(&bytes, &mut part, &[]);
            assert!(matches!(ended, Err(Failed::Over)), "{why}");
            assert!(got.is_empty(), "{why}");
            assert_eq!(part.next, 0, "{why}: handed back where it was");
        }
    }
}
