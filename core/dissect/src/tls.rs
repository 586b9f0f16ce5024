//! TLS ClientHello: a zero-copy view over one handshake message.
//!
//! The whole structure (lengths of every vector and of every extension) is
//! checked once in [`ClientHello::parse`], so the accessors afterwards are
//! infallible and allocation-free. Extension *contents* are only checked by the
//! typed getters that read them, and a malformed extension yields `None` or an
//! empty iterator rather than an error: a passive observer must still name a
//! flow whose hello carries one odd extension.

use crate::cursor::Cursor;

/// TLS record content type of handshake records.
pub const CONTENT_TYPE_HANDSHAKE: u8 = 0x16;
/// Handshake message type of a ClientHello.
pub const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Length of a TLS record header (type, version, length).
pub const RECORD_HEADER_LEN: usize = 5;
/// Length of a handshake message header (type, 24-bit length).
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// Extension type numbers this module reads.
pub mod ext {
    /// server_name (RFC 6066).
    pub const SERVER_NAME: u16 = 0x0000;
    /// supported_groups (RFC 8422, RFC 8446).
    pub const SUPPORTED_GROUPS: u16 = 0x000a;
    /// signature_algorithms (RFC 8446).
    pub const SIGNATURE_ALGORITHMS: u16 = 0x000d;
    /// application_layer_protocol_negotiation (RFC 7301).
    pub const ALPN: u16 = 0x0010;
    /// supported_versions (RFC 8446).
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
    /// encrypted_client_hello (draft-ietf-tls-esni).
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
}

/// Which length field of a ClientHello was inconsistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// The TLS record length.
    Record,
    /// The 24-bit handshake message length.
    Handshake,
    /// legacy_session_id.
    SessionId,
    /// cipher_suites (also: odd byte count).
    CipherSuites,
    /// legacy_compression_methods.
    CompressionMethods,
    /// The extensions block.
    Extensions,
    /// One extension's own length.
    Extension,
}

/// Why bytes could not be read as a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The input ends before the structure does.
    #[error("truncated ClientHello")]
    Truncated,
    /// The record is not a TLS handshake record.
    #[error("not a TLS handshake record")]
    NotHandshake,
    /// The handshake message is of another type.
    #[error("handshake message type {0} is not a ClientHello")]
    NotClientHello(u8),
    /// A length field disagrees with the bytes around it.
    #[error("bad length in {field:?}")]
    BadLength {
        /// The field whose length was wrong.
        field: Field,
    },
    /// An SSLv2-compatible (pre-TLS) ClientHello: it has no extensions, so no name.
    #[error("SSLv2-compatible ClientHello")]
    SslV2,
}

/// True for the reserved GREASE values of RFC 8701 (`0x?a?a` with equal bytes).
pub fn is_grease(value: u16) -> bool {
    let [hi, lo] = value.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

/// True if `data` starts like an SSLv2-compatible ClientHello (RFC 5246 appendix E.2).
///
/// Two-byte header with the high bit set, then msg_type 1 and a 3.x version.
pub fn is_sslv2_client_hello(data: &[u8]) -> bool {
    matches!(data, [b0, _, 0x01, 0x03 | 0x00, ..] if b0 & 0x80 != 0)
}

/// A parsed ClientHello borrowing the handshake body it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    legacy_version: u16,
    random: &'a [u8; 32],
    session_id: &'a [u8],
    cipher_suites: &'a [u8],
    compression_methods: &'a [u8],
    extensions: &'a [u8],
}

impl<'a> ClientHello<'a> {
    /// Parse a complete handshake message: type 1, 24-bit length, body.
    ///
    /// Bytes after the message (e.g. a following handshake message) are ignored.
    pub fn parse_handshake(msg: &'a [u8]) -> Result<Self, TlsError> {
        let mut c = Cursor::new(msg);
        let msg_type = c.u8().ok_or(TlsError::Truncated)?;
        if msg_type != HANDSHAKE_CLIENT_HELLO {
            return Err(TlsError::NotClientHello(msg_type));
        }
        let len = c.u24().ok_or(TlsError::Truncated)?;
        let body = c.take(len as usize).ok_or(TlsError::Truncated)?;
        Self::parse(body)
    }

