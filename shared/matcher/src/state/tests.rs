use super::*;
use crate::exclusion::{Candidate, ExclusionConfig};
use crate::face::FaceConfig;
use crate::rng::SplitMix64;

fn unit(rng: &mut SplitMix64) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM).map(|_| rng.gaussian() as f32).collect();
    FaceEmbedding::normalized(&v).unwrap().as_array().to_vec()
}

fn deriver() -> FaceDeriver {
    let c = FaceConfig::default();
    FaceDeriver::new(c.tables, c.seed)
}

/// Every kind, faces as records (a snapshot) or raw (a mirror).
fn entries(records: bool) -> Vec<StateEntry> {
    let mut rng = SplitMix64::new(7);
    let d = deriver();
    let mut out = Vec::new();
    for i in 0..40u64 {
        // ids whose low byte is 0xff (the end marker) among them
        let id = if i >= 20 { 3 * i + 195 } else { 3 * i + 1 };
        let value = match i % 4 {
            0 => StateValue::Url(format!("https://example.com/img/{i}.jpg")),
            1 => StateValue::Sha256([i as u8; 32]),
            2 => StateValue::Pdq([(i * 7) as u8; 32]),
            _ => {
                let v = unit(&mut rng);
                if records {
                    let e = FaceEmbedding::new(&v).unwrap();
                    StateValue::FaceRecord(Box::new(d.derive(&e)))
                } else {
                    StateValue::Face(v)
                }
            }
        };
        out.push(StateEntry {
            id,
            position: id + 100,
            value,
        });
    }
    out
}

fn encode(position: u64, face: Option<FaceParams>, es: &[StateEntry]) -> Vec<u8> {
    let mut cap = [0u64; 4];
    for e in es {
        cap[kind_slot(e.value.as_value().kind())] += 1;
    }
    let mut w = StateWriter::new(Vec::new(), &Header::new(position, face, cap)).unwrap();
    for e in es {
        w.write(&e.item()).unwrap();
    }
    let (out, n) = w.finish().unwrap();
    assert_eq!(n, es.len() as u64);
    out
}

fn read_all(buf: &[u8]) -> Result<(Header, Vec<StateEntry>), StateError> {
    let mut r = StateReader::new(buf)?;
    let header = *r.header();
    let mut out = Vec::new();
    while let Some(item) = r.next()? {
        let value = match item.value {
            Value::Url(u) => StateValue::Url(u.to_owned()),
            Value::Sha256(h) => StateValue::Sha256(*h),
            Value::Pdq(h) => StateValue::Pdq(*h),
            Value::Face(v) => StateValue::Face(v.to_vec()),
            Value::FaceRecord(r) => StateValue::FaceRecord(Box::new(r.clone())),
        };
        out.push(StateEntry {
            id: item.id,
            position: item.position,
            value,
        });
    }
    r.finish()?;
    Ok((header, out))
}

fn probes() -> Vec<Candidate> {
    let mut out = Vec::new();
    for e in entries(false) {
        out.push(match e.value {
            StateValue::Url(u) => {
                Candidate::Url(u.replace("https://example.com", "HTTP://Example.COM"))
            }
            StateValue::Sha256(h) => Candidate::Sha256(crate::hex::to_hex32(&h)),
            StateValue::Pdq(mut h) => {
                h[0] ^= 0x0f;
                Candidate::Pdq(crate::hex::to_hex32(&h))
            }
            StateValue::Face(v) => Candidate::Face(v),
            StateValue::FaceRecord(_) => unreachable!(),
        });
    }
    out.push(Candidate::Sha256("ab".repeat(32)));
    out
}

/// The index built the ordinary way (one insert per entry).
fn built() -> ExclusionIndex {
    let mut index = ExclusionIndex::new(ExclusionConfig::default());
    for e in entries(false) {
        index.insert(Entry::new(
            e.id,
            entry_value(e.id, &e.value.as_value()).unwrap(),
        ));
    }
    index
}

#[test]
fn a_snapshot_round_trips_and_loads_an_index_that_answers_the_same() {
    let d = deriver();
    let es = entries(true);
    let buf = encode(500, Some(d.params()), &es);
    let (header, back) = read_all(&buf).unwrap();
    assert_eq!(header.position, 500);
    assert_eq!(header.face, Some(d.params()));
    assert_eq!(header.capacity, [10, 10, 10, 10]);
    assert_eq!(back, es);

    let mut index = ExclusionIndex::new(ExclusionConfig::default());
    let loaded = load_index(
        StateReader::new(buf.as_slice()).unwrap(),
        Some(buf.len() as u64),
        &mut index,
    )
    .unwrap();
    assert_eq!(
        loaded,
        Loaded {
            position: 500,
            entries: 40,
            rederived: 0
        }
    );
    let reference = built();
    assert_eq!(index.len(), reference.len());
    let got = index.check_batch(&probes());
    assert_eq!(got, reference.check_batch(&probes()));
    assert!(got.iter().filter(|r| matches!(r, Ok(Some(_)))).count() == 40);
    // the records are exactly what the index derives
    for e in &es {
        if let StateValue::FaceRecord(r) = &e.value {
            assert_eq!(index.faces().record(e.id).as_ref(), Some(&**r));
            assert_eq!(reference.faces().record(e.id).as_ref(), Some(&**r));
        }
    }
}

