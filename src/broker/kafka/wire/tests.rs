use super::*;

/// A zigzag varint.
fn varint(b: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            b.push(byte);
            return;
        }
        b.push(byte | 0x80);
    }
}

fn nullable(b: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => varint(b, -1),
        Some(v) => {
            varint(b, v.len() as i64);
            b.extend_from_slice(v);
        }
    }
}

pub type Rec<'a> = (
    i64,
    i64,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    Vec<(&'a str, Option<&'a [u8]>)>,
);

/// A v2 record batch: (timestamp delta, offset delta, key, value, headers).
pub fn batch(base: i64, attributes: i16, last_delta: i32, recs: &[Rec]) -> Vec<u8> {
    let mut body = Vec::new();
    for (ts, od, key, value, headers) in recs {
        let mut r = vec![0u8];
        varint(&mut r, *ts);
        varint(&mut r, *od);
        nullable(&mut r, *key);
        nullable(&mut r, *value);
        varint(&mut r, headers.len() as i64);
        for (k, v) in headers {
            nullable(&mut r, Some(k.as_bytes()));
            nullable(&mut r, *v);
        }
        varint(&mut body, r.len() as i64);
        body.extend_from_slice(&r);
    }
    let mut b = Vec::new();
    b.extend_from_slice(&base.to_be_bytes());
    b.extend_from_slice(&((BATCH_HEAD + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&last_delta.to_be_bytes());
    b.extend_from_slice(&1_000i64.to_be_bytes());
    b.extend_from_slice(&9_000i64.to_be_bytes());
    b.extend_from_slice(&[0; 14]);
    b.extend_from_slice(&(recs.len() as i32).to_be_bytes());
    b.extend_from_slice(&body);
    b
}

/// An answer for partition 3 of "dlq" holding `records`.
pub fn answer(error: i16, aborted: i32, records: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&7i32.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    put_str(&mut b, "dlq");
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&3i32.to_be_bytes());
    b.extend_from_slice(&error.to_be_bytes());
    b.extend_from_slice(&42i64.to_be_bytes());
    b.extend_from_slice(&42i64.to_be_bytes());
    b.extend_from_slice(&aborted.to_be_bytes());
    for _ in 0..aborted.max(0) {
        b.extend_from_slice(&[0; 16]);
    }
    b.extend_from_slice(&(records.len() as i32).to_be_bytes());
    b.extend_from_slice(records);
    let mut out = (b.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&b);
    out
}

#[test]
fn records_come_out_as_written() {
    let bin: &[u8] = &[0xff, 0];
    let mut records = batch(
        10,
        0,
        2,
        &[
            (
                0,
                0,
                Some(b"k"),
                Some(b"v0"),
                vec![("h", Some(b"x")), ("n", None)],
            ),
            (5, 2, None, None, vec![("b", Some(bin))]),
        ],
    );
    records.extend(batch(
        13,
        LOG_APPEND_TIME,
        0,
        &[(3, 0, None, Some(b""), vec![])],
    ));
    let bytes = answer(0, 0, &records);
    let mut conn = &bytes[..];
    let (mut a, head) = Answer::start(&mut conn, "dlq", 3).unwrap();
    assert_eq!(
        head,
        Head {
            correlation: 7,
            error: 0,
            high_watermark: 42,
            aborted: 0
        }
    );
    let mut buf = Vec::new();
    let b = a.batch(&mut buf).unwrap().unwrap();
    assert_eq!(b.next_offset(), 13);
    let got = b.records(&buf).unwrap();
    assert_eq!(
        got,
        vec![
            Record {
                offset: 10,
                timestamp: 1_000,
                key: Some(b"k"),
                value: Some(b"v0"),
                headers: vec![("h", Some(&b"x"[..])), ("n", None)],
            },
            Record {
                offset: 12,
                timestamp: 1_005,
                key: None,
                value: None,
                headers: vec![("b", Some(bin))]
            },
        ]
    );
    let b = a.batch(&mut buf).unwrap().unwrap();
    let got = b.records(&buf).unwrap();
    // Log append time: the batch's time for every record.
    assert_eq!(
        (got[0].offset, got[0].timestamp, got[0].value),
        (13, 9_000, Some(&b""[..]))
    );
    assert!(a.batch(&mut buf).unwrap().is_none());
    a.finish().unwrap();
    assert!(conn.is_empty(), "the whole answer is read");
}

#[test]
fn a_batch_cut_short_at_the_end_is_dropped_and_the_answer_still_read() {
    let mut records = batch(0, 0, 0, &[(0, 0, None, Some(b"a"), vec![])]);
    let second = batch(1, 0, 0, &[(0, 0, None, Some(b"b"), vec![])]);
    records.extend_from_slice(&second[..second.len() - 3]);
    let mut bytes = answer(0, 0, &records);
    bytes.extend_from_slice(b"next");
    let mut conn = &bytes[..];
    let (mut a, _) = Answer::start(&mut conn, "dlq", 3).unwrap();
    let mut buf = Vec::new();
    assert!(a.batch(&mut buf).unwrap().is_some());
    assert!(a.batch(&mut buf).unwrap().is_none());
    a.finish().unwrap();
    assert_eq!(conn, b"next");
}

#[test]
fn what_is_not_taken_apart_is_an_error() {
    let compressed = batch(0, 1, 0, &[(0, 0, None, Some(b"a"), vec![])]);
    let bytes = answer(0, 0, &compressed);
    let (mut a, _) = Answer::start(&bytes[..], "dlq", 3).unwrap();
    let mut buf = Vec::new();
    let b = a.batch(&mut buf).unwrap().unwrap();
    assert!(b
        .records(&buf)
        .unwrap_err()
        .to_string()
        .contains("compressed"));

    let mut legacy = batch(0, 0, 0, &[(0, 0, None, Some(b"a"), vec![])]);
    legacy[16] = 1;
    let bytes = answer(0, 0, &legacy);
    let (mut a, _) = Answer::start(&bytes[..], "dlq", 3).unwrap();
    assert!(a
        .batch(&mut buf)
        .unwrap_err()
        .to_string()
        .contains("magic 1"));

    let bytes = answer(0, 0, &[]);
    assert!(
        Answer::start(&bytes[..], "dlq", 4).is_err(),
        "another partition"
    );
    assert!(Answer::start(&bytes[..8], "dlq", 3).is_err(), "cut short");
    let (_, head) = Answer::start(&bytes[..], "dlq", 3).unwrap();
    assert_eq!(head.error, 0);
    let (_, head) = Answer::start(&answer(1, 2, &[])[..], "dlq", 3).unwrap();
    assert_eq!((head.error, head.aborted), (1, 2));
}

#[test]
fn a_record_that_overruns_its_batch_is_an_error() {
    let mut b = batch(0, 0, 0, &[(0, 0, None, Some(b"abc"), vec![])]);
    let n = b.len();
    b[n - 5] = 40; // the value's length, past the batch
    let bytes = answer(0, 0, &b);
    let (mut a, _) = Answer::start(&bytes[..], "dlq", 3).unwrap();
    let mut buf = Vec::new();
    let batch = a.batch(&mut buf).unwrap().unwrap();
    assert!(batch.records(&buf).is_err());
}

#[test]
fn varints_decode_zigzag() {
    for v in [
        0i64,
        1,
        -1,
        63,
        -64,
        64,
        300,
        -300,
        i64::from(i32::MAX),
        i64::MIN,
        i64::MAX,
    ] {
        let mut b = Vec::new();
        varint(&mut b, v);
        let mut c = Cursor { b: &b, at: 0 };
        assert_eq!(c.varint().unwrap(), v);
        assert_eq!(c.at, b.len());
    }
}

#[test]
fn the_request_is_framed() {
    let r = fetch_request(9, "dlq", 3, 77, 1 << 20, true);
    assert_eq!(
        i32::from_be_bytes(r[..4].try_into().unwrap()) as usize,
        r.len() - 4
    );
    assert_eq!(&r[4..8], &[0, 1, 0, 4], "Fetch v4");
    assert_eq!(&r[8..12], &9i32.to_be_bytes());
    assert_eq!(&r[r.len() - 16..r.len() - 12], &3i32.to_be_bytes());
    assert_eq!(&r[r.len() - 12..r.len() - 4], &77i64.to_be_bytes());
}
