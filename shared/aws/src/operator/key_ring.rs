//! The signing key ring in its SSM SecureString parameter (`ID:BASE64URL_SECRET[,ID:SECRET]`, the
//! first key signs, all verify): made once before the first deploy, rotated by putting a new key
//! first and keeping the newest older ones, so links already sent still verify.
//!
//! The functions read the ring when they start: after a rotation, instances already running keep
//! the old ring (and refuse what the new key signs) until they are replaced.

use chrono::{DateTime, Utc};
use optout_core::signing::KeyRing;

use super::OperatorError;
use super::parameter::{self, Created, Stored};
use crate::config::Secret;

/// The most keys a ring keeps after a rotation: the new one and the two before it.
pub const MAX_KEYS: usize = 3;

/// The description of a parameter made by [`ensure`].
pub const DESCRIPTION: &str =
    "optout signing key ring: ID:BASE64URL_SECRET[,ID:SECRET], the first signs (optout aws init)";

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The parameter did not exist; it now holds one new key.
    Created { key_id: String, version: i64 },
    /// The parameter existed and holds a valid ring; it was left as it was.
    Kept { key_ids: Vec<String> },
    /// A new key was put first; `kept` older keys still verify, `dropped` ones no longer do.
    Rotated {
        key_id: String,
        kept: Vec<String>,
        dropped: Vec<String>,
        version: i64,
    },
}

/// Parses a stored ring; the error names what is wrong with the format, never the content.
fn parse(stored: &Stored) -> Result<KeyRing, OperatorError> {
    KeyRing::parse(stored.value.expose()).map_err(|e| OperatorError::Invalid {
        name: stored.name.clone(),
        reason: format!("not a signing key ring: {e}"),
    })
}

/// Reads the ring of the parameter `name`.
pub async fn read(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<KeyRing, OperatorError> {
    parse(&parameter::read(ssm, name).await?)
}

/// A key id for a key made at `now` that `existing` does not use: `kYYYYMMDD`, then `-2`, `-3` ...
/// for further keys of the same day (the embedded mode names its keys the same way).
pub fn new_key_id(existing: &[&str], now: DateTime<Utc>) -> String {
    let base = format!("k{}", now.format("%Y%m%d"));
    let mut id = base.clone();
    let mut n = 1;
    while existing.contains(&id.as_str()) {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

/// `ring` with a new key first and at most [`MAX_KEYS`] keys in all; the ids of the new key and
/// of the older keys dropped.
pub fn rotated(
    ring: &KeyRing,
    now: DateTime<Utc>,
) -> Result<(KeyRing, String, Vec<String>), OperatorError> {
    let ids = ring.key_ids();
    let id = new_key_id(&ids, now);
    let old = ring.to_spec();
    let keep = MAX_KEYS - 1;
    let spec = std::iter::once(KeyRing::generate(&id).to_spec())
        .chain(old.split(',').take(keep).map(str::to_owned))
        .collect::<Vec<_>>()
        .join(",");
    let next = KeyRing::parse(&spec).map_err(|e| OperatorError::Invalid {
        name: "(rotated key ring)".into(),
        reason: e.to_string(),
    })?;
    let dropped = ids.iter().skip(keep).map(|s| (*s).to_owned()).collect();
    Ok((next, id, dropped))
}

/// Makes the ring in the parameter `name` if it does not exist (one new key, encrypted with
/// `kms_key_id` or SSM's own key); with `rotate`, puts a new key first in an existing ring (which
/// keeps its KMS key). An existing ring is read and checked either way.
pub async fn ensure(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    kms_key_id: Option<&str>,
    rotate: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, OperatorError> {
    let key_id = new_key_id(&[], now);
    let fresh = Secret::new(KeyRing::generate(&key_id).to_spec());
    if let Created::Created { version } =
        parameter::create(ssm, name, &fresh, kms_key_id, DESCRIPTION).await?
    {
        return Ok(Outcome::Created { key_id, version });
    }
    let stored = parameter::read(ssm, name).await?;
    let ring = parse(&stored)?;
    if !rotate {
        return Ok(Outcome::Kept {
            key_ids: ring.key_ids().into_iter().map(str::to_owned).collect(),
        });
    }
    let (next, key_id, dropped) = rotated(&ring, now)?;
    let version = parameter::replace(ssm, &stored, &Secret::new(next.to_spec())).await?;
    Ok(Outcome::Rotated {
        kept: next
            .key_ids()
            .into_iter()
            .skip(1)
            .map(str::to_owned)
            .collect(),
        key_id,
        dropped,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_rotation_puts_a_new_key_first_and_keeps_three() {
        let day = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(new_key_id(&[], day), "k20260301");
        assert_eq!(new_key_id(&["k20260301"], day), "k20260301-2");
        assert_eq!(
            new_key_id(&["k20260301", "k20260301-2"], day),
            "k20260301-3"
        );

        let mut ring = KeyRing::generate("k20250101");
        let first = ring.clone();
        let token = first.sign("test", "subject", day + chrono::Duration::days(1));
        let mut all_dropped = Vec::new();
        for _ in 0..3 {
            let (next, id, dropped) = rotated(&ring, day).unwrap();
            assert_eq!(next.key_ids()[0], id);
            assert!(next.key_ids().len() <= MAX_KEYS);
            all_dropped.extend(dropped);
            ring = next;
        }
        assert_eq!(
            ring.key_ids(),
            ["k20260301-3", "k20260301-2", "k20260301"],
            "the newest three"
        );
        assert_eq!(all_dropped, ["k20250101"]);
        // The first key was dropped by the third rotation: its tokens no longer verify.
        assert!(ring.verify("test", &token, day).is_err());
        let (two, _, _) = rotated(&first, day).unwrap();
        assert_eq!(two.verify("test", &token, day).unwrap().0, "subject");
    }
}
