//! DTLS ClientHellos (RFC 6347 §4.2.2, RFC 9147 §5.3) read by the TLS parser.
//!
//! A DTLS ClientHello is a TLS one with three more handshake-header fields
//! (message_seq, fragment_offset, fragment_length) and a `cookie` after the
//! session id. Removing those gives the TLS ClientHello the rest of Nightjar
//! already reads (SNI, ALPN, JA4 with transport `d`), so the extensions are
//! parsed by one parser, not two.

use crate::cursor::Cursor;
use crate::hello_assembler::HelloMessage;
use crate::tls::{ClientHello, TlsError};

const CONTENT_HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const RECORD_HEADER_LEN: usize = 13;

/// Why a datagram yields no DTLS ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtlsError {
    /// Not a DTLS handshake record carrying a ClientHello.
    #[error("not a DTLS ClientHello")]
    NotClientHello,
    /// The ClientHello is split over several fragments (rare; not reassembled).
    #[error("fragmented DTLS ClientHello")]
    Fragmented,
    /// The bytes end before a length says.
    #[error("truncated DTLS record")]
    Truncated,
    /// The ClientHello inside is malformed.
    #[error("ClientHello: {0}")]
    Tls(TlsError),
}

/// A cheap look: a handshake record of a DTLS version (1.0 `fe ff`, 1.2 `fe fd`)
/// whose first message is a ClientHello.
pub fn looks_like_client_hello(datagram: &[u8]) -> bool {
    matches!(
        datagram,
        [
            CONTENT_HANDSHAKE,
            0xfe,
            0xff | 0xfd,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            _,
            CLIENT_HELLO,
            ..
        ]
    )
}

/// The ClientHello of the first record of `datagram`, as a TLS handshake message.
pub fn client_hello(datagram: &[u8]) -> Result<HelloMessage, DtlsError> {
    if !looks_like_client_hello(datagram) {
        return Err(DtlsError::NotClientHello);
    }
    let mut c = Cursor::new(datagram);
    c.take(RECORD_HEADER_LEN - 2).ok_or(DtlsError::Truncated)?;
    let record = c.vec16().ok_or(DtlsError::Truncated)?;
    let mut h = Cursor::new(record);
    h.u8().ok_or(DtlsError::Truncated)?;
    let length = h.u24().ok_or(DtlsError::Truncated)?;
    h.u16().ok_or(DtlsError::Truncated)?; // message_seq
    let fragment_offset = h.u24().ok_or(DtlsError::Truncated)?;
    let fragment_length = h.u24().ok_or(DtlsError::Truncated)?;
    if fragment_offset != 0 || fragment_length != length {
        return Err(DtlsError::Fragmented);
    }
    let body = h
        .take(usize::try_from(length).map_err(|_| DtlsError::Truncated)?)
        .ok_or(DtlsError::Truncated)?;
    let mut b = Cursor::new(body);
    let version = b.take(2).ok_or(DtlsError::Truncated)?;
    let random = b.take(32).ok_or(DtlsError::Truncated)?;
    let session_id = b.vec8().ok_or(DtlsError::Truncated)?;
    b.vec8().ok_or(DtlsError::Truncated)?; // cookie
    let rest = b.remaining();

    let tls_len = 2 + 32 + 1 + session_id.len() + rest.len();
    let len24 = u32::try_from(tls_len)
        .ok()
        .filter(|&l| l < 1 << 24)
        .ok_or(DtlsError::Truncated)?;
    let mut msg = Vec::with_capacity(4 + tls_len);
    msg.push(CLIENT_HELLO);
    msg.extend_from_slice(&len24.to_be_bytes()[1..]);
    msg.extend_from_slice(version);
    msg.extend_from_slice(random);
    msg.push(u8::try_from(session_id.len()).map_err(|_| DtlsError::Truncated)?);
    msg.extend_from_slice(session_id);
    msg.extend_from_slice(rest);
    ClientHello::parse_handshake(&msg).map_err(DtlsError::Tls)?;
    Ok(HelloMessage::from_validated(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::build::{HelloSpec, sni_ext};

    /// A DTLS 1.2 record around the TLS `hello` (handshake header included),
    /// with a cookie, as RFC 6347 §4.2.2 lays it out.
    pub(crate) fn dtls_record(hello: &[u8], cookie: &[u8]) -> Vec<u8> {
        let body = &hello[4..];
        let (head, rest) = body.split_at(2 + 32);
        let sid_len = usize::from(rest[0]);
        let (sid, after) = rest.split_at(1 + sid_len);
        let mut dbody = head.to_vec();
        dbody.extend_from_slice(sid);
        dbody.push(cookie.len() as u8);
        dbody.extend_from_slice(cookie);
        dbody.extend_from_slice(after);
        let len = (dbody.len() as u32).to_be_bytes();
        let mut hs = vec![CLIENT_HELLO, len[1], len[2], len[3], 0, 0, 0, 0, 0];
        hs.extend_from_slice(&len[1..]);
        hs.extend_from_slice(&dbody);
        let mut rec = vec![CONTENT_HANDSHAKE, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    fn hello() -> Vec<u8> {
        HelloSpec {
            extensions: vec![sni_ext("turn.example.org")],
            ..HelloSpec::default()
        }
        .handshake()
    }

    #[test]
    fn dtls_hello_reads_as_the_tls_hello_without_the_cookie() {
        let tls = hello();
        let d = dtls_record(&tls, &[7; 20]);
        assert!(looks_like_client_hello(&d));
        let h = client_hello(&d).unwrap();
        assert_eq!(h.as_bytes(), &tls[..]);
        assert_eq!(
            h.client_hello().unwrap().server_name(),
            Some("turn.example.org")
        );
    }

    #[test]
    fn fragments_and_other_records_are_refused() {
        let mut d = dtls_record(&hello(), &[]);
        d[13 + 11] = 0x10; // fragment_length differs from length
        assert_eq!(client_hello(&d), Err(DtlsError::Fragmented));
        assert_eq!(
            client_hello(&[23, 0xfe, 0xfd]),
            Err(DtlsError::NotClientHello)
        );
        assert!(!looks_like_client_hello(&[22, 3, 3, 0, 0]));
        let d = dtls_record(&hello(), &[1, 2]);
        for n in 0..d.len() {
            let _ = client_hello(&d[..n]);
        }
    }
}
