//! Strict parsing and formatting of 32-byte values written as 64 hex digits.

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
    let found = s.chars().count();
    if s.len() != 64 || found != 64 {
        return Err(HexError::Length { found });
    }
    let mut out = [0u8; 32];
    let bytes = s.as_bytes();
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = nibble(bytes[2 * i], 2 * i)?;
        let lo = nibble(bytes[2 * i + 1], 2 * i + 1)?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

fn nibble(b: u8, position: usize) -> Result<u8, HexError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(HexError::InvalidChar {
            position,
            ch: char::from(b),
        }),
    }
}

/// Formats 32 bytes as 64 lowercase hex digits.
pub fn to_hex32(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
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
        // Multi-byte characters never panic on slicing.
        let multi = "é".repeat(32);
        assert!(parse_hex32(&multi).is_err());
    }
}
