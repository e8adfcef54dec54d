//! The compact binary state of the exclusion data: active entries and the change position they
//! reflect. One format for two users: a client's local mirror (`mirror.bin`, raw f32 faces, so a
//! reloaded mirror answers bit for bit like the saved one) and the server's matcher snapshot
//! (faces as the [`FaceRecord`]s the index derives, so a cold start rebuilds the index from one
//! sequential read without recomputing 36 rotations per face).
//!
//! ```text
//! magic     14 bytes  "optout-mirror\0"
//! version   u16       2 (version 1 is still read)
//! position  u64       every change up to here is reflected
//! -- version 2 --
//! tables    u16       LSH tables of the face records (0: the file holds none)
//! seed      u64       seed of their rotations
//! capacity  4 × u64   upper bounds of the url, sha256, pdq and face entries that follow (used
//!                     only to allocate once; a loader never trusts them beyond the file's size)
//! -- version 1 --
//! count     u64       number of entries
//! entry*    ascending ids: kind u8, id u64, position u64, value (version 1: id, position,
//!           kind, value):
//!             url (0)         : len u32 + UTF-8 bytes (the normalised URL)
//!             sha256 (1)      : 32 bytes
//!             pdq (2)         : 32 bytes
//!             face (3)        : n u32 + n f32
//!             face record (4) : 128 f16, 8 u64 sketch, `tables` u16 bucket keys (version 2)
//! -- version 2 --
//! end       u8        0xff (where the next kind would be)
//! count     u64       number of entries
//! sha256    32 bytes  SHA-256 of everything before it
//! ```
//! Integers and floats are little-endian. A raw face takes 533 bytes, a face record 371 (16
//! tables). Version 2 counts the entries at the end, so a writer can stream a merge of an old
//! state with newer changes without knowing the total in advance.
//!
//! [`StateReader`] decodes a stream as it arrives and checks the checksum at the end: a caller
//! that built something from the entries must drop it when [`StateReader::finish`] fails.
//! [`decode_slice`] checks the checksum of a buffer first (a damaged file then says so rather
//! than failing on whatever the damage broke).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256 as Sha256Hasher};
use thiserror::Error;

use crate::exclusion::{Entry, EntryValue, ExclusionIndex, Kind};
use crate::face::{
    DIM, FaceDeriver, FaceEmbedding, FaceParams, FaceRecord, MAX_TABLES, SKETCH_WORDS,
};
use crate::pdq::PdqHash;
use crate::sha::Sha256;
use crate::url::normalize_url;

pub const MAGIC: &[u8; 14] = b"optout-mirror\0";
/// The version written.
pub const VERSION: u16 = 2;
const CHECKSUM_LEN: usize = 32;
const END: u8 = 0xff;
/// The longest URL accepted (normalised URLs are far shorter; this only bounds allocation).
pub const MAX_URL_BYTES: usize = 64 * 1024;
/// The longest raw vector accepted (embeddings have 128; this only bounds allocation).
pub const MAX_VECTOR: usize = 4096;
/// The smallest encoded entry (a hash: id, position, kind, 32 bytes).
const MIN_ENTRY: u64 = 8 + 8 + 1 + 32;
const READ_BUF: usize = 256 * 1024;
const WRITE_BUF: usize = 256 * 1024;

/// Why a state cannot be read or written.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("not an optout mirror state file")]
    NotState,
    #[error("format version {0}, this program reads versions 1 and 2")]
    Version(u16),
    #[error("truncated in {0}")]
    Truncated(&'static str),
    #[error("checksum mismatch (the file is truncated or damaged)")]
    Checksum,
    #[error("malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn malformed(what: impl Into<String>) -> StateError {
    StateError::Malformed(what.into())
}

/// What a state starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub position: u64,
    /// The derivation of the face records (`None`: the state holds none).
    pub face: Option<FaceParams>,
    /// Upper bounds of the entries of each kind, `[url, sha256, pdq, face]` (version 1: its
    /// exact count, unsplit, in `total`).
    pub capacity: [u64; 4],
    /// Version 1 only: the number of entries.
    pub total: Option<u64>,
}

