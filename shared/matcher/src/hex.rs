//! Strict parsing and formatting of 32-byte values written as 64 hex digits (the `hex` crate,
//! with errors that say which character is wrong).

use thiserror::Error;

/// Why a hex string is not a 32-byte value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    #[error("expected 64 hex digits (32 bytes), found {found} characters")]
    Length { found: usize },
    #[error("character {ch:?} at position {position} is not a hex digit (0-9, a-f, A-F)")]
    InvalidChar { position: usize, ch: char },
}

/// Parses exactly 64 hex digits (either case) into 32 bytes.
pub fn parse_hex32(s: &str) -> Result<[u8; 32], HexError> {
    let mut out = [0u8; 32];
    if s.len() == 64 && hex::decode_to_slice(s, &mut out).is_ok() {
        return Ok(out);
    }
    Err(why_not(s))
}

/// Why `s` is not 64 hex digits, counted in characters (not bytes).
#[cold]
fn why_not(s: &str) -> HexError {
    let found = s.chars().count();
    match s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        Some((position, ch)) if found == 64 => HexError::InvalidChar { position, ch },
        _ => HexError::Length { found },
    }
}

/// Formats 32 bytes as 64 lowercase hex digits.
pub fn to_hex32(bytes: &[u8; 32]) -> String {
    let mut digits = [0u8; 64];
    // Cannot fail: the output is exactly twice the input.
    let _ = hex::encode_to_slice(bytes, &mut digits);
    // Hex digits are ASCII: never lossy.
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let h = "00ff10AbcdEF".to_string() + &"0".repeat(52);
        let b = parse_hex32(&h).unwrap();
        assert_eq!(b[1], 0xff);
        assert_eq!(b[3], 0xab);
        assert_eq!(to_hex32(&b), h.to_lowercase());
        assert_eq!(parse_hex32("abc"), Err(HexError::Length { found: 3 }));
        let bad = "g".to_string() + &"0".repeat(63);
        assert_eq!(
            parse_hex32(&bad),
            Err(HexError::InvalidChar {
                position: 0,
                ch: 'g'
            })
        );
        assert_eq!(
            parse_hex32(&(h.clone() + "0")),
            Err(HexError::Length { found: 65 })
        );
        // Multi-byte characters never panic on slicing, and count as one character each.
        let multi = "é".repeat(32);
        assert_eq!(parse_hex32(&multi), Err(HexError::Length { found: 32 }));
        let one = "0".repeat(40) + "é" + &"0".repeat(23);
        assert_eq!(
            parse_hex32(&one),
            Err(HexError::InvalidChar {
                position: 40,
                ch: 'é'
            })
        );
        assert_eq!(
            HexError::InvalidChar {
                position: 40,
                ch: 'é'
            }
            .to_string(),
            "character 'é' at position 40 is not a hex digit (0-9, a-f, A-F)"
        );
    }
}
