//! The mirror's state file: a compact binary copy of the active entries and the position.
//!
//! ```text
//! magic    14 bytes  "optout-mirror\0"
//! version  u16       1
//! position u64       every change up to here is applied
//! count    u64       number of entries that follow, by ascending id
//! entry*   id u64, position u64, kind u8, value:
//!            url (0)    : len u32 + UTF-8 bytes (the normalised URL)
//!            sha256 (1) : 32 bytes
//!            pdq (2)    : 32 bytes
//!            face (3)   : n u32 + n f32
//! sha256   32 bytes  SHA-256 of everything before it
//! ```
//! Integers and floats are little-endian. Floats are stored bit for bit, so a reloaded mirror
//! answers exactly like the one that was saved. A face entry takes 149 bytes (JSON would take
//! ~1.4 KB).

use optout_matcher::Kind;
use optout_matcher::hex::parse_hex32;
use optout_matcher::wire::{WireEntry, WireState, WireValue};
use sha2::{Digest, Sha256};

pub(crate) const MAGIC: &[u8; 14] = b"optout-mirror\0";
pub(crate) const VERSION: u16 = 1;
const CHECKSUM_LEN: usize = 32;

/// The decoded file: position and active entries (ascending ids).
pub(crate) struct StateFile {
    pub position: u64,
    pub entries: Vec<WireEntry>,
}

fn kind_tag(kind: Kind) -> u8 {
    match kind {
        Kind::Url => 0,
        Kind::Sha256 => 1,
        Kind::Pdq => 2,
        Kind::Face => 3,
    }
}

/// Encodes the state. Entries must be valid (they were checked when applied): a value of the
/// wrong shape for its kind is an error rather than a silently different file.
pub(crate) fn encode<'a>(
    position: u64,
    entries: impl ExactSizeIterator<Item = &'a WireEntry>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(32 + entries.len() * 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.id.to_le_bytes());
        out.extend_from_slice(&e.position.to_le_bytes());
        out.push(kind_tag(e.kind));
        match (e.kind, &e.value) {
            (Kind::Url, WireValue::Text(t)) => {
                let len =
                    u32::try_from(t.len()).map_err(|_| format!("entry {}: URL too long", e.id))?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(t.as_bytes());
            }
            (Kind::Sha256 | Kind::Pdq, WireValue::Text(t)) => {
                let bytes = parse_hex32(t).map_err(|err| format!("entry {}: {err}", e.id))?;
                out.extend_from_slice(&bytes);
            }
            (Kind::Face, WireValue::Vector(v)) => {
                let n = u32::try_from(v.len())
                    .map_err(|_| format!("entry {}: vector too long", e.id))?;
                out.extend_from_slice(&n.to_le_bytes());
                for x in v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            _ => {
                return Err(format!(
                    "entry {}: value does not fit kind {:?}",
                    e.id, e.kind
                ));
            }
        }
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| format!("truncated in {what} at byte {}", self.at))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }
}

/// Decodes and checks a state file (magic, version, checksum, structure, id order). The values
/// are checked by the caller when it indexes them.
pub(crate) fn decode(buf: &[u8]) -> Result<StateFile, String> {
    if buf.len() < MAGIC.len() + 2 || &buf[..MAGIC.len()] != MAGIC {
        return Err("not an optout mirror state file".into());
    }
    let version = u16::from_le_bytes([buf[MAGIC.len()], buf[MAGIC.len() + 1]]);
    if version != VERSION {
        return Err(format!(
            "format version {version}, this program reads version {VERSION}"
        ));
    }
    let Some(body_len) = buf.len().checked_sub(CHECKSUM_LEN) else {
        return Err("truncated".into());
    };
    if body_len < MAGIC.len() + 2 + 16 {
        return Err("truncated".into());
    }
    let (body, sum) = buf.split_at(body_len);
    if Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch (the file is truncated or damaged)".into());
    }
    let mut r = Reader {
        buf: body,
        at: MAGIC.len() + 2,
    };
    let position = r.u64("the position")?;
    let count = r.u64("the entry count")?;
    // each entry takes at least 21 bytes: never trust the count for the allocation
    let mut entries = Vec::with_capacity((count as usize).min(body.len() / 21));
    let mut last_id = None;
    for _ in 0..count {
        let id = r.u64("an entry id")?;
        if last_id.is_some_and(|last| id <= last) {
            return Err(format!("entry ids out of order at id {id}"));
        }
        last_id = Some(id);
        let entry_position = r.u64("an entry position")?;
        let tag = r.take(1, "an entry kind")?[0];
        let (kind, value) = match tag {
            0 => {
                let len = r.u32("a URL length")? as usize;
                let bytes = r.take(len, "a URL")?;
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| format!("entry {id}: URL is not UTF-8"))?;
                (Kind::Url, WireValue::Text(text.to_owned()))
            }
            1 | 2 => {
                let bytes = r.array::<32>("a hash")?;
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let kind = if tag == 1 { Kind::Sha256 } else { Kind::Pdq };
                (kind, WireValue::Text(hex))
            }
            3 => {
                let n = r.u32("a vector length")? as usize;
                let raw = r.take(n.saturating_mul(4), "a vector")?;
                let v = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                (Kind::Face, WireValue::Vector(v))
            }
            other => return Err(format!("entry {id}: unknown kind tag {other}")),
        };
        entries.push(WireEntry {
            id,
            position: entry_position,
            state: WireState::Active,
            kind,
            value,
        });
    }
    if r.at != body.len() {
        return Err(format!(
            "{} unexpected bytes after the entries",
            body.len() - r.at
        ));
    }
    Ok(StateFile { position, entries })
}