impl Header {
    /// The header of a version-2 state.
    pub fn new(position: u64, face: Option<FaceParams>, capacity: [u64; 4]) -> Self {
        Header {
            version: VERSION,
            position,
            face,
            capacity,
            total: None,
        }
    }
}

fn kind_slot(kind: Kind) -> usize {
    match kind {
        Kind::Url => 0,
        Kind::Sha256 => 1,
        Kind::Pdq => 2,
        Kind::Face => 3,
    }
}

/// One entry's value as read or to be written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Url(&'a str),
    Sha256(&'a [u8; 32]),
    Pdq(&'a [u8; 32]),
    Face(&'a [f32]),
    FaceRecord(&'a FaceRecord),
}

impl Value<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Value::Url(_) => Kind::Url,
            Value::Sha256(_) => Kind::Sha256,
            Value::Pdq(_) => Kind::Pdq,
            Value::Face(_) | Value::FaceRecord(_) => Kind::Face,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Value::Url(_) => 0,
            Value::Sha256(_) => 1,
            Value::Pdq(_) => 2,
            Value::Face(_) => 3,
            Value::FaceRecord(_) => 4,
        }
    }
}

/// One entry as read (borrowing the reader's buffers until the next call).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item<'a> {
    pub id: u64,
    pub position: u64,
    pub value: Value<'a>,
}

/// An owned entry value (a change to merge).
#[derive(Debug, Clone, PartialEq)]
pub enum StateValue {
    Url(String),
    Sha256([u8; 32]),
    Pdq([u8; 32]),
    Face(Vec<f32>),
    FaceRecord(Box<FaceRecord>),
}

impl StateValue {
    pub fn as_value(&self) -> Value<'_> {
        match self {
            StateValue::Url(u) => Value::Url(u),
            StateValue::Sha256(h) => Value::Sha256(h),
            StateValue::Pdq(h) => Value::Pdq(h),
            StateValue::Face(v) => Value::Face(v),
            StateValue::FaceRecord(r) => Value::FaceRecord(r),
        }
    }

    /// The value as a snapshot stores it: a face as its record under `deriver`, a URL as its
    /// normalised text, a hash as its bytes.
    pub fn for_snapshot(value: &EntryValue, deriver: &FaceDeriver) -> StateValue {
        match value {
            EntryValue::Url(u) => StateValue::Url(u.as_str().to_owned()),
            EntryValue::Sha256(d) => StateValue::Sha256(d.0),
            EntryValue::Pdq(h) => StateValue::Pdq(h.0),
            EntryValue::Face(e) => StateValue::FaceRecord(Box::new(deriver.derive(e))),
        }
    }
}

/// An owned entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEntry {
    pub id: u64,
    pub position: u64,
    pub value: StateValue,
}

impl StateEntry {
    pub fn item(&self) -> Item<'_> {
        Item {
            id: self.id,
            position: self.position,
            value: self.value.as_value(),
        }
    }
}

/// Reads a state from a stream, hashing what it consumes.
pub struct StateReader<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// `buf[..hashed]` is in the hasher.
    hashed: usize,
    hasher: Sha256Hasher,
    header: Header,
    /// Entries returned so far, and the last id.
    count: u64,
    last_id: Option<u64>,
    done: bool,
    url: String,
    face: Vec<f32>,
    record: FaceRecord,
    hash: [u8; 32],
}

