//! Whether a photo can be used for a face opt-out, and if not, why: the face pipeline's verdict,
//! the quality issue a case in `needs_better_photo` carries and the codes a reviewer picks from.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The verdict on a photo. Stored and sent as its snake_case code (`ok`, `no_face`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// One clear face: the photo can be embedded.
    Ok,
    NoFace,
    SeveralFaces,
    FaceTooSmall,
    TooBlurred,
    /// The photo cannot be decoded as an image.
    Unreadable,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Ok,
        Verdict::NoFace,
        Verdict::SeveralFaces,
        Verdict::FaceTooSmall,
        Verdict::TooBlurred,
        Verdict::Unreadable,
    ];

    /// The stable code (the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::NoFace => "no_face",
            Verdict::SeveralFaces => "several_faces",
            Verdict::FaceTooSmall => "face_too_small",
            Verdict::TooBlurred => "too_blurred",
            Verdict::Unreadable => "unreadable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_ok(self) -> bool {
        self == Verdict::Ok
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_as_before() {
        let codes = [
            "ok",
            "no_face",
            "several_faces",
            "face_too_small",
            "too_blurred",
            "unreadable",
        ];
        for (v, code) in Verdict::ALL.into_iter().zip(codes) {
            assert_eq!(v.as_str(), code);
            assert_eq!(v.to_string(), code);
            assert_eq!(Verdict::parse(code), Some(v));
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
        }
        for bad in ["", "OK", "No_face", "blurred", "writer-1"] {
            assert_eq!(Verdict::parse(bad), None, "{bad}");
            assert!(serde_json::from_str::<Verdict>(&format!("\"{bad}\"")).is_err());
        }
        assert!(Verdict::Ok.is_ok() && !Verdict::Unreadable.is_ok());
    }
}
