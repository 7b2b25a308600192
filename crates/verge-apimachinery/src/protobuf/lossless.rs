//! Detection of protobuf fields that prost skipped while decoding.
//!
//! prost silently ignores fields whose numbers its generated types do not
//! know, for example fields added to Kubernetes after the k8s-pb release we
//! build against. To notice them we re-encode the decoded message and compare
//! the result with the bytes we received, field by field:
//!
//! * Fields are grouped by number; within a number they are compared in
//!   order after byte-identical occurrences have been paired up, so the
//!   comparison does not depend on field order (prost writes fields in
//!   declaration order, Go in tag order).
//! * Length-delimited values that differ are compared recursively as nested
//!   messages. Strings and bytes are copied verbatim by prost, so a
//!   difference can only come from a nested message.
//! * A field present in the input but missing from the re-encoding is an
//!   unknown field, unless its value is empty (a zero-length string, bytes or
//!   message, or a zero varint): prost leaves default keys and values out of
//!   map entries, and an empty value carries no data either way.
//!
//! Anything else that does not line up is reported with the path of field
//! numbers leading to it.

use std::collections::{BTreeMap, HashMap};

/// A field mismatch: the field numbers from the outermost message inwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mismatch {
    pub(super) tags: Vec<u32>,
}

impl Mismatch {
    pub(super) fn path(&self) -> String {
        self.tags
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Checks that `reencoded` (prost's encoding of what it decoded from
/// `original`) carries every non-empty field of `original`.
pub(super) fn check(original: &[u8], reencoded: &[u8]) -> Result<(), Mismatch> {
    compare(original, reencoded, 0).map_err(|mut tags| {
        tags.reverse();
        Mismatch { tags }
    })
}

/// Deeper nesting than this is reported as a mismatch instead of recursing.
const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl Value<'_> {
    fn is_empty(&self) -> bool {
        match *self {
            Value::Varint(v) | Value::Fixed64(v) => v == 0,
            Value::Fixed32(v) => v == 0,
            Value::Bytes(b) => b.is_empty(),
        }
    }
}

/// Returns the innermost-first list of field numbers leading to a mismatch.
fn compare(original: &[u8], reencoded: &[u8], depth: usize) -> Result<(), Vec<u32>> {
    if original == reencoded {
        return Ok(());
    }
    if depth > MAX_DEPTH {
        return Err(Vec::new());
    }
    let (Some(original), Some(reencoded)) = (fields(original), fields(reencoded)) else {
        return Err(Vec::new());
    };
    for (tag, values) in &original {
        let others = reencoded.get(tag).map(Vec::as_slice).unwrap_or_default();
        compare_field(values, others, depth).map_err(|mut path| {
            path.push(*tag);
            path
        })?;
    }
    Ok(())
}

fn compare_field(
    original: &[Value<'_>],
    reencoded: &[Value<'_>],
    depth: usize,
) -> Result<(), Vec<u32>> {
    // Pair up byte-identical occurrences first (map entries and repeated
    // elements whose order differs), then compare the rest in order.
    let mut unmatched: HashMap<Value<'_>, usize> = HashMap::new();
    for value in reencoded {
        *unmatched.entry(*value).or_default() += 1;
    }
    let mut left = Vec::new();
    for value in original {
        match unmatched.get_mut(value) {
            Some(count) if *count > 0 => *count -= 1,
            _ => left.push(*value),
        }
    }
    let right: Vec<Value<'_>> = reencoded
        .iter()
        .filter(|value| match unmatched.get_mut(*value) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        })
        .copied()
        .collect();
    let mut right = right.into_iter();
    for value in left {
        match (value, right.next()) {
            (Value::Bytes(a), Some(Value::Bytes(b))) => compare(a, b, depth + 1)?,
            (value, None) if value.is_empty() => {}
            _ => return Err(Vec::new()),
        }
    }
    Ok(())
}

/// Splits a message into its fields grouped by number, or `None` when the
/// bytes are not a well-formed message (groups are not supported).
fn fields(mut buf: &[u8]) -> Option<BTreeMap<u32, Vec<Value<'_>>>> {
    let mut out: BTreeMap<u32, Vec<Value<'_>>> = BTreeMap::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let tag = u32::try_from(key >> 3).ok().filter(|t| *t != 0)?;
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut buf)?),
            1 => {
                let (bytes, rest) = buf.split_first_chunk::<8>()?;
                buf = rest;
                Value::Fixed64(u64::from_le_bytes(*bytes))
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let (bytes, rest) = buf.split_at_checked(len)?;
                buf = rest;
                Value::Bytes(bytes)
            }
            5 => {
                let (bytes, rest) = buf.split_first_chunk::<4>()?;
                buf = rest;
                Value::Fixed32(u32::from_le_bytes(*bytes))
            }
            _ => return None,
        };
        out.entry(tag).or_default().push(value);
    }
    Some(out)
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_and_reordered() {
        assert_eq!(check(b"", b""), Ok(()));
        // field 1 = "a", field 2 = varint 5, in either order
        assert_eq!(
            check(&[0x0a, 1, b'a', 0x10, 5], &[0x10, 5, 0x0a, 1, b'a']),
            Ok(())
        );
    }

    #[test]
    fn dropped_field_is_reported() {
        // field 3 (varint 1) unknown to the decoder
        let err = check(&[0x0a, 1, b'a', 0x18, 1], &[0x0a, 1, b'a']);
        assert_eq!(err, Err(Mismatch { tags: vec![3] }));
    }

    #[test]
    fn dropped_empty_field_is_fine() {
        // map entry {key: "a", value: ""}; prost omits the empty value
        let original = [0x0a, 5, 0x0a, 1, b'a', 0x12, 0];
        let reencoded = [0x0a, 3, 0x0a, 1, b'a'];
        assert_eq!(check(&original, &reencoded), Ok(()));
    }

    #[test]
    fn nested_unknown_field_path() {
        // field 2 { field 1 = "x", field 9 = 1 }
        let original = [0x12, 5, 0x0a, 1, b'x', 0x48, 1];
        let reencoded = [0x12, 3, 0x0a, 1, b'x'];
        assert_eq!(
            check(&original, &reencoded),
            Err(Mismatch { tags: vec![2, 9] })
        );
    }

    #[test]
    fn malformed_is_a_mismatch() {
        assert!(check(&[0x0a, 9, 1], &[]).is_err());
        assert!(check(&[0xff; 12], &[]).is_err());
    }
}
