//! The mirror's state file, `mirror.bin`: [`optout_matcher::state`] (the format the server's
//! matcher snapshot uses too) with faces as raw f32, so a reloaded mirror answers bit for bit
//! like the one that was saved. This module only converts between wire entries and that format.

use optout_matcher::Kind;
use optout_matcher::hex::{parse_hex32, to_hex32};
use optout_matcher::state::{Header, Item, StateWriter, Value, decode_slice};
use optout_matcher::wire::{WireEntry, WireState, WireValue};

/// The decoded file: position and active entries (ascending ids).
pub(crate) struct StateFile {
    pub position: u64,
    pub entries: Vec<WireEntry>,
}

/// Encodes the state. Entries must be valid (they were checked when applied): a value of the
/// wrong shape for its kind is an error rather than a silently different file.
pub(crate) fn encode<'a>(
    position: u64,
    entries: impl ExactSizeIterator<Item = &'a WireEntry>,
) -> Result<Vec<u8>, String> {
    let entries: Vec<&WireEntry> = entries.collect();
    let mut capacity = [0u64; 4];
    for e in &entries {
        let slot = match e.kind {
            Kind::Url => 0,
            Kind::Sha256 => 1,
            Kind::Pdq => 2,
            Kind::Face => 3,
        };
        capacity[slot] += 1;
    }
    let out = Vec::with_capacity(128 + entries.len() * 64);
    let mut w =
        StateWriter::new(out, &Header::new(position, None, capacity)).map_err(|e| e.to_string())?;
    for e in entries {
        let hash;
        let value = match (e.kind, &e.value) {
            (Kind::Url, WireValue::Text(t)) => Value::Url(t),
            (Kind::Sha256 | Kind::Pdq, WireValue::Text(t)) => {
                hash = parse_hex32(t).map_err(|err| format!("entry {}: {err}", e.id))?;
                if e.kind == Kind::Sha256 {
                    Value::Sha256(&hash)
                } else {
                    Value::Pdq(&hash)
                }
            }
            (Kind::Face, WireValue::Vector(v)) => Value::Face(v),
            _ => {
                return Err(format!(
                    "entry {}: value does not fit kind {:?}",
                    e.id, e.kind
                ));
            }
        };
        w.write(&Item {
            id: e.id,
            position: e.position,
            value,
        })
        .map_err(|err| format!("entry {}: {err}", e.id))?;
    }
    let (out, _) = w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes and checks a state file (magic, version, checksum, structure, id order). The values
/// are checked by the caller when it indexes them.
pub(crate) fn decode(buf: &[u8]) -> Result<StateFile, String> {
    let mut r = decode_slice(buf).map_err(|e| e.to_string())?;
    let position = r.header().position;
    let mut entries = Vec::new();
    while let Some(item) = r.next().map_err(|e| e.to_string())? {
        let (kind, value) = match item.value {
            Value::Url(u) => (Kind::Url, WireValue::Text(u.to_owned())),
            Value::Sha256(h) => (Kind::Sha256, WireValue::Text(to_hex32(h))),
            Value::Pdq(h) => (Kind::Pdq, WireValue::Text(to_hex32(h))),
            Value::Face(v) => (Kind::Face, WireValue::Vector(v.to_vec())),
            Value::FaceRecord(_) => {
                return Err(format!(
                    "entry {}: a server snapshot's face record, not a mirror's face",
                    item.id
                ));
            }
        };
        entries.push(WireEntry {
            id: item.id,
            position: item.position,
            state: WireState::Active,
            kind,
            value,
        });
    }
    r.finish().map_err(|e| e.to_string())?;
    Ok(StateFile { position, entries })
}
