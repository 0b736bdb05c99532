//! The Confluent wire format: a zero byte, the schema ID as 4 bytes
//! big-endian, for Protobuf the message-index list, then the payload.
//!
//! The message-index list says which message type of the schema's file the
//! payload is: a zigzag varint count, then that many zigzag varint indexes
//! (top-level message, then nested ones). The common case `[0]` is written
//! as the single byte 0. This module only splits and joins bytes; it knows
//! no schema.

/// The magic byte that starts a framed body.
pub const MAGIC: u8 = 0;

/// A framed body split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'b> {
    pub schema_id: u32,
    /// Everything after the schema ID (for Protobuf, the index list first).
    pub rest: &'b [u8],
}

/// The framing of `body`, when it has one: the magic byte and a schema ID.
pub fn split(body: &[u8]) -> Option<Frame<'_>> {
    if body.len() < 5 || body[0] != MAGIC {
        return None;
    }
    let schema_id = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
    Some(Frame {
        schema_id,
        rest: &body[5..],
    })
}

/// Reads the Protobuf message-index list from the front of `rest`; returns
/// the indexes and the payload after them.
pub fn message_indexes(rest: &[u8]) -> Result<(Vec<usize>, &[u8]), String> {
    let mut at = 0;
    let count = zigzag(read_varint(rest, &mut at)?);
    if !(0..=10_000).contains(&count) {
        return Err(format!("bad message-index count {count} in the framing"));
    }
    if count == 0 {
        return Ok((vec![0], &rest[at..]));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let i = zigzag(read_varint(rest, &mut at)?);
        if i < 0 {
            return Err(format!("bad message index {i} in the framing"));
        }
        out.push(i as usize);
    }
    Ok((out, &rest[at..]))
}

/// The framing for `schema_id` (and, for Protobuf, `indexes`), ready for a payload.
pub fn header(schema_id: u32, indexes: Option<&[usize]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
    if let Some(ix) = indexes {
        if ix == [0] {
            out.push(0);
        } else {
            write_varint(&mut out, unzigzag(ix.len() as i64));
            for &i in ix {
                write_varint(&mut out, unzigzag(i as i64));
            }
        }
    }
    out
}

fn read_varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some(&b) = buf.get(*at) else {
            return Err("the framing ends inside its message-index list".into());
        };
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a varint of the message-index list is too long".into())
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn unzigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_frame() {
        let f = split(&[0, 0, 0, 1, 2, 9, 9]).unwrap();
        assert_eq!(f.schema_id, 258);
        assert_eq!(f.rest, &[9, 9]);
        assert_eq!(split(&[0, 0, 0, 1]), None);
        assert_eq!(split(&[1, 0, 0, 0, 1]), None);
        assert_eq!(split(b"{\"a\":1}"), None);
    }

    #[test]
    fn message_indexes_round_trip() {
        for ix in [vec![0], vec![1], vec![0, 0], vec![3, 1, 200]] {
            let h = header(7, Some(&ix));
            let f = split(&h).unwrap();
            let (got, rest) = message_indexes(f.rest).unwrap();
            assert_eq!(got, ix);
            assert!(rest.is_empty());
        }
        // [0] is the single byte 0, as Confluent's serializers write it.
        assert_eq!(header(8, Some(&[0])), vec![0, 0, 0, 0, 8, 0]);
        // [0, 0]: count 2 and two zeros, zigzag.
        assert_eq!(header(8, Some(&[0, 0])), vec![0, 0, 0, 0, 8, 4, 0, 0]);
        assert!(message_indexes(&[4, 0]).is_err());
        assert!(message_indexes(&[3]).is_err());
        assert_eq!(header(9, None), vec![0, 0, 0, 0, 9]);
    }
}