impl<R: Read> StateReader<R> {
    /// Reads and checks the header (magic, version).
    pub fn new(inner: R) -> Result<Self, StateError> {
        let mut r = StateReader {
            inner,
            buf: vec![0u8; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            hashed: 0,
            hasher: Sha256Hasher::new(),
            header: Header::new(0, None, [0; 4]),
            count: 0,
            last_id: None,
            done: false,
            url: String::new(),
            face: Vec::new(),
            record: FaceRecord {
                half: [0; DIM],
                sketch: [0; SKETCH_WORDS],
                keys: Vec::new(),
            },
            hash: [0; 32],
        };
        let mut magic = [0u8; 14];
        if r.take(&mut magic, "the magic").is_err() || &magic != MAGIC {
            return Err(StateError::NotState);
        }
        let version = r.u16("the version")?;
        if version != 1 && version != VERSION {
            return Err(StateError::Version(version));
        }
        let position = r.u64("the position")?;
        r.header = if version == 1 {
            let total = r.u64("the entry count")?;
            Header {
                version,
                position,
                face: None,
                capacity: [0; 4],
                total: Some(total),
            }
        } else {
            let tables = usize::from(r.u16("the face tables")?);
            let seed = r.u64("the face seed")?;
            if tables > MAX_TABLES {
                return Err(malformed(format!("{tables} face tables")));
            }
            let mut capacity = [0u64; 4];
            for c in &mut capacity {
                *c = r.u64("the capacity")?;
            }
            Header {
                version,
                position,
                face: (tables > 0).then_some(FaceParams { tables, seed }),
                capacity,
                total: None,
            }
        };
        if let Some(p) = r.header.face {
            r.record.keys = vec![0; p.tables];
        }
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Fills the buffer; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, StateError> {
        if self.start == self.end {
            self.hash_consumed();
            self.start = 0;
            self.end = 0;
            self.hashed = 0;
        } else if self.end == self.buf.len() {
            self.hash_consumed();
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.hashed = 0;
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn hash_consumed(&mut self) {
        if self.start > self.hashed {
            self.hasher.update(&self.buf[self.hashed..self.start]);
            self.hashed = self.start;
        }
    }

    fn take(&mut self, out: &mut [u8], what: &'static str) -> Result<(), StateError> {
        let mut done = 0;
        while done < out.len() {
            if self.start == self.end && !self.fill()? {
                return Err(StateError::Truncated(what));
            }
            let n = (out.len() - done).min(self.end - self.start);
            out[done..done + n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            done += n;
        }
        Ok(())
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, StateError> {
        let mut b = [0u8; 1];
        self.take(&mut b, what)?;
        Ok(b[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, StateError> {
        let mut b = [0u8; 2];
        self.take(&mut b, what)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, StateError> {
        let mut b = [0u8; 4];
        self.take(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, StateError> {
        let mut b = [0u8; 8];
        self.take(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    /// The next entry, or `None` after the last one (then call [`finish`](Self::finish)).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Item<'_>>, StateError> {
        if self.done {
            return Ok(None);
        }
        if let Some(total) = self.header.total
            && self.count == total
        {
            self.done = true;
            return Ok(None);
        }
        // Version 2 puts the kind first (so that the end marker cannot be mistaken for an id),
        // version 1 last.
        let mut tag = 0;
        if self.header.version >= 2 {
            tag = self.u8("an entry kind")?;
            if tag == END {
                self.done = true;
                return Ok(None);
            }
        }
        let id = self.u64("an entry id")?;
        if self.last_id.is_some_and(|last| id <= last) {
            return Err(malformed(format!("entry ids out of order at id {id}")));
        }
        self.last_id = Some(id);
        let position = self.u64("an entry position")?;
        if self.header.version == 1 {
            tag = self.u8("an entry kind")?;
        }
        let kind = match tag {
            0 => {
                let len = self.u32("a URL length")? as usize;
                if len > MAX_URL_BYTES {
                    return Err(malformed(format!("entry {id}: a URL of {len} bytes")));
                }
                let mut bytes = std::mem::take(&mut self.url).into_bytes();
                bytes.clear();
                bytes.resize(len, 0);
                self.take(&mut bytes, "a URL")?;
                self.url = String::from_utf8(bytes)
                    .map_err(|_| malformed(format!("entry {id}: URL is not UTF-8")))?;
                0
            }
            1 | 2 => {
                let mut h = [0u8; 32];
                self.take(&mut h, "a hash")?;
                self.hash = h;
                tag
            }
            3 => {
                let n = self.u32("a vector length")? as usize;
                if n > MAX_VECTOR {
                    return Err(malformed(format!("entry {id}: a vector of {n} numbers")));
                }
                let mut raw = vec![0u8; n * 4];
                self.take(&mut raw, "a vector")?;
                self.face.clear();
                self.face.extend(
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                3
            }
            4 => {
                let Some(params) = self.header.face else {
                    return Err(malformed(format!(
                        "entry {id}: a face record in a state without face parameters"
                    )));
                };
                let mut half = [0u8; DIM * 2];
                self.take(&mut half, "a face record")?;
                for (h, c) in self.record.half.iter_mut().zip(half.chunks_exact(2)) {
                    *h = u16::from_le_bytes([c[0], c[1]]);
                }
                let mut sketch = [0u8; SKETCH_WORDS * 8];
                self.take(&mut sketch, "a face sketch")?;
                for (w, c) in self.record.sketch.iter_mut().zip(sketch.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    *w = u64::from_le_bytes(b);
                }
                let mut keys = [0u8; MAX_TABLES * 2];
                let keys = &mut keys[..params.tables * 2];
                self.take(keys, "face bucket keys")?;
                for (k, c) in self.record.keys.iter_mut().zip(keys.chunks_exact(2)) {
                    *k = u16::from_le_bytes([c[0], c[1]]);
                }
                4
            }
            other => return Err(malformed(format!("entry {id}: unknown kind tag {other}"))),
        };
        self.count += 1;
        let value = match kind {
            0 => Value::Url(&self.url),
            1 => Value::Sha256(&self.hash),
            2 => Value::Pdq(&self.hash),
            3 => Value::Face(&self.face),
            _ => Value::FaceRecord(&self.record),
        };
        Ok(Some(Item {
            id,
            position,
            value,
        }))
    }

    /// After the last entry: checks the count (version 2), the checksum and that nothing
    /// follows. Returns the number of entries.
    pub fn finish(mut self) -> Result<u64, StateError> {
        if !self.done {
            return Err(malformed("finished before the last entry"));
        }
        if self.header.version >= 2 {
            let count = self.u64("the entry count")?;
            if count != self.count {
                return Err(malformed(format!(
                    "{} entries, the state says {count}",
                    self.count
                )));
            }
        }
        self.hash_consumed();
        let mut sum = [0u8; CHECKSUM_LEN];
        self.take(&mut sum, "the checksum")?;
        let expected = std::mem::take(&mut self.hasher).finalize();
        if expected.as_slice() != sum {
            return Err(StateError::Checksum);
        }
        if self.start < self.end || self.fill()? {
            return Err(malformed("unexpected bytes after the checksum"));
        }
        Ok(self.count)
    }
}

/// Checks the checksum of a whole state in memory, then opens it for reading.
pub fn decode_slice(buf: &[u8]) -> Result<StateReader<&[u8]>, StateError> {
    if buf.len() < MAGIC.len() + 2 || &buf[..MAGIC.len()] != MAGIC {
        return Err(StateError::NotState);
    }
    let version = u16::from_le_bytes([buf[MAGIC.len()], buf[MAGIC.len() + 1]]);
    if version != 1 && version != VERSION {
        return Err(StateError::Version(version));
    }
    let Some(body_len) = buf.len().checked_sub(CHECKSUM_LEN) else {
        return Err(StateError::Truncated("the checksum"));
    };
    let (body, sum) = buf.split_at(body_len);
    if Sha256Hasher::digest(body).as_slice() != sum {
        return Err(StateError::Checksum);
    }
    StateReader::new(buf)
}

/// Writes a state (version 2), hashing what it writes. Entries must come by ascending id.
pub struct StateWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    hasher: Sha256Hasher,
    face: Option<FaceParams>,
    count: u64,
    last_id: Option<u64>,
}

impl<W: Write> StateWriter<W> {
    pub fn new(out: W, header: &Header) -> Result<Self, StateError> {
        let mut w = StateWriter {
            out,
            buf: Vec::with_capacity(WRITE_BUF),
            hasher: Sha256Hasher::new(),
            face: header.face,
            count: 0,
            last_id: None,
        };
        let tables = match header.face {
            Some(p) if p.tables == 0 || p.tables > MAX_TABLES => {
                return Err(malformed(format!("{} face tables", p.tables)));
            }
            Some(p) => p.tables as u16,
            None => 0,
        };
        w.buf.extend_from_slice(MAGIC);
        w.buf.extend_from_slice(&VERSION.to_le_bytes());
        w.buf.extend_from_slice(&header.position.to_le_bytes());
        w.buf.extend_from_slice(&tables.to_le_bytes());
        w.buf
            .extend_from_slice(&header.face.map_or(0, |p| p.seed).to_le_bytes());
        for c in header.capacity {
            w.buf.extend_from_slice(&c.to_le_bytes());
        }
        Ok(w)
    }

    fn flush_buf(&mut self) -> Result<(), StateError> {
        self.hasher.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Appends one entry. Its id must be above the previous one's; a face record must have
    /// the header's parameters.
    pub fn write(&mut self, item: &Item<'_>) -> Result<(), StateError> {
        if self.last_id.is_some_and(|last| item.id <= last) {
            return Err(malformed(format!(
                "entry ids out of order at id {}",
                item.id
            )));
        }
        let b = &mut self.buf;
        b.push(item.value.tag());
        b.extend_from_slice(&item.id.to_le_bytes());
        b.extend_from_slice(&item.position.to_le_bytes());
        match item.value {
            Value::Url(u) => {
                if u.len() > MAX_URL_BYTES {
                    return Err(malformed(format!("entry {}: URL too long", item.id)));
                }
                b.extend_from_slice(&(u.len() as u32).to_le_bytes());
                b.extend_from_slice(u.as_bytes());
            }
            Value::Sha256(h) | Value::Pdq(h) => b.extend_from_slice(h),
            Value::Face(v) => {
                if v.len() > MAX_VECTOR {
                    return Err(malformed(format!("entry {}: vector too long", item.id)));
                }
                b.extend_from_slice(&(v.len() as u32).to_le_bytes());
                for x in v {
                    b.extend_from_slice(&x.to_le_bytes());
                }
            }
            Value::FaceRecord(r) => {
                if self.face.map(|p| p.tables) != Some(r.keys.len()) {
                    return Err(malformed(format!(
                        "entry {}: a face record of {} tables in a state of {:?}",
                        item.id,
                        r.keys.len(),
                        self.face
                    )));
                }
                for h in r.half {
                    b.extend_from_slice(&h.to_le_bytes());
                }
                for w in r.sketch {
                    b.extend_from_slice(&w.to_le_bytes());
                }
                for k in &r.keys {
                    b.extend_from_slice(&k.to_le_bytes());
                }
            }
        }
        self.last_id = Some(item.id);
        self.count += 1;
        if self.buf.len() >= WRITE_BUF {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Writes the end, the count and the checksum; returns the output and the entry count.
    pub fn finish(mut self) -> Result<(W, u64), StateError> {
        self.buf.push(END);
        self.buf.extend_from_slice(&self.count.to_le_bytes());
        self.flush_buf()?;
        let sum = std::mem::take(&mut self.hasher).finalize();
        self.out.write_all(&sum)?;
        self.out.flush()?;
        Ok((self.out, self.count))
    }
}

/// What [`load_index`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub position: u64,
    pub entries: u64,
    /// Face records derived with other parameters than the index's, derived again from their
    /// f16 copy.
    pub rederived: u64,
}

/// The matcher entry of a value that is not a face record.
fn entry_value(id: u64, value: &Value<'_>) -> Result<EntryValue, StateError> {
    let bad = |r: String| malformed(format!("entry {id}: {r}"));
    Ok(match *value {
        Value::Url(u) => EntryValue::Url(normalize_url(u).map_err(|e| bad(e.to_string()))?),
        Value::Sha256(h) => EntryValue::Sha256(Sha256(*h)),
        Value::Pdq(h) => EntryValue::Pdq(PdqHash(*h)),
        Value::Face(v) => EntryValue::Face(FaceEmbedding::new(v).map_err(|e| bad(e.to_string()))?),
        Value::FaceRecord(r) => EntryValue::Face(r.embedding().map_err(|e| bad(e.to_string()))?),
    })
}

/// Inserts every entry of `reader` into `index` (which should be empty) and checks the end of
/// the state. `len`, the state's size in bytes when known, bounds the allocation the header's
/// capacities may ask for. On error the index holds part of the state: drop it.
pub fn load_index<R: Read>(
    mut reader: StateReader<R>,
    len: Option<u64>,
    index: &mut ExclusionIndex,
) -> Result<Loaded, StateError> {
    let header = *reader.header();
    let params = index.faces().params();
    let records_fit = header.face == Some(params);
    if let Some(len) = len {
        let bound = |c: u64, min: u64| usize::try_from(c.min(len / min)).unwrap_or(0);
        let face_min = MIN_ENTRY + 2 * DIM as u64;
        let [u, s, p, f] = header.capacity;
        index.reserve([
            bound(u, MIN_ENTRY),
            bound(s, MIN_ENTRY),
            bound(p, MIN_ENTRY),
            bound(f, face_min),
        ]);
    }
    let mut rederived = 0;
    while let Some(item) = reader.next()? {
        match item.value {
            Value::FaceRecord(r) if records_fit => {
                index
                    .bulk_face_record(item.id, r)
                    .map_err(|e| malformed(format!("entry {}: {e}", item.id)))?;
            }
            v => {
                if matches!(v, Value::FaceRecord(_)) {
                    rederived += 1;
                }
                index.bulk_insert(Entry::new(item.id, entry_value(item.id, &v)?));
            }
        }
    }
    let entries = reader.finish()?;
    index.finish_bulk();
    Ok(Loaded {
        position: header.position,
        entries,
        rederived,
    })
}

/// What [`merge`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    pub entries: u64,
    /// Entries of the old state replaced or removed by a change.
    pub replaced: u64,
    /// Faces of the old state derived again (other parameters, or raw vectors).
    pub rederived: u64,
}

/// Writes the state at `position`: the entries of `old` (a state at or before it, if any) with
/// `changes` applied (by id: `Some` puts the entry, `None` removes it), every face as a record
/// of `deriver`. The output's capacities are the old ones plus the puts, an upper bound.
pub fn merge<R: Read, W: Write>(
    old: Option<StateReader<R>>,
    changes: &BTreeMap<u64, Option<StateEntry>>,
    position: u64,
    deriver: &FaceDeriver,
    out: W,
) -> Result<(W, Merged), StateError> {
    let params = deriver.params();
    let mut capacity = old.as_ref().map_or([0; 4], |o| o.header().capacity);
    if let Some(total) = old.as_ref().and_then(|o| o.header().total) {
        // version 1 has no split: each kind may be all of them
        capacity = [total; 4];
    }
    for e in changes.values().flatten() {
        capacity[kind_slot(e.value.as_value().kind())] += 1;
    }
    let mut w = StateWriter::new(out, &Header::new(position, Some(params), capacity))?;
    let mut pending = changes.iter().peekable();
    let mut stats = Merged {
        entries: 0,
        replaced: 0,
        rederived: 0,
    };
    let write_change = |w: &mut StateWriter<W>, e: &Option<StateEntry>| match e {
        Some(e) => write_for(w, &e.item(), deriver, true, &mut 0),
        None => Ok(()),
    };
    if let Some(mut reader) = old {
        let old_fit = reader.header().face == Some(params);
        while let Some(item) = reader.next()? {
            while let Some((_, change)) = pending.next_if(|(id, _)| **id < item.id) {
                write_change(&mut w, change)?;
            }
            if let Some((_, change)) = pending.next_if(|(id, _)| **id == item.id) {
                stats.replaced += 1;
                write_change(&mut w, change)?;
                continue;
            }
            write_for(&mut w, &item, deriver, old_fit, &mut stats.rederived)?;
        }
        reader.finish()?;
    }
    for (_, change) in pending {
        write_change(&mut w, change)?;
    }
    let (out, entries) = w.finish()?;
    stats.entries = entries;
    Ok((out, stats))
}

/// Writes `item` with its face as a record of `deriver` (`records_fit`: a face record of the
/// item was derived by the same parameters).
fn write_for<W: Write>(
    w: &mut StateWriter<W>,
    item: &Item<'_>,
    deriver: &FaceDeriver,
    records_fit: bool,
    rederived: &mut u64,
) -> Result<(), StateError> {
    match item.value {
        Value::FaceRecord(_) if records_fit => w.write(item),
        Value::Face(_) | Value::FaceRecord(_) => {
            let EntryValue::Face(e) = entry_value(item.id, &item.value)? else {
                return Err(malformed("a face that is not a face"));
            };
            *rederived += 1;
            let record = deriver.derive(&e);
            w.write(&Item {
                value: Value::FaceRecord(&record),
                ..*item
            })
        }
        _ => w.write(item),
    }
}

#[cfg(test)]
mod tests;