    /// Parse one TLS record that carries the whole ClientHello.
    ///
    /// Hellos split over several records need [`crate::HelloAssembler`].
    pub fn parse_record(record: &'a [u8]) -> Result<Self, TlsError> {
        if is_sslv2_client_hello(record) {
            return Err(TlsError::SslV2);
        }
        let mut c = Cursor::new(record);
        let content_type = c.u8().ok_or(TlsError::Truncated)?;
        if content_type != CONTENT_TYPE_HANDSHAKE {
            return Err(TlsError::NotHandshake);
        }
        let major = c.u8().ok_or(TlsError::Truncated)?;
        let _minor = c.u8().ok_or(TlsError::Truncated)?;
        if major != 3 {
            return Err(TlsError::NotHandshake);
        }
        let len = c.u16().ok_or(TlsError::Truncated)?;
        let fragment = c.take(usize::from(len)).ok_or(TlsError::Truncated)?;
        match Self::parse_handshake(fragment) {
            // The record ended before the handshake message: the hello spans records.
            Err(TlsError::Truncated) => Err(TlsError::Truncated),
            other => other,
        }
    }

    /// Parse a ClientHello body (the handshake message without its 4-byte header).
    pub fn parse(body: &'a [u8]) -> Result<Self, TlsError> {
        let mut c = Cursor::new(body);
        let legacy_version = c.u16().ok_or(TlsError::Truncated)?;
        let random = c.array::<32>().ok_or(TlsError::Truncated)?;
        let session_id = c.vec8().ok_or(TlsError::Truncated)?;
        if session_id.len() > 32 {
            return Err(TlsError::BadLength {
                field: Field::SessionId,
            });
        }
        let cipher_suites = c.vec16().ok_or(TlsError::Truncated)?;
        if cipher_suites.len() % 2 != 0 {
            return Err(TlsError::BadLength {
                field: Field::CipherSuites,
            });
        }
        let compression_methods = c.vec8().ok_or(TlsError::Truncated)?;
        if compression_methods.is_empty() {
            return Err(TlsError::BadLength {
                field: Field::CompressionMethods,
            });
        }
        // Extensions are optional before TLS 1.3; trailing bytes after them are ignored.
        let extensions = if c.is_empty() {
            &[][..]
        } else {
            c.vec16().ok_or(TlsError::BadLength {
                field: Field::Extensions,
            })?
        };
        let mut walk = Cursor::new(extensions);
        while !walk.is_empty() {
            walk.u16().ok_or(TlsError::BadLength {
                field: Field::Extension,
            })?;
            walk.vec16().ok_or(TlsError::BadLength {
                field: Field::Extension,
            })?;
        }
        Ok(Self {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }

    /// legacy_version (0x0303 for TLS 1.2 and 1.3 hellos).
    pub fn legacy_version(&self) -> u16 {
        self.legacy_version
    }

    /// The 32-byte client random.
    pub fn random(&self) -> &'a [u8; 32] {
        self.random
    }

    /// legacy_session_id (0 to 32 bytes).
    pub fn session_id(&self) -> &'a [u8] {
        self.session_id
    }

