//! The address a Kafka broker hands out, rewritten in its answers.
//!
//! Kafka clients connect to the hosts a broker advertises (Metadata and
//! FindCoordinator answers), not to the one they were given. A relay or a
//! delay line in front of a broker only stays in the path when those answers
//! name it instead: [`Rewrite`] cuts a byte stream into whole Kafka frames
//! and replaces the broker's host and port with the relay's. Shared by the
//! test relay (`relay.rs`) and the benchmark's delay line
//! (`examples/delayline.rs`).
#![allow(dead_code)]

use std::net::SocketAddr;

/// The encodings of one broker address in Kafka answers and what replaces
/// them: a host string (int16 length, or compact unsigned-varint length + 1)
/// followed by an int32 port, as in Metadata and FindCoordinator.
#[derive(Clone)]
pub struct Rewrite {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Rewrite {
    pub fn new(from: SocketAddr, to: SocketAddr) -> Rewrite {
        let enc = |a: SocketAddr, compact: bool| {
            let host = a.ip().to_string();
            let mut v = Vec::new();
            if compact {
                // Loopback hosts are shorter than 127 bytes: a one-byte varint.
                v.push(host.len() as u8 + 1);
            } else {
                v.extend_from_slice(&(host.len() as u16).to_be_bytes());
            }
            v.extend_from_slice(host.as_bytes());
            v.extend_from_slice(&i32::from(a.port()).to_be_bytes());
            v
        };
        Rewrite {
            pairs: [false, true]
                .into_iter()
                .map(|c| (enc(from, c), enc(to, c)))
                .collect(),
        }
    }

    /// Takes the whole frames off the front of `pending`, rewritten, each
    /// with its size prefix fixed up.
    pub fn frames(&self, pending: &mut Vec<u8>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while pending.len() - at >= 4 {
            let size = i32::from_be_bytes(pending[at..at + 4].try_into().unwrap()).max(0) as usize;
            if pending.len() - at - 4 < size {
                break;
            }
            let mut body = pending[at + 4..at + 4 + size].to_vec();
            for (from, to) in &self.pairs {
                body = replace(&body, from, to);
            }
            let mut frame = (body.len() as i32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            out.push(frame);
            at += 4 + size;
        }
        pending.drain(..at);
        out
    }
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while let Some(p) = hay[i..].iter().position(|&b| b == from[0]) {
        out.extend_from_slice(&hay[i..i + p]);
        i += p;
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&hay[i..]);
    out
}
