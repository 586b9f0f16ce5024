//! DNS names as text: RFC 1035 §5.1 presentation format, and a wire-format name
//! reader that keeps names longer than the protocol allows instead of refusing them.
//!
//! hickory writes a non-printable byte as `\ooo` in *octal* (`j\344germeister` for 228),
//! which no resolver, zone file or tshark reads back as the same byte. Every log, export
//! and alert shows names through [`write_label`] instead: printable ASCII as itself,
//! `\.` and `\\` for a dot or backslash inside a label, and `\DDD` in *decimal* for
//! everything else, so [`decode`] recovers the exact bytes from the text.
//!
//! DNS tunnels and malformed names are exactly the names a detector must see, so a
//! name past 255 bytes is read (up to [`MAX_KEPT`]) and flagged rather than dropped.

use core::fmt::Write;

/// The longest name, in wire bytes (RFC 1035 §2.3.4), a compliant message carries.
pub const MAX_NAME_WIRE: usize = 255;
/// Wire bytes of an over-long name kept for the record; past this the rest is skipped
/// (still flagged) so a hostile message cannot make one name cost more than this.
pub const MAX_KEPT: usize = 1024;

/// Appends one label's bytes to `out` in presentation format.
pub fn write_label(label: &[u8], out: &mut String) {
    for &b in label {
        match b {
            b'.' => out.push_str("\\."),
            b'\\' => out.push_str("\\\\"),
            0x21..=0x7e => out.push(char::from(b)),
            // Writing to a String cannot fail.
            _ => drop(write!(out, "\\{b:03}")),
        }
    }
}

/// A name's labels (root excluded) in presentation format without the trailing
/// dot; the root name is `"."`.
pub fn present<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for label in labels {
        if !out.is_empty() {
            out.push('.');
        }
        write_label(label, &mut out);
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Why presentation text is not a name [`decode`] can read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresentationError {
    /// A `\` ends the text or is followed by an incomplete or out-of-range `\DDD`.
    #[error("bad escape in DNS name text")]
    BadEscape,
    /// Two dots in a row, or a leading dot, outside the root name `"."`.
    #[error("empty label in DNS name text")]
    EmptyLabel,
}

/// Reads presentation text back into label bytes: the inverse of [`present`].
pub fn decode(text: &str) -> Result<Vec<Vec<u8>>, PresentationError> {
    if text == "." {
        return Ok(Vec::new());
    }
    let mut labels = Vec::new();
    let mut label = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'.' => {
                if label.is_empty() {
                    return Err(PresentationError::EmptyLabel);
                }
                labels.push(core::mem::take(&mut label));
            }
            b'\\' => {
                let first = bytes.next().ok_or(PresentationError::BadEscape)?;
                if first.is_ascii_digit() {
                    let mut value = u32::from(first - b'0');
                    for _ in 0..2 {
                        let d = bytes
                            .next()
                            .filter(u8::is_ascii_digit)
                            .ok_or(PresentationError::BadEscape)?;
                        value = value * 10 + u32::from(d - b'0');
                    }
                    label.push(u8::try_from(value).map_err(|_| PresentationError::BadEscape)?);
                } else {
                    label.push(first);
                }
            }
            _ => label.push(b),
        }
    }
    if label.is_empty() {
        // A trailing dot (fully-qualified text) ends the last label; an empty text is no name.
        if labels.is_empty() {
            return Err(PresentationError::EmptyLabel);
        }
    } else {
        labels.push(label);
    }
    Ok(labels)
}

/// A name read from the wire by [`read_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireName {
    /// The labels' bytes, in order, up to [`MAX_KEPT`] wire bytes.
    pub labels: Vec<Vec<u8>>,
    /// The name is longer than [`MAX_NAME_WIRE`] (its kept part may be cut at [`MAX_KEPT`]).
    pub too_long: bool,
    /// Offset just past the name where it sits in the message (after its first pointer
    /// or its terminating zero), where the next field starts.
    pub end: usize,
}

/// Why a wire-format name could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireNameError {
    /// The message ends inside the name.
    Truncated,
    /// A compression pointer does not point before every label read so far.
    BadPointer,
    /// A label type other than a plain label or a pointer (RFC 6891 retired the rest).
    BadLabelType,
}

