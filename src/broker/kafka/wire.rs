//! The two Kafka protocol messages the streaming read speaks (see
//! `stream`): a Fetch request (version 4) for one partition, and its answer,
//! taken off the connection a piece at a time, one record batch in memory.
//!
//! Version 4 is the oldest Fetch that carries record batches (magic 2) and
//! the isolation level, and Kafka 4 still serves it; its framing is fixed
//! width, so the answer can be read in order without holding it. Anything
//! this reader does not take apart (a compressed or legacy batch, a header
//! name that is not UTF-8) is an error here: the caller hands the partition
//! to librdkafka at the offset it got to.

use std::io::{self, Read};

/// Fetch, and the version spoken.
const FETCH: i16 = 1;
const FETCH_VERSION: i16 = 4;
/// Bytes of a v2 batch header after its base offset and length.
const BATCH_HEAD: usize = 49;
/// The largest record batch taken into memory (Kafka's default
/// `message.max.bytes` is 1 MiB; a bigger batch goes to librdkafka).
pub const MAX_BATCH: usize = 64 << 20;

/// The bytes of a Fetch request for `partition` of `topic` from `offset`,
/// length prefix included.
pub fn fetch_request(
    correlation: i32,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
    read_committed: bool,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(64 + topic.len());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&FETCH.to_be_bytes());
    b.extend_from_slice(&FETCH_VERSION.to_be_bytes());
    b.extend_from_slice(&correlation.to_be_bytes());
    put_str(&mut b, "dlq");
    b.extend_from_slice(&(-1i32).to_be_bytes()); // replica: a consumer
    b.extend_from_slice(&10i32.to_be_bytes()); // max wait (ms): the data is there
    b.extend_from_slice(&1i32.to_be_bytes()); // min bytes
    b.extend_from_slice(&max_bytes.to_be_bytes());
    b.push(u8::from(read_committed));
    b.extend_from_slice(&1i32.to_be_bytes());
    put_str(&mut b, topic);
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&partition.to_be_bytes());
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&max_bytes.to_be_bytes());
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as i16).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

pub fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// One answer being read: what is left of it on the connection.
pub struct Answer<R> {
    r: R,
    left: u64,
    /// Bytes of record batches left in the partition's records.
    records: u64,
}

/// The partition's part of an answer, before its records.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub correlation: i32,
    pub error: i16,
    pub high_watermark: i64,
    pub aborted: i32,
}

impl<R: Read> Answer<R> {
    /// Reads an answer's head up to its records, which must be for the
    /// one `partition` of `topic` asked for.
    pub fn start(mut r: R, topic: &str, partition: i32) -> io::Result<(Answer<R>, Head)> {
        let size = i32::from_be_bytes(take(&mut r)?);
        if size < 0 {
            return Err(bad("negative answer size"));
        }
        let mut a = Answer {
            r,
            left: size as u64,
            records: 0,
        };
        let correlation = a.i32()?;
        let _throttle = a.i32()?;
        if a.i32()? != 1 {
            return Err(bad("an answer for other than one topic"));
        }
        let name_len = a.i16()?;
        let name = a.bytes(name_len.max(0) as usize)?;
        if name != topic.as_bytes() || a.i32()? != 1 || a.i32()? != partition {
            return Err(bad("an answer for another partition"));
        }
        let error = a.i16()?;
        let high_watermark = a.i64()?;
        let _stable = a.i64()?;
        let aborted = a.i32()?;
        for _ in 0..aborted.max(0) {
            a.bytes(16)?;
        }
        let records = a.i32()?;
        a.records = records.max(0) as u64;
        if a.records > a.left {
            return Err(bad("records longer than the answer"));
        }
        let head = Head {
            correlation,
            error,
            high_watermark,
            aborted,
        };
        Ok((a, head))
    }

