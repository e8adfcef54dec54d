//! Quality gates: the verdict a requester sees when their photo cannot be used, and the measures
//! behind it.

use serde::{Deserialize, Serialize};

/// A face whose box is smaller than this (shorter side, pixels of the upright full-resolution
/// photo) is too small to embed reliably (the embedder's eyes are ~35 px apart at 112x112).
pub const MIN_FACE_SIDE: f32 = 60.0;
/// Another face whose box area is at least this fraction of the chosen face's makes the photo
/// ambiguous ("several faces of similar size").
pub const SIMILAR_SIZE_RATIO: f32 = 0.5;
/// Below this sharpness (variance of the Laplacian of the aligned 112x112 grey face) the face is
/// too blurred. Sharp photos measure ~150-900 here, a 3-pixel-sigma blur drops them below 20.
pub const MIN_SHARPNESS: f32 = 30.0;

/// Whether the photo can be used, and if not, why (stable snake_case codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityVerdict {
    Ok,
    NoFace,
    SeveralFaces,
    FaceTooSmall,
    TooBlurred,
}

impl QualityVerdict {
    /// Stable machine code (the serde form, that of the desk's [`optout_core::Verdict`]).
    pub fn code(self) -> &'static str {
        optout_core::Verdict::from(self).as_str()
    }

    /// A short message for the requester.
    pub fn description(self) -> &'static str {
        match self {
            QualityVerdict::Ok => "The photo shows one clear face.",
            QualityVerdict::NoFace => {
                "We could not find a face in this photo. Please send a photo where your face is clearly visible."
            }
            QualityVerdict::SeveralFaces => {
                "This photo shows several faces of similar size. Please send a photo of only you."
            }
            QualityVerdict::FaceTooSmall => {
                "The face in this photo is too small. Please send a closer photo of your face."
            }
            QualityVerdict::TooBlurred => {
                "The face in this photo is too blurred. Please send a sharper photo."
            }
        }
    }

    pub fn is_ok(self) -> bool {
        self == QualityVerdict::Ok
    }
}

impl std::fmt::Display for QualityVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Variance of the 4-neighbour Laplacian of the grey version of an RGB buffer (`side` x `side`).
pub fn sharpness(rgb: &[u8], side: usize) -> f32 {
    if side < 3 || rgb.len() != side * side * 3 {
        return 0.0;
    }
    let grey: Vec<f32> = rgb
        .chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    // the inner part only: the aligned crop may have zero borders where the face touches the edge
    let (lo, hi) = (side / 8, side - side / 8);
    let (mut sum, mut sum2, mut n) = (0f64, 0f64, 0f64);
    for y in lo.max(1)..hi.min(side - 1) {
        for x in lo.max(1)..hi.min(side - 1) {
            let c = grey[y * side + x];
            let l = grey[y * side + x - 1]
                + grey[y * side + x + 1]
                + grey[(y - 1) * side + x]
                + grey[(y + 1) * side + x]
                - 4.0 * c;
            sum += f64::from(l);
            sum2 += f64::from(l) * f64::from(l);
            n += 1.0;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = sum / n;
    (sum2 / n - mean * mean).max(0.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_match_serde() {
        for v in [
            QualityVerdict::Ok,
            QualityVerdict::NoFace,
            QualityVerdict::SeveralFaces,
            QualityVerdict::FaceTooSmall,
            QualityVerdict::TooBlurred,
        ] {
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.code())
            );
            assert!(!v.description().is_empty());
        }
    }

    #[test]
    fn flat_is_not_sharp_and_checkerboard_is() {
        assert_eq!(sharpness(&vec![100u8; 112 * 112 * 3], 112), 0.0);
        let checker: Vec<u8> = (0..112 * 112)
            .flat_map(|i| {
                let v = if (i % 112 + i / 112) % 2 == 0 { 0 } else { 255 };
                [v, v, v]
            })
            .collect();
        assert!(sharpness(&checker, 112) > 1000.0);
        assert_eq!(sharpness(&[1, 2, 3], 1), 0.0);
    }
}
