//! A list of byte strings, each behind a big-endian `u16` length, for targets
//! that take several datagrams (QUIC client datagrams of one flow).
//!
//! A length running past the end takes what is left, so every input decodes.

/// Append `bytes` as one record (cut at 65,535 bytes).
pub fn encode(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(bytes.get(..n).unwrap_or_default());
}

/// The records of `data`, in order.
pub fn decode(data: &[u8]) -> Records<'_> {
    Records { rest: data }
}

/// Iterator returned by [`decode`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let len = match crate::take_u16(&mut self.rest) {
            Some(n) => usize::from(n),
            // A lone trailing byte is a record of its own.
            None => return Some(core::mem::take(&mut self.rest)),
        };
        Some(crate::take_bytes(&mut self.rest, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut out = Vec::new();
        encode(&mut out, b"abc");
        encode(&mut out, b"");
        encode(&mut out, b"xy");
        let got: Vec<&[u8]> = decode(&out).collect();
        assert_eq!(got, vec![&b"abc"[..], b"", b"xy"]);
        // A length that overruns takes the rest.
        let got: Vec<&[u8]> = decode(&[0, 9, 1, 2]).collect();
        assert_eq!(got, vec![&[1u8, 2][..]]);
        let got: Vec<&[u8]> = decode(&[7]).collect();
        assert_eq!(got, vec![&[7u8][..]]);
    }
}