    /// Offered cipher suites in wire order, GREASE included.
    pub fn cipher_suites(&self) -> U16List<'a> {
        U16List(self.cipher_suites.chunks_exact(2))
    }

    /// legacy_compression_methods.
    pub fn compression_methods(&self) -> &'a [u8] {
        self.compression_methods
    }

    /// Extensions in wire order as (type, data), GREASE included.
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions(Cursor::new(self.extensions))
    }

    /// Data of the first extension of type `ty`.
    pub fn extension(&self, ty: u16) -> Option<&'a [u8]> {
        self.extensions().find(|&(t, _)| t == ty).map(|(_, d)| d)
    }

    /// The first host_name in server_name, if it is non-empty printable ASCII.
    ///
    /// With ECH ([`Self::has_ech`]) this is the outer, public name, not the real one.
    pub fn server_name(&self) -> Option<&'a str> {
        let mut c = Cursor::new(self.extension(ext::SERVER_NAME)?);
        let mut list = Cursor::new(c.vec16()?);
        while !list.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type == 0 {
                if name.is_empty() || !name.iter().all(|b| (0x21..=0x7e).contains(b)) {
                    return None;
                }
                return core::str::from_utf8(name).ok();
            }
        }
        None
    }

    /// ALPN protocol names in offered order; empty if absent or malformed.
    pub fn alpn(&self) -> Alpn<'a> {
        let list = self
            .extension(ext::ALPN)
            .and_then(|d| Cursor::new(d).vec16())
            .unwrap_or_default();
        Alpn(Cursor::new(list))
    }

    /// supported_versions values in offered order; empty if absent or malformed.
    pub fn supported_versions(&self) -> U16List<'a> {
        let list = self
            .extension(ext::SUPPORTED_VERSIONS)
            .and_then(|d| Cursor::new(d).vec8())
            .unwrap_or_default();
        U16List::new(list)
    }

    /// signature_algorithms values in offered order; empty if absent or malformed.
    pub fn signature_algorithms(&self) -> U16List<'a> {
        self.u16_vec16_extension(ext::SIGNATURE_ALGORITHMS)
    }

    /// supported_groups values in offered order; empty if absent or malformed.
    pub fn supported_groups(&self) -> U16List<'a> {
        self.u16_vec16_extension(ext::SUPPORTED_GROUPS)
    }

    /// Whether the hello carries an encrypted_client_hello extension (0xfe0d).
    pub fn has_ech(&self) -> bool {
        self.extension(ext::ENCRYPTED_CLIENT_HELLO).is_some()
    }

    /// The highest non-GREASE supported_versions entry, else legacy_version.
    pub fn max_version(&self) -> u16 {
        self.supported_versions()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    fn u16_vec16_extension(&self, ty: u16) -> U16List<'a> {
        let list = self
            .extension(ty)
            .and_then(|d| Cursor::new(d).vec16())
            .unwrap_or_default();
        U16List::new(list)
    }
}

/// Big-endian u16 values of a list; an odd trailing byte is ignored.
#[derive(Debug, Clone)]
pub struct U16List<'a>(core::slice::ChunksExact<'a, u8>);

impl<'a> U16List<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self(bytes.chunks_exact(2))
    }
}

impl Iterator for U16List<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        let pair = self.0.next()?;
        Some(u16::from_be_bytes(pair.try_into().ok()?))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Iterator over (extension type, extension data).
#[derive(Debug, Clone)]
pub struct Extensions<'a>(Cursor<'a>);

impl<'a> Iterator for Extensions<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let ty = self.0.u16()?;
        let data = self.0.vec16()?;
        Some((ty, data))
    }
}

/// Iterator over ALPN protocol names; stops at the first malformed entry.
#[derive(Debug, Clone)]
pub struct Alpn<'a>(Cursor<'a>);

impl<'a> Iterator for Alpn<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.vec8()
    }
}

#[cfg(test)]
pub(crate) mod build {
    //! A ClientHello builder for tests: every byte written by code, nothing captured.

    /// Fields of a hello under construction.
    #[derive(Debug, Clone)]
    pub(crate) struct HelloSpec {
        pub legacy_version: u16,
        pub session_id: Vec<u8>,
        pub ciphers: Vec<u16>,
        pub extensions: Vec<(u16, Vec<u8>)>,
    }

    impl Default for HelloSpec {
        fn default() -> Self {
            Self {
                legacy_version: 0x0303,
                session_id: vec![0x55; 32],
                ciphers: vec![0x1301, 0x1302, 0x1303],
                extensions: Vec::new(),
            }
        }
    }

    pub(crate) fn vec16(data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(data);
        out
    }

    pub(crate) fn sni_ext(name: &str) -> (u16, Vec<u8>) {
        let mut entry = vec![0u8];
        entry.extend(vec16(name.as_bytes()));
        (0x0000, vec16(&entry))
    }

    pub(crate) fn alpn_ext(protos: &[&[u8]]) -> (u16, Vec<u8>) {
        let mut list = Vec::new();
        for p in protos {
            list.push(p.len() as u8);
            list.extend_from_slice(p);
        }
        (0x0010, vec16(&list))
    }

