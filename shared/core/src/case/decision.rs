//! What a reviewer decides, parsed from the decision form.

use super::DomainError;
use crate::model::{BETTER_PHOTO_CODES, Outcome, RejectReason};
use crate::verdict::Verdict;

/// The longest reviewer note.
pub const NOTE_MAX: usize = 2000;

/// What a reviewer decides, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionInput {
    Approve {
        note: Option<String>,
    },
    Reject {
        reason: RejectReason,
        note: Option<String>,
    },
    BetterPhoto {
        code: Verdict,
        note: Option<String>,
    },
}

/// A reviewer's free-text note: optional, at most [`NOTE_MAX`] characters, line breaks allowed,
/// no other control characters. A wrong note is [`DomainError::Invalid`]`("note")`.
pub fn parse_note(raw: &str) -> Result<Option<String>, DomainError> {
    let s = raw.trim().replace("\r\n", "\n");
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > NOTE_MAX
        || s.chars().any(|c| c.is_control() && c != '\n')
        || s.chars().any(|c| {
            matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
    {
        return Err(DomainError::Invalid("note"));
    }
    Ok(Some(s))
}

impl DecisionInput {
    /// Parses the fields of a decision form: `decision` (`approve`, `reject`, `better_photo`),
    /// `reason` (a [`RejectReason`] code, for `reject`), `quality` (a code of
    /// [`BETTER_PHOTO_CODES`], for `better_photo`) and `note`. A wrong field is
    /// [`DomainError::Invalid`] naming it.
    pub fn parse(
        decision: &str,
        reason: Option<&str>,
        quality: Option<&str>,
        note: Option<&str>,
    ) -> Result<Self, DomainError> {
        let note = parse_note(note.unwrap_or(""))?;
        match decision {
            "approve" => Ok(DecisionInput::Approve { note }),
            "reject" => {
                let reason = reason
                    .and_then(RejectReason::parse)
                    .ok_or(DomainError::Invalid("reason"))?;
                if reason == RejectReason::Other && note.is_none() {
                    return Err(DomainError::Invalid("note"));
                }
                Ok(DecisionInput::Reject { reason, note })
            }
            "better_photo" => {
                let code = quality
                    .and_then(Verdict::parse)
                    .filter(|c| BETTER_PHOTO_CODES.contains(c))
                    .ok_or(DomainError::Invalid("quality"))?;
                Ok(DecisionInput::BetterPhoto { code, note })
            }
            _ => Err(DomainError::Invalid("decision")),
        }
    }

    /// The outcome this decision gives.
    pub fn outcome(&self) -> Outcome {
        match self {
            DecisionInput::Approve { .. } => Outcome::Approved,
            DecisionInput::Reject { .. } => Outcome::Rejected,
            DecisionInput::BetterPhoto { .. } => Outcome::BetterPhoto,
        }
    }
}
