//! A checked reader over a byte slice: every read returns `None` past the end
//! instead of panicking, and never moves the position on failure.

/// Forward-only reader over borrowed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let head = self.take(N)?;
        head.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.rest.split_first()?;
        self.rest = tail;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array::<2>().map(|a| u16::from_be_bytes(*a))
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        let [a, b, c] = *self.array::<3>()?;
        Some(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array::<4>().map(|a| u32::from_be_bytes(*a))
    }

    /// A vector with a one-byte length prefix.
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let save = *self;
        let len = self.u8()?;
        let out = self.take(usize::from(len));
        if out.is_none() {
            *self = save;
        }
        out
    }

    /// A vector with a two-byte length prefix.
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let save = *self;
        let len = self.u16()?;
        let out = self.take(usize::from(len));
        if out.is_none() {
            *self = save;
        }
        out
    }

    /// A QUIC variable-length integer (RFC 9000 section 16).
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let first = *self.rest.first()?;
        let len = 1usize << (first >> 6);
        let bytes = self.take(len)?;
        let mut value = u64::from(first & 0x3f);
        for &b in bytes.iter().skip(1) {
            value = (value << 8) | u64::from(b);
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_from_rfc9000_appendix_a() {
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, want) in cases {
            let mut c = Cursor::new(bytes);
            assert_eq!(c.varint(), Some(want));
            assert!(c.is_empty());
        }
        assert_eq!(Cursor::new(&[0x40]).varint(), None);
    }

    #[test]
    fn failed_reads_do_not_advance() {
        let mut c = Cursor::new(&[0, 5, 1, 2]);
        assert_eq!(c.vec16(), None);
        assert_eq!(c.remaining(), &[0, 5, 1, 2]);
        assert_eq!(c.u24(), Some(0x0501));
        assert_eq!(c.u32(), None);
        assert_eq!(c.u8(), Some(2));
        assert_eq!(c.u8(), None);
    }
}
