//! Log record models: CloudTrail records, AWS Config configuration items, ALB log lines,
//! CloudWatch Logs subscription records and metric-stream records.
//!
//! Parsing borrows from the decompressed buffer wherever it can and keeps nested payloads
//! (`requestParameters`, `configuration`, …) as raw JSON, so a query pays only for the
//! fields it reads. Every reader is tolerant: a field of an unexpected type becomes text,
//! a bad record is counted, a bad file is reported with its reason — never a panic.

pub mod alb;
pub mod cloudtrail;
pub mod config;
pub mod logs;
pub mod metrics;

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A scalar read as text whatever its JSON type (string, number, boolean); `null` is `None`
/// through `Option<Text>`. Objects and arrays are kept as their raw JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v: serde_json::Value = Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v: serde_json::Value = Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why an object could not be read. The engine reports these with the object's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem(pub String);

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Gzip objects larger than this (decompressed) are streamed instead of inflated at once.
const MAX_INFLATE_AT_ONCE: usize = 512 * 1024 * 1024;

/// Returns the object's content, decompressed when it is gzip (by magic bytes, whatever its
/// name). See [`inflate`].
pub fn decompress(bytes: &[u8]) -> Result<Cow<'_, [u8]>, FileProblem> {
    let mut out = Vec::new();
    Ok(match inflate(bytes, &mut out, &mut libdeflater::Decompressor::new())? {
        Some(n) => {
            out.truncate(n);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(bytes),
    })
}

/// Decompresses `bytes` into `out` when they are gzip (by magic bytes): the text is then
/// `out[..n]` for the `Some(n)` returned, or `None` (and `out` untouched) when they are not.
/// `out` keeps its length between calls (past `n` it holds an earlier text), so a buffer
/// reused for many objects is not zeroed again for each one. Uses libdeflate for
/// single-member files whose size the trailer states, and a streaming decoder otherwise
/// (multi-member or very large files).
/// A scan passes the same `out` and `decoder` for every object it reads.
pub fn inflate(
    bytes: &[u8],
    out: &mut Vec<u8>,
    decoder: &mut libdeflater::Decompressor,
) -> Result<Option<usize>, FileProblem> {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Ok(None);
    }
    if bytes.len() < 18 {
        return Err(FileProblem("truncated gzip (shorter than a gzip header and trailer)".into()));
    }
    let isize_ = u32::from_le_bytes([
        bytes[bytes.len() - 4],
        bytes[bytes.len() - 3],
        bytes[bytes.len() - 2],
        bytes[bytes.len() - 1],
    ]) as usize;
    if isize_ <= MAX_INFLATE_AT_ONCE {
        if out.len() < isize_ {
            out.resize(isize_, 0);
        }
        if let Ok(n) = decoder.gzip_decompress(bytes, &mut out[..isize_]) {
            if n == isize_ {
                return Ok(Some(n));
            }
        }
    }
    // Multi-member, a lying trailer, or huge: stream it, and say what is wrong if it fails.
    out.clear();
    let mut dec = flate2::read::MultiGzDecoder::new(bytes);
    match dec.read_to_end(out) {
        Ok(n) => Ok(Some(n)),
        Err(e) => Err(FileProblem(format!("corrupt gzip: {e}"))),
    }
}

#[cfg(test)]
mod tests;