    /// The next whole record batch into `buf` (its records), or None when
    /// the records are done (a batch cut short at the end is dropped, as
    /// every consumer does).
    pub fn batch(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Batch>> {
        if self.records < 12 {
            return Ok(None);
        }
        self.records -= 12;
        let base_offset = self.i64()?;
        let len = self.i32()?;
        if len < 0 || len as u64 > self.records {
            return Ok(None);
        }
        self.records -= len as u64;
        let len = len as usize;
        if len < BATCH_HEAD {
            return Err(bad("a record batch shorter than its header"));
        }
        if len > MAX_BATCH {
            return Err(bad("a record batch over 64 MiB"));
        }
        let _leader_epoch = self.i32()?;
        let magic = self.i8()?;
        if magic != 2 {
            return Err(bad(format!("a message set of magic {magic}")));
        }
        let _crc = self.i32()?;
        let attributes = self.i16()?;
        let last_offset_delta = self.i32()?;
        let base_timestamp = self.i64()?;
        let max_timestamp = self.i64()?;
        self.bytes(14)?; // producer id, epoch, base sequence
        let count = self.i32()?;
        buf.clear();
        buf.resize(len - BATCH_HEAD, 0);
        self.fill(buf)?;
        Ok(Some(Batch {
            base_offset,
            attributes,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            count,
        }))
    }

    /// Reads and drops the rest of the answer, so that the connection is
    /// at the next one.
    pub fn finish(mut self) -> io::Result<()> {
        let n = io::copy(&mut (&mut self.r).take(self.left), &mut io::sink())?;
        if n != self.left {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if buf.len() as u64 > self.left {
            return Err(bad("a field past the end of the answer"));
        }
        self.r.read_exact(buf)?;
        self.left -= buf.len() as u64;
        Ok(())
    }

    fn bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0; n];
        self.fill(&mut v)?;
        Ok(v)
    }

    fn i8(&mut self) -> io::Result<i8> {
        let mut b = [0; 1];
        self.fill(&mut b)?;
        Ok(b[0] as i8)
    }

    fn i16(&mut self) -> io::Result<i16> {
        let mut b = [0; 2];
        self.fill(&mut b)?;
        Ok(i16::from_be_bytes(b))
    }

    fn i32(&mut self) -> io::Result<i32> {
        let mut b = [0; 4];
        self.fill(&mut b)?;
        Ok(i32::from_be_bytes(b))
    }

    fn i64(&mut self) -> io::Result<i64> {
        let mut b = [0; 8];
        self.fill(&mut b)?;
        Ok(i64::from_be_bytes(b))
    }
}

fn take<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// A record batch's header; its records are in the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub base_offset: i64,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
}

/// The batch's timestamps are the log's append times, not the producer's.
const LOG_APPEND_TIME: i16 = 0x08;
/// A transaction's marker, never delivered.
const CONTROL: i16 = 0x20;
const COMPRESSION: i16 = 0x07;

impl Batch {
    /// The offset after the batch's last, whatever records compaction left.
    pub fn next_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta) + 1
    }

    pub fn control(&self) -> bool {
        self.attributes & CONTROL != 0
    }

    pub fn log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME != 0
    }

    /// Its records, from the buffer [`Answer::batch`] filled.
    pub fn records<'a>(&self, buf: &'a [u8]) -> io::Result<Vec<Record<'a>>> {
        if self.attributes & COMPRESSION != 0 {
            return Err(bad("a compressed record batch"));
        }
        let mut c = Cursor { b: buf, at: 0 };
        let mut out = Vec::with_capacity(self.count.max(0) as usize);
        for _ in 0..self.count.max(0) {
            let len = c.varint()?;
            let end = c.at + usize::try_from(len).map_err(|_| bad("a negative record length"))?;
            if end > buf.len() {
                return Err(bad("a record past its batch"));
            }
            c.skip(1)?; // attributes
            let ts_delta = c.varint()?;
            let offset_delta = c.varint()?;
            let key = c.nullable()?;
            let value = c.nullable()?;
            let n = c.varint()?;
            let mut headers = Vec::with_capacity(n.clamp(0, 64) as usize);
            for _ in 0..n.max(0) {
                let name = c.nullable()?.unwrap_or_default();
                let name =
                    std::str::from_utf8(name).map_err(|_| bad("a header name not in UTF-8"))?;
                headers.push((name, c.nullable()?));
            }
            if c.at != end {
                return Err(bad("a record whose length does not match"));
            }
            out.push(Record {
                offset: self.base_offset + offset_delta,
                timestamp: if self.log_append_time() {
                    self.max_timestamp
                } else {
                    self.base_timestamp + ts_delta
                },
                key,
                value,
                headers,
            });
        }
        Ok(out)
    }
}

/// One record of a batch, borrowing the batch's bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| bad("a record past its batch"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    /// A zigzag varint, as record fields are written.
    fn varint(&mut self) -> io::Result<i64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.skip(1)?[0];
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
            }
        }
        Err(bad("a varint over 64 bits"))
    }

    /// Bytes with a varint length, -1 for none.
    fn nullable(&mut self) -> io::Result<Option<&'a [u8]>> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < 0 => Err(bad("a negative length")),
            n => self.skip(n as usize).map(Some),
        }
    }
}

#[cfg(test)]
pub mod tests;