/// Reads the (possibly compressed) name at `start` in `message`.
///
/// Every pointer must point before every label already read, so targets strictly
/// decrease: no loops, and the bytes visited never exceed the message's length.
pub fn read_name(message: &[u8], start: usize) -> Result<WireName, WireNameError> {
    let mut labels = Vec::new();
    let mut wire_len = 1usize; // the root's zero byte
    let mut pos = start;
    let mut lowest = start;
    let mut end = None;
    loop {
        let len = *message.get(pos).ok_or(WireNameError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                let end = end.unwrap_or(pos + 1);
                return Ok(WireName {
                    labels,
                    too_long: wire_len > MAX_NAME_WIRE,
                    end,
                });
            }
            0x00 => {
                let body = message
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(WireNameError::Truncated)?;
                wire_len += body.len() + 1;
                if wire_len <= MAX_KEPT {
                    labels.push(body.to_vec());
                } else if end.is_some() {
                    // Already past the name's place in the message: nothing more to find.
                    return Ok(WireName {
                        labels,
                        too_long: true,
                        end: end.unwrap_or(pos),
                    });
                }
                pos += body.len() + 1;
            }
            0xc0 => {
                let low = *message.get(pos + 1).ok_or(WireNameError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= lowest {
                    return Err(WireNameError::BadPointer);
                }
                end.get_or_insert(pos + 2);
                lowest = target;
                pos = target;
            }
            _ => return Err(WireNameError::BadLabelType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_labels_are_themselves() {
        assert_eq!(
            present([&b"www"[..], b"example", b"com"]),
            "www.example.com"
        );
        assert_eq!(present(core::iter::empty::<&[u8]>()), ".");
        assert_eq!(present([&b"_dmarc"[..], b"*", b"a-b"]), "_dmarc.*.a-b");
    }

    #[test]
    fn escapes_are_decimal_and_dots_and_backslashes_are_quoted() {
        // RFC 1035 §5.1: \DDD is decimal. 228 is 'ä' in Latin-1 (hickory wrote \344).
        assert_eq!(
            present([&b"j\xe4germeister"[..], b"de"]),
            "j\\228germeister.de"
        );
        assert_eq!(present([&b"a.b"[..], b"c\\d"]), "a\\.b.c\\\\d");
        assert_eq!(present([&b"\x00 \x7f\xff"[..]]), "\\000\\032\\127\\255");
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks(63) {
            let labels = [chunk, b"x.y", b"\\"];
            let text = present(labels);
            assert!(text.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{text}");
            let back = decode(&text).unwrap();
            assert_eq!(back, labels.map(<[u8]>::to_vec));
        }
        assert_eq!(decode(".").unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(decode("a.b.").unwrap(), vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn bad_text_is_an_error() {
        assert_eq!(decode("a\\"), Err(PresentationError::BadEscape));
        assert_eq!(decode("a\\25"), Err(PresentationError::BadEscape));
        assert_eq!(decode("a\\256"), Err(PresentationError::BadEscape));
        assert_eq!(decode("a..b"), Err(PresentationError::EmptyLabel));
        assert_eq!(decode(""), Err(PresentationError::EmptyLabel));
    }

    #[test]
    fn compressed_names_follow_backward_pointers() {
        // "example.com" at 0, then "www" + pointer to 0 at 13.
        let mut m = b"\x07example\x03com\x00".to_vec();
        m.extend_from_slice(b"\x03www\xc0\x00");
        let n = read_name(&m, 13).unwrap();
        assert_eq!(
            present(n.labels.iter().map(Vec::as_slice)),
            "www.example.com"
        );
        assert_eq!(n.end, m.len());
        assert!(!n.too_long);
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_refused() {
        assert_eq!(read_name(b"\xc0\x00", 0), Err(WireNameError::BadPointer));
        assert_eq!(
            read_name(b"\x01a\xc0\x04\x00", 0),
            Err(WireNameError::BadPointer)
        );
        // A pointer back into a name whose later bytes point forward again.
        let m = b"\x01a\xc0\x05\x00\x01b\xc0\x00";
        assert_eq!(read_name(m, 5), Err(WireNameError::BadPointer));
        assert_eq!(read_name(b"\x40", 0), Err(WireNameError::BadLabelType));
        assert_eq!(read_name(b"\x05ab", 0), Err(WireNameError::Truncated));
    }

    #[test]
    fn over_long_names_are_kept_and_flagged() {
        let mut m = Vec::new();
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.push(0);
        let n = read_name(&m, 0).unwrap();
        assert!(n.too_long);
        assert_eq!(n.labels.len(), 5);
        assert_eq!(n.end, m.len());

        // Far past the cap: the kept part stops at MAX_KEPT, the end is still found.
        let mut m = Vec::new();
        for _ in 0..40 {
            m.push(63);
            m.extend_from_slice(&[b'y'; 63]);
        }
        m.push(0);
        let n = read_name(&m, 0).unwrap();
        assert!(n.too_long);
        assert_eq!(n.labels.len(), (MAX_KEPT - 1) / 64);
        assert_eq!(n.end, m.len());
    }
}