#[test]
fn a_mirror_keeps_raw_faces_bit_for_bit() {
    let es = entries(false);
    let buf = encode(9, None, &es);
    let (header, back) = read_all(&buf).unwrap();
    assert_eq!(header.face, None);
    assert_eq!(back, es);
    assert_eq!(
        read_all(decode_slice(&buf).map(|_| buf.as_slice()).unwrap())
            .unwrap()
            .1,
        es
    );
}

#[test]
fn an_empty_state_round_trips() {
    let buf = encode(0, None, &[]);
    let (header, back) = read_all(&buf).unwrap();
    assert_eq!((header.position, back.len()), (0, 0));
}

#[test]
fn every_truncation_is_refused() {
    let buf = encode(500, Some(deriver().params()), &entries(true));
    for cut in (0..buf.len()).step_by(7).chain([buf.len() - 1]) {
        let err = read_all(&buf[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                StateError::NotState | StateError::Truncated(_) | StateError::Malformed(_)
            ),
            "cut at {cut}: {err:?}"
        );
        assert!(decode_slice(&buf[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn a_flipped_bit_is_refused() {
    let buf = encode(500, Some(deriver().params()), &entries(true));
    // in a face's f16 vector: the structure stays valid, only the checksum tells
    let es = entries(true);
    let header_len = 14 + 2 + 8 + 2 + 8 + 32;
    let mut at = header_len;
    for e in &es[..3] {
        at += 17
            + match &e.value {
                StateValue::Url(u) => 4 + u.len(),
                _ => 32,
            };
    }
    assert!(matches!(es[3].value, StateValue::FaceRecord(_)));
    let mut flipped = buf.clone();
    flipped[at + 17 + 10] ^= 0x01;
    assert!(matches!(read_all(&flipped), Err(StateError::Checksum)));
    assert!(matches!(decode_slice(&flipped), Err(StateError::Checksum)));
    let mut index = ExclusionIndex::default();
    let err = load_index(
        StateReader::new(flipped.as_slice()).unwrap(),
        None,
        &mut index,
    );
    assert!(matches!(err, Err(StateError::Checksum)), "{err:?}");
    // in the checksum itself
    let mut last = buf.clone();
    *last.last_mut().unwrap() ^= 0x80;
    assert!(matches!(read_all(&last), Err(StateError::Checksum)));
    // bytes after the checksum
    let mut longer = buf.clone();
    longer.push(0);
    assert!(matches!(read_all(&longer), Err(StateError::Malformed(_))));
}

#[test]
fn bad_magic_and_versions_are_refused() {
    let buf = encode(1, None, &entries(false));
    let mut magic = buf.clone();
    magic[0] = b'x';
    assert!(matches!(read_all(&magic), Err(StateError::NotState)));
    assert!(matches!(
        read_all(b"{\"position\": 3}"),
        Err(StateError::NotState)
    ));
    assert!(matches!(read_all(b""), Err(StateError::NotState)));
    let mut future = buf.clone();
    future[14] = 9;
    let err = read_all(&future).unwrap_err();
    assert!(matches!(err, StateError::Version(9)));
    assert!(err.to_string().contains("format version 9"));
    assert!(matches!(decode_slice(&future), Err(StateError::Version(9))));
}

#[test]
fn version_1_files_are_still_read() {
    // magic, version 1, position, count, entries, sha256 (what mirrors wrote before)
    let mut v1 = Vec::new();
    v1.extend_from_slice(MAGIC);
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&77u64.to_le_bytes());
    v1.extend_from_slice(&2u64.to_le_bytes());
    v1.extend_from_slice(&5u64.to_le_bytes());
    v1.extend_from_slice(&6u64.to_le_bytes());
    v1.push(1);
    v1.extend_from_slice(&[0xab; 32]);
    v1.extend_from_slice(&8u64.to_le_bytes());
    v1.extend_from_slice(&9u64.to_le_bytes());
    v1.push(0);
    v1.extend_from_slice(&3u32.to_le_bytes());
    v1.extend_from_slice(b"a/b");
    let sum = Sha256::of(&v1);
    v1.extend_from_slice(&sum.0);
    let (header, es) = read_all(&v1).unwrap();
    assert_eq!(
        (header.version, header.position, header.total),
        (1, 77, Some(2))
    );
    assert_eq!(es[0].value, StateValue::Sha256([0xab; 32]));
    assert_eq!(es[1].value, StateValue::Url("a/b".into()));
}

#[test]
fn entries_out_of_order_or_of_unknown_kind_are_refused() {
    let es = entries(false);
    let mut w = StateWriter::new(Vec::new(), &Header::new(1, None, [0; 4])).unwrap();
    w.write(&es[1].item()).unwrap();
    assert!(w.write(&es[0].item()).is_err());
    // a face record without face parameters
    let d = deriver();
    let r = d.derive(&FaceEmbedding::new(&unit(&mut SplitMix64::new(1))).unwrap());
    let mut w = StateWriter::new(Vec::new(), &Header::new(1, None, [0; 4])).unwrap();
    let item = Item {
        id: 1,
        position: 1,
        value: Value::FaceRecord(&r),
    };
    assert!(w.write(&item).is_err());
    // an unknown tag
    let mut buf = encode(1, None, &es[1..2]);
    let tag_at = 14 + 2 + 8 + 2 + 8 + 32;
    buf[tag_at] = 9;
    let err = read_all(&buf).unwrap_err();
    assert!(err.to_string().contains("unknown kind tag 9"), "{err}");
}

#[test]
fn records_of_other_parameters_are_derived_again() {
    let other = FaceDeriver::new(8, 42);
    let mut rng = SplitMix64::new(3);
    let faces: Vec<Vec<f32>> = (0..20).map(|_| unit(&mut rng)).collect();
    let es: Vec<StateEntry> = faces
        .iter()
        .enumerate()
        .map(|(i, v)| StateEntry {
            id: i as u64 + 1,
            position: i as u64 + 1,
            value: StateValue::FaceRecord(Box::new(other.derive(&FaceEmbedding::new(v).unwrap()))),
        })
        .collect();
    let buf = encode(20, Some(other.params()), &es);
    let mut index = ExclusionIndex::default();
    let loaded = load_index(StateReader::new(buf.as_slice()).unwrap(), None, &mut index).unwrap();
    assert_eq!((loaded.entries, loaded.rederived), (20, 20));
    for (i, v) in faces.iter().enumerate() {
        let hit = index.check(&Candidate::Face(v.clone())).unwrap().unwrap();
        assert_eq!(hit.entry_id, i as u64 + 1);
    }
    // a merge converts them to the current parameters
    let d = deriver();
    let (out, merged) = merge(
        Some(StateReader::new(buf.as_slice()).unwrap()),
        &BTreeMap::new(),
        20,
        &d,
        Vec::new(),
    )
    .unwrap();
    assert_eq!((merged.entries, merged.rederived), (20, 20));
    let (header, _) = read_all(&out).unwrap();
    assert_eq!(header.face, Some(d.params()));
}

#[test]
fn a_merge_applies_changes_by_id() {
    let d = deriver();
    let es = entries(true);
    let old = encode(200, Some(d.params()), &es);
    let mut changes = BTreeMap::new();
    // withdraw one, replace one, add one before, between and after the old ids
    changes.insert(es[5].id, None);
    changes.insert(
        es[6].id,
        Some(StateEntry {
            id: es[6].id,
            position: 201,
            value: StateValue::Sha256([0xee; 32]),
        }),
    );
    for id in [0u64, 3, 1000] {
        changes.insert(
            id,
            Some(StateEntry {
                id,
                position: 202 + id,
                value: StateValue::Url(format!("https://example.org/{id}")),
            }),
        );
    }
    let (out, merged) = merge(
        Some(StateReader::new(old.as_slice()).unwrap()),
        &changes,
        1202,
        &d,
        Vec::new(),
    )
    .unwrap();
    assert_eq!(merged.replaced, 2);
    assert_eq!(merged.entries, 40 - 1 + 3);
    let (header, back) = read_all(&out).unwrap();
    assert_eq!(header.position, 1202);
    // the capacities are upper bounds
    assert_eq!(header.capacity, [13, 11, 10, 10]);
    let mut expected: BTreeMap<u64, StateEntry> = es.into_iter().map(|e| (e.id, e)).collect();
    for (id, c) in changes {
        match c {
            Some(e) => expected.insert(id, e),
            None => expected.remove(&id),
        };
    }
    assert_eq!(back, expected.into_values().collect::<Vec<_>>());
    // from nothing
    let (out, merged) = merge::<&[u8], _>(None, &BTreeMap::new(), 0, &d, Vec::new()).unwrap();
    assert_eq!(merged.entries, 0);
    assert_eq!(read_all(&out).unwrap().1, vec![]);
}