    pub(crate) fn u16_list_ext(ty: u16, values: &[u16]) -> (u16, Vec<u8>) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        (ty, vec16(&bytes))
    }

    pub(crate) fn versions_ext(values: &[u16]) -> (u16, Vec<u8>) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let mut data = vec![bytes.len() as u8];
        data.extend(bytes);
        (0x002b, data)
    }

    impl HelloSpec {
        /// The ClientHello body.
        pub(crate) fn body(&self) -> Vec<u8> {
            let mut b = self.legacy_version.to_be_bytes().to_vec();
            b.extend((0..32u8).map(|i| i.wrapping_mul(7)));
            b.push(self.session_id.len() as u8);
            b.extend_from_slice(&self.session_id);
            let suites: Vec<u8> = self.ciphers.iter().flat_map(|c| c.to_be_bytes()).collect();
            b.extend(vec16(&suites));
            b.extend([1, 0]);
            let mut exts = Vec::new();
            for (ty, data) in &self.extensions {
                exts.extend(ty.to_be_bytes());
                exts.extend(vec16(data));
            }
            b.extend(vec16(&exts));
            b
        }

        /// The handshake message: type 1, 24-bit length, body.
        pub(crate) fn handshake(&self) -> Vec<u8> {
            let body = self.body();
            let len = (body.len() as u32).to_be_bytes();
            let mut m = vec![1, len[1], len[2], len[3]];
            m.extend(body);
            m
        }

        /// The handshake message in one TLS record.
        pub(crate) fn record(&self) -> Vec<u8> {
            records(&self.handshake(), usize::MAX)
        }
    }

    /// Split a handshake message into records of at most `max` payload bytes.
    pub(crate) fn records(msg: &[u8], max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in msg.chunks(max.min(16384)) {
            out.extend([0x16, 0x03, 0x01]);
            out.extend((chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn sample() -> HelloSpec {
        HelloSpec {
            ciphers: vec![0x0a0a, 0x1301, 0xc02b],
            extensions: vec![
                (0x1a1a, vec![]),
                sni_ext("example.com"),
                alpn_ext(&[b"h2", b"http/1.1"]),
                versions_ext(&[0x2a2a, 0x0304, 0x0303]),
                u16_list_ext(ext::SIGNATURE_ALGORITHMS, &[0x0403, 0x0804]),
                u16_list_ext(ext::SUPPORTED_GROUPS, &[0x4a4a, 0x001d, 0x0017]),
            ],
            ..HelloSpec::default()
        }
    }

    #[test]
    fn parses_every_field() {
        let spec = sample();
        let msg = spec.handshake();
        let hello = ClientHello::parse_handshake(&msg).unwrap();
        assert_eq!(hello.legacy_version(), 0x0303);
        assert_eq!(hello.random()[1], 7);
        assert_eq!(hello.session_id(), &[0x55; 32][..]);
        assert_eq!(
            hello.cipher_suites().collect::<Vec<_>>(),
            [0x0a0a, 0x1301, 0xc02b]
        );
        assert_eq!(hello.compression_methods(), &[0]);
        assert_eq!(hello.extensions().count(), 6);
        assert_eq!(hello.server_name(), Some("example.com"));
        assert_eq!(
            hello.alpn().collect::<Vec<_>>(),
            [&b"h2"[..], &b"http/1.1"[..]]
        );
        assert_eq!(
            hello.supported_versions().collect::<Vec<_>>(),
            [0x2a2a, 0x0304, 0x0303]
        );
        assert_eq!(
            hello.signature_algorithms().collect::<Vec<_>>(),
            [0x0403, 0x0804]
        );
        assert_eq!(
            hello.supported_groups().collect::<Vec<_>>(),
            [0x4a4a, 0x001d, 0x0017]
        );
        assert_eq!(hello.max_version(), 0x0304);
        assert!(!hello.has_ech());
    }

    #[test]
    fn record_wrapper_and_ech() {
        let mut spec = sample();
        spec.extensions.push((0xfe0d, vec![0, 1, 2, 3]));
        let rec = spec.record();
        let hello = ClientHello::parse_record(&rec).unwrap();
        assert!(hello.has_ech());
        assert_eq!(hello.server_name(), Some("example.com"));
        assert_eq!(
            ClientHello::parse_record(&rec[..rec.len() - 1]),
            Err(TlsError::Truncated)
        );
        let mut not_hs = rec.clone();
        not_hs[0] = 0x17;
        assert_eq!(
            ClientHello::parse_record(&not_hs),
            Err(TlsError::NotHandshake)
        );
        let mut server_hello = rec.clone();
        server_hello[5] = 2;
        assert_eq!(
            ClientHello::parse_record(&server_hello),
            Err(TlsError::NotClientHello(2))
        );
    }

    #[test]
    fn grease_values() {
        for v in [0x0a0a, 0x1a1a, 0xfafa] {
            assert!(is_grease(v), "{v:#x}");
        }
        for v in [0x0a1a, 0x0b0b, 0x1301, 0x0000] {
            assert!(!is_grease(v), "{v:#x}");
        }
    }

    #[test]
    fn no_extensions_and_bad_lengths() {
        // TLS 1.0-era hello: no extensions block at all.
        let mut body = HelloSpec::default().body();
        let ext_len_at = body.len() - 2;
        body.truncate(ext_len_at);
        let hello = ClientHello::parse(&body).unwrap();
        assert_eq!(hello.extensions().count(), 0);
        assert_eq!(hello.server_name(), None);
        assert_eq!(hello.max_version(), 0x0303);

        let mut odd = HelloSpec::default().body();
        // session id len 32 at offset 34; cipher vec length follows the session id.
        odd[34 + 1 + 32 + 1] = 5;
        assert!(ClientHello::parse(&odd).is_err());

        let mut long_sid = HelloSpec::default().body();
        long_sid[34] = 33;
        assert!(ClientHello::parse(&long_sid).is_err());

        let mut spec = sample();
        spec.extensions.push((0x0005, vec![1, 2, 3]));
        let mut body = spec.body();
        // Claim one more byte in the last extension than exists.
        let n = body.len();
        body[n - 4] = 4;
        assert_eq!(
            ClientHello::parse(&body),
            Err(TlsError::BadLength {
                field: Field::Extension
            })
        );
    }

    #[test]
    fn server_name_validation() {
        for bad in ["", "a b", "caf\u{e9}", "x\u{7f}"] {
            let spec = HelloSpec {
                extensions: vec![sni_ext(bad)],
                ..HelloSpec::default()
            };
            let body = spec.body();
            assert_eq!(
                ClientHello::parse(&body).unwrap().server_name(),
                None,
                "{bad:?}"
            );
        }
        // A non-host_name entry first is skipped.
        let mut list = vec![7u8, 0, 1, b'z', 0];
        list.extend(vec16(b"good.example"));
        let spec = HelloSpec {
            extensions: vec![(0, vec16(&list))],
            ..HelloSpec::default()
        };
        let body = spec.body();
        assert_eq!(
            ClientHello::parse(&body).unwrap().server_name(),
            Some("good.example")
        );
    }

    #[test]
    fn sslv2_detected() {
        let v2 = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15];
        assert!(is_sslv2_client_hello(&v2));
        assert_eq!(ClientHello::parse_record(&v2), Err(TlsError::SslV2));
        assert!(!is_sslv2_client_hello(&[0x16, 0x03, 0x01]));
    }

    #[test]
    fn never_panics_on_any_prefix_or_bitflip() {
        let msg = sample().handshake();
        for end in 0..msg.len() {
            let _ = ClientHello::parse_handshake(&msg[..end]);
        }
        for i in 0..msg.len() {
            for bit in 0..8 {
                let mut m = msg.clone();
                m[i] ^= 1 << bit;
                if let Ok(h) = ClientHello::parse_handshake(&m) {
                    let _ = h.server_name();
                    let _ = h.alpn().count();
                    let _ = h.max_version();
                    let _ = h.supported_groups().count();
                }
            }
        }
    }
}
