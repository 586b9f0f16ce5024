//! A DNS upstream as a person writes it in settings or on a command line:
//! `IP[:PORT]` or `udp://IP:PORT` (plain), `tls://IP[:853]#NAME`
//! (DNS-over-TLS) or `https://IP[:443][/PATH]#NAME` (DNS-over-HTTPS, path
//! default `/dns-query`). NAME is the name the server's certificate must
//! carry; the address is given, never looked up, so the upstream does not
//! depend on the resolver it replaces.

use core::net::{IpAddr, SocketAddr};
use core::str::FromStr;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::secure_dns::{SecureDnsConfig, SecureDnsError, SecureTransport, client_config};

/// A parsed DNS upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsUpstream {
    /// Where queries go.
    pub addr: SocketAddr,
    /// For an encrypted upstream: the protocol and the certificate's name.
    pub secure: Option<(SecureTransport, ServerName<'static>)>,
}

/// Why an upstream string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The address part is not `IP` or `IP:PORT`.
    #[error("{0:?} is not IP or IP:PORT")]
    Address(String),
    /// A `tls://` or `https://` upstream without `#NAME`.
    #[error("an encrypted upstream needs #SERVER_NAME")]
    MissingServerName,
    /// `#NAME` is not a DNS name or IP address.
    #[error("server name {0:?} is not a DNS name or address")]
    ServerName(String),
}

fn address(hostport: &str, port: u16) -> Result<SocketAddr, UpstreamError> {
    let bracketed = hostport.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    hostport
        .parse::<SocketAddr>()
        .ok()
        .or_else(|| {
            hostport
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, port))
        })
        .or_else(|| {
            bracketed
                .and_then(|h| h.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, port))
        })
        .ok_or_else(|| UpstreamError::Address(hostport.to_owned()))
}

fn server_name(n: Option<&str>) -> Result<ServerName<'static>, UpstreamError> {
    let n = n.ok_or(UpstreamError::MissingServerName)?;
    ServerName::try_from(n.to_owned()).map_err(|_| UpstreamError::ServerName(n.to_owned()))
}

impl FromStr for DnsUpstream {
    type Err = UpstreamError;

    fn from_str(v: &str) -> Result<Self, UpstreamError> {
        let v = v.trim();
        if let Some(rest) = v.strip_prefix("tls://") {
            let (hostport, n) = rest
                .split_once('#')
                .map_or((rest, None), |(h, n)| (h, Some(n)));
            return Ok(DnsUpstream {
                addr: address(hostport, 853)?,
                secure: Some((SecureTransport::Tls, server_name(n)?)),
            });
        }
        if let Some(rest) = v.strip_prefix("https://") {
            let (rest, n) = rest
                .split_once('#')
                .map_or((rest, None), |(h, n)| (h, Some(n)));
            let (hostport, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, "/dns-query"),
            };
            return Ok(DnsUpstream {
                addr: address(hostport, 443)?,
                secure: Some((
                    SecureTransport::Https {
                        path: path.to_owned(),
                    },
                    server_name(n)?,
                )),
            });
        }
        Ok(DnsUpstream {
            addr: address(v.strip_prefix("udp://").unwrap_or(v), 53)?,
            secure: None,
        })
    }
}

impl DnsUpstream {
    /// The encrypted upstream's configuration with the platform's verifier
    /// (also trusting `extra_roots`: a test CA; production passes none), or
    /// None for a plain upstream.
    pub fn secure_config(
        &self,
        extra_roots: Vec<CertificateDer<'static>>,
    ) -> Result<Option<SecureDnsConfig>, SecureDnsError> {
        let Some((transport, server_name)) = self.secure.clone() else {
            return Ok(None);
        };
        Ok(Some(SecureDnsConfig {
            transport,
            server_name,
            tls: client_config(extra_roots)?,
        }))
    }
}

/// The certificates in PEM text (other PEM sections are skipped).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, SecureDnsError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(SecureDnsError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(s: &str) -> Result<DnsUpstream, UpstreamError> {
        s.parse()
    }

    #[test]
    fn every_form_parses_with_its_default_port() {
        for (s, want) in [
            ("192.0.2.1", "192.0.2.1:53"),
            ("udp://192.0.2.1:5353", "192.0.2.1:5353"),
            ("[2001:db8::1]", "[2001:db8::1]:53"),
            ("2001:db8::1", "[2001:db8::1]:53"),
            ("tls://192.0.2.1#dns.example", "192.0.2.1:853"),
            ("https://192.0.2.1/q#dns.example", "192.0.2.1:443"),
            (
                "https://[2001:db8::1]:8443#dns.example",
                "[2001:db8::1]:8443",
            ),
        ] {
            assert_eq!(up(s).unwrap().addr, want.parse().unwrap(), "{s}");
        }
        let doh = up("https://192.0.2.1:444#dns.example").unwrap();
        assert_eq!(
            doh.secure.unwrap().0,
            SecureTransport::Https {
                path: "/dns-query".into()
            }
        );
        let doh = up("https://192.0.2.1/custom/path#dns.example").unwrap();
        assert_eq!(
            doh.secure.unwrap().0,
            SecureTransport::Https {
                path: "/custom/path".into()
            }
        );
        assert!(up("192.0.2.1").unwrap().secure.is_none());
    }

    #[test]
    fn bad_upstreams_say_why() {
        assert_eq!(up("tls://192.0.2.1"), Err(UpstreamError::MissingServerName));
        assert!(matches!(
            up("tls://192.0.2.1#bad name!"),
            Err(UpstreamError::ServerName(_))
        ));
        assert!(matches!(up("dns.example"), Err(UpstreamError::Address(_))));
        assert!(matches!(
            up("https://dns.example/q#dns.example"),
            Err(UpstreamError::Address(_))
        ));
        assert!(
            pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
                .is_err()
        );
        assert!(pem_certificates(b"").unwrap().is_empty());
    }
}
