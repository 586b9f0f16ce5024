//! Compact encodings of flow columns (schema v3).
//!
//! The enum-like text columns (`conn_state`, `end_reason`, `name_source`)
//! take a small integer when the value is one of the known names and the text
//! itself otherwise, in columns declared without a type (no affinity, so
//! SQLite keeps whichever was bound). Known names cost one byte instead of
//! two to eight, and a name the engine adds later still round-trips.
//!
//! The codes are frozen: they are written to disk, and migration v3 maps
//! the v2 text with the same table (`migrations::V3`). Only append.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

/// Zeek `conn_state` values; code = index + 1.
pub const CONN_STATES: &[&str] = &[
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
];

/// Engine end reasons; code = index + 1.
pub const END_REASONS: &[&str] = &["fin", "rst", "idle", "evicted", "shutdown"];

/// Name sources; code = index + 1.
pub const NAME_SOURCES: &[&str] = &["sni", "quic_sni", "http_host", "dns"];

/// `flags` bit: the ClientHello carried ECH.
pub const FLAG_ECH: i64 = 1;
/// `flags` bit: `sni` equals `name` and is not stored separately.
pub const FLAG_SNI_IS_NAME: i64 = 2;
/// `flags` bit: `http_host` equals `name` and is not stored separately.
pub const FLAG_HOST_IS_NAME: i64 = 4;

/// The code of `s` in `table`, or the text itself.
pub fn encode<'a>(table: &[&str], s: &'a str) -> ToSqlOutput<'a> {
    match table.iter().position(|t| *t == s) {
        Some(i) => ToSqlOutput::Owned(Value::Integer(i64::try_from(i).unwrap_or(0) + 1)),
        None => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
    }
}

/// Inverse of [`encode`]; `None` for an unknown code or a non-text value.
pub fn decode(table: &[&str], v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Integer(c) => usize::try_from(c.checked_sub(1)?)
            .ok()
            .and_then(|i| table.get(i))
            .map(|s| (*s).to_string()),
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_string),
        _ => None,
    }
}

/// Bytes of a Community ID v1 hash.
const COMMUNITY_HASH_LEN: usize = 20;

/// A Community ID `1:<base64 of 20 bytes>` as its 20 raw bytes (30 text
/// bytes become 20); anything else (another version, non-canonical base64)
/// stays text so it reads back unchanged.
pub fn encode_community_id(s: &str) -> ToSqlOutput<'_> {
    let text = ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()));
    let Some(b64) = s.strip_prefix("1:") else {
        return text;
    };
    let mut buf = [0u8; COMMUNITY_HASH_LEN + 3];
    match STANDARD.decode_slice(b64, &mut buf) {
        // `STANDARD` requires canonical padding and zero trailing bits, so a
        // successful decode re-encodes to exactly `b64`.
        Ok(COMMUNITY_HASH_LEN) => ToSqlOutput::Owned(Value::Blob(
            buf.get(..COMMUNITY_HASH_LEN).unwrap_or_default().to_vec(),
        )),
        _ => text,
    }
}

/// Inverse of [`encode_community_id`]; `None` for NULL or a bad value.
pub fn decode_community_id(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Blob(b) if b.len() == COMMUNITY_HASH_LEN => {
            Some(format!("1:{}", STANDARD.encode(b)))
        }
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(o: ToSqlOutput<'_>) -> Value {
        match o {
            ToSqlOutput::Owned(v) => v,
            ToSqlOutput::Borrowed(r) => Value::try_from(r).unwrap(),
            _ => Value::Null,
        }
    }

    #[test]
    fn known_names_become_codes_and_unknown_stay_text() {
        for table in [CONN_STATES, END_REASONS, NAME_SOURCES] {
            for (i, s) in table.iter().enumerate() {
                let v = owned(encode(table, s));
                assert_eq!(v, Value::Integer(i64::try_from(i).unwrap() + 1));
                assert_eq!(decode(table, (&v).into()).as_deref(), Some(*s));
            }
        }
        let v = owned(encode(END_REASONS, "cosmic_ray"));
        assert_eq!(v, Value::Text("cosmic_ray".into()));
        assert_eq!(
            decode(END_REASONS, (&v).into()).as_deref(),
            Some("cosmic_ray")
        );
        assert_eq!(decode(END_REASONS, ValueRef::Integer(0)), None);
        assert_eq!(decode(END_REASONS, ValueRef::Integer(99)), None);
        assert_eq!(decode(END_REASONS, ValueRef::Null), None);
    }

    #[test]
    fn community_id_packs_to_twenty_bytes_only_when_canonical() {
        let id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
        let v = owned(encode_community_id(id));
        assert!(matches!(&v, Value::Blob(b) if b.len() == 20));
        assert_eq!(decode_community_id((&v).into()).as_deref(), Some(id));
        // Another version, a short hash and bad base64 stay as given.
        for odd in [
            "2:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            "1:LQU9qZlK+B5F3KDmev6m5PMibrh=",
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg",
            "1:AAAA",
            "1:!!",
            "1:",
        ] {
            let v = owned(encode_community_id(odd));
            assert_eq!(v, Value::Text(odd.into()));
            assert_eq!(decode_community_id((&v).into()).as_deref(), Some(odd));
        }
        assert_eq!(decode_community_id(ValueRef::Blob(&[1, 2, 3])), None);
    }
}
