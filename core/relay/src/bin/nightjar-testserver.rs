//! Servers and clients for the relay's end-to-end tests and benchmarks.
//! Servers run on the "far side" namespace, clients inside the device
//! namespace behind the relay.
//!
//! ```text
//! nightjar-testserver serve --bind 0.0.0.0 --answer 10.112.0.2 [--name NAME=IP]...
//!     HTTP on :8080 (GET /N answers N pattern bytes), UDP echo on :7,
//!     DNS on :53 over UDP and TCP (A answers from --name, else the bind address),
//!     HTTPS on :8443 (the same as :8080) with a certificate for each --tls-name
//!     (default: the answer address) signed by a CA generated at start,
//!     written in PEM to --ca-out PATH; with the same certificate,
//!     DNS-over-TLS on :853 and DNS-over-HTTPS (POST /dns-query) on :443,
//!     which answer A queries not named by --name with 198.51.100.85 (DoT)
//!     and 198.51.100.43 (DoH), so a test can tell which path answered;
//!     with --any-ports every listener takes a free port and the ready line
//!     names them: `ready http=P https=P dot=P doh=P dns=P echo=P`
//!     (for tests on a shared loopback, without root)
//! nightjar-testserver pattern N           write the N bytes GET /N serves to stdout
//! nightjar-testserver get ADDR N          download N bytes, print "ok <fnv64>" if intact
//! nightjar-testserver conns ADDR COUNT N [--hold]  COUNT concurrent downloads of N bytes;
//!     with --hold each connection waits, open, until all COUNT have connected or failed
//! nightjar-testserver dig SERVER NAME [--tcp]   print the rcode and the addresses
//! nightjar-testserver echo ADDR           one UDP round trip
//! nightjar-testserver connect ADDR        print "connected" or "refused"
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The byte at offset `i` of every download, so both ends agree on content.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 11)) as u8
}

fn fnv64(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

/// The FNV-1a hash of the first `n` pattern bytes.
fn expected_hash(n: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    let mut chunk = Vec::with_capacity(65536);
    let mut i = 0;
    while i < n {
        chunk.clear();
        let end = (i + 65536).min(n);
        chunk.extend((i..end).map(pattern));
        fnv64(&mut h, &chunk);
        i = end;
    }
    h
}

/// Answer `GET /N` requests with N pattern bytes until the client closes.
fn serve_http<S: Read + Write>(stream: S) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/0").to_owned();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let n: u64 = path.trim_start_matches('/').parse().unwrap_or(0);
        let stream = reader.get_mut();
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )?;
        write_pattern(stream, n)?;
        stream.flush()?;
    }
}

/// Write the first `n` pattern bytes.
fn write_pattern(out: &mut impl Write, n: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut i = 0u64;
    while i < n {
        let end = (i + buf.len() as u64).min(n);
        let len = (end - i) as usize;
        for (k, b) in buf.iter_mut().take(len).enumerate() {
            *b = pattern(i + k as u64);
        }
        out.write_all(buf.get(..len).unwrap_or_default())?;
        i = end;
    }
    Ok(())
}

/// A test CA and a certificate it signed for `names` (DNS names or IP
/// literals): the server's chain and key, and the CA in PEM for clients.
fn test_pki(names: &[String]) -> Result<(rustls::ServerConfig, String), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let e = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "nightjar test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).map_err(e)?;
    let leaf_key = KeyPair::generate().map_err(e)?;
    let leaf = CertificateParams::new(names.to_vec())
        .map_err(e)?
        .signed_by(&leaf_key, &ca, &ca_key)
        .map_err(e)?;
    let chain = vec![leaf.der().clone(), ca.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| e.to_string())?;
    Ok((config, ca.pem()))
}

fn serve_https(config: std::sync::Arc<rustls::ServerConfig>, stream: TcpStream) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let _ = serve_http(rustls::StreamOwned::new(conn, stream));
}

fn dns_answer(query: &[u8], names: &[(String, Ipv4Addr)], default: Ipv4Addr) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut resp = Message::response(q.metadata.id, OpCode::Query);
    resp.metadata.recursion_desired = q.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.queries.clone_from(&q.queries);
    for question in &q.queries {
        let asked = question
            .name
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if asked.ends_with("missing.test") {
            resp.metadata.response_code = ResponseCode::NXDomain;
            continue;
        }
        if question.query_type == RecordType::A {
            let addr = names
                .iter()
                .find(|(n, _)| *n == asked)
                .map_or(default, |(_, a)| *a);
            resp.answers.push(Record::from_rdata(
                question.name.clone(),
                300,
                RData::A(A(addr)),
            ));
        }
    }
    resp.to_vec().ok()
}

/// Default A answer of the DoT server.
const DOT_ANSWER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 85);
/// Default A answer of the DoH server.
const DOH_ANSWER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 43);

/// Length-prefixed DNS (RFC 1035 §4.2.2, and RFC 7858 inside TLS).
fn serve_dns_stream<S: Read + Write>(mut s: S, names: &[(String, Ipv4Addr)], default: Ipv4Addr) {
    let mut len = [0u8; 2];
    while s.read_exact(&mut len).is_ok() {
        let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut q).is_err() {
            return;
        }
        let Some(a) = dns_answer(&q, names, default) else {
            return;
        };
        let mut framed = (a.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&a);
        if s.write_all(&framed).is_err() || s.flush().is_err() {
            return;
        }
    }
}

/// RFC 8484 POSTs on a kept-alive HTTP/1.1 connection.
fn serve_doh<S: Read + Write>(stream: S, names: &[(String, Ipv4Addr)]) -> std::io::Result<()> {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let post_ok = line.starts_with("POST /dns-query ");
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len.min(65535)];
        r.read_exact(&mut body)?;
        let answer = if post_ok {
            dns_answer(&body, names, DOH_ANSWER)
        } else {
            None
        };
        // One write: head and body in separate TLS records would meet
        // Nagle and delayed ACK (a 40 ms stall per query).
        let resp = match answer {
            Some(a) => {
                let mut v = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: {}\r\n\r\n",
                    a.len()
                )
                .into_bytes();
                v.extend_from_slice(&a);
                v
            }
            None => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        let out = r.get_mut();
        out.write_all(&resp)?;
        out.flush()?;
    }
}

fn serve(args: &[String]) -> Result<(), String> {
    let mut bind = Ipv4Addr::LOCALHOST;
    let mut answer = None;
    let mut names = Vec::new();
    let mut tls_names = Vec::new();
    let mut ca_out = None;
    let mut any_ports = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bind" => bind = it.next().and_then(|v| v.parse().ok()).ok_or("--bind IP")?,
            "--answer" => answer = it.next().and_then(|v| v.parse().ok()),
            "--name" => {
                let v = it.next().ok_or("--name NAME=IP")?;
                let (n, ip) = v.split_once('=').ok_or("--name NAME=IP")?;
                names.push((n.to_ascii_lowercase(), ip.parse().map_err(|_| "bad IP")?));
            }
            "--tls-name" => tls_names.push(it.next().ok_or("--tls-name NAME")?.clone()),
            "--ca-out" => ca_out = Some(it.next().ok_or("--ca-out PATH")?.clone()),
            "--any-ports" => any_ports = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let default = answer.unwrap_or(bind);
    if tls_names.is_empty() {
        tls_names.push(default.to_string());
    }
    let (tls, ca_pem) = test_pki(&tls_names)?;
    if let Some(path) = &ca_out {
        std::fs::write(path, ca_pem).map_err(|e| format!("{path}: {e}"))?;
    }
    let tls = std::sync::Arc::new(tls);
    let port = |p: u16| if any_ports { 0 } else { p };
    let bound = |l: &TcpListener| l.local_addr().map_or(0, |a| a.port());
    let dot = TcpListener::bind((bind, port(853))).map_err(|e| format!("dot: {e}"))?;
    let doh = TcpListener::bind((bind, port(443))).map_err(|e| format!("doh: {e}"))?;
    let mut ports = format!("dot={} doh={}", bound(&dot), bound(&doh));
    for (listener, is_doh) in [(dot, false), (doh, true)] {
        let (tls, names) = (tls.clone(), names.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tls, names) = (tls.clone(), names.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(tls) else {
                        return;
                    };
                    let s = rustls::StreamOwned::new(conn, stream);
                    if is_doh {
                        let _ = serve_doh(s, &names);
                    } else {
                        serve_dns_stream(s, &names, DOT_ANSWER);
                    }
                });
            }
        });
    }
    let https = TcpListener::bind((bind, port(8443))).map_err(|e| format!("https: {e}"))?;
    ports = format!("https={} {ports}", bound(&https));
    std::thread::spawn(move || {
        for stream in https.incoming().flatten() {
            let tls = tls.clone();
            std::thread::spawn(move || serve_https(tls, stream));
        }
    });
    let http = TcpListener::bind((bind, port(8080))).map_err(|e| format!("http: {e}"))?;
    let echo = UdpSocket::bind((bind, port(7))).map_err(|e| format!("echo: {e}"))?;
    let dns_tcp = TcpListener::bind((bind, port(53))).map_err(|e| format!("dns tcp: {e}"))?;
    // UDP on the port TCP got (53, or the free one).
    let dns_udp = UdpSocket::bind((bind, bound(&dns_tcp))).map_err(|e| format!("dns: {e}"))?;
    ports = format!(
        "http={} {ports} dns={} echo={}",
        bound(&http),
        bound(&dns_tcp),
        echo.local_addr().map_or(0, |a| a.port())
    );
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            let _ = echo.send_to(buf.get(..n).unwrap_or_default(), from);
        }
    });
    let udp_names = names.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok((n, from)) = dns_udp.recv_from(&mut buf) {
            if let Some(a) = dns_answer(buf.get(..n).unwrap_or_default(), &udp_names, default) {
                let _ = dns_udp.send_to(&a, from);
            }
        }
    });
    let tcp_names = names.clone();
    std::thread::spawn(move || {
        for stream in dns_tcp.incoming().flatten() {
            let names = tcp_names.clone();
            std::thread::spawn(move || serve_dns_stream(stream, &names, default));
        }
    });
    if any_ports {
        println!("ready {ports}");
    } else {
        println!("ready");
    }
    let _ = std::io::stdout().flush();
    for stream in http.incoming().flatten() {
        std::thread::spawn(move || serve_http(stream));
    }
    Ok(())
}

/// Download `n` bytes from `addr`; the body's hash and length.
fn get(addr: SocketAddr, n: u64) -> Result<(u64, u64), String> {
    fetch(connect(addr)?, n)
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| format!("connect: {e}"))
}

/// Download `n` bytes over a connected stream; the body's hash and length.
fn fetch(mut s: TcpStream, n: u64) -> Result<(u64, u64), String> {
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(s);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).map_err(|e| e.to_string())? == 0 {
            return Err("no head".into());
        }
        if h == "\r\n" {
            break;
        }
    }
    let mut hash = 0xcbf2_9ce4_8422_2325;
    let mut got = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    while got < n {
        let k = reader.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if k == 0 {
            break;
        }
        fnv64(&mut hash, buf.get(..k).unwrap_or_default());
        got += k as u64;
    }
    Ok((hash, got))
}

fn dig(server: IpAddr, name: &str, tcp: bool) -> Result<String, String> {
    let mut q = Message::new(0x5151, MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(
        Name::from_ascii(name).map_err(|e| e.to_string())?,
        RecordType::A,
    ));
    let bytes = q.to_vec().map_err(|e| e.to_string())?;
    let answer = if tcp {
        let mut s = TcpStream::connect_timeout(&(server, 53).into(), Duration::from_secs(5))
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        s.write_all(&framed).map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).map_err(|e| e.to_string())?;
        let mut a = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut a).map_err(|e| e.to_string())?;
        a
    } else {
        let s = UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        s.send_to(&bytes, (server, 53)).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4096];
        let (n, _) = s.recv_from(&mut buf).map_err(|e| format!("recv: {e}"))?;
        buf.get(..n).unwrap_or_default().to_vec()
    };
    let m = Message::from_vec(&answer).map_err(|e| e.to_string())?;
    let addrs: Vec<String> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    Ok(format!(
        "{:?} {}",
        m.metadata.response_code,
        addrs.join(",")
    ))
}

fn run(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| "missing argument".to_owned())
    };
    let sock = |i: usize| -> Result<SocketAddr, String> {
        arg(i)?.parse().map_err(|_| "bad address".to_owned())
    };
    let num =
        |i: usize| -> Result<u64, String> { arg(i)?.parse().map_err(|_| "bad number".to_owned()) };
    match arg(0)?.as_str() {
        "serve" => serve(args.get(1..).unwrap_or_default()),
        "get" => {
            let n = num(2)?;
            let (hash, len) = get(sock(1)?, n)?;
            if len == n && hash == expected_hash(n) {
                println!("ok {hash:016x} {len}");
                Ok(())
            } else {
                Err(format!("corrupt: {len} bytes, hash {hash:016x}"))
            }
        }
        "conns" => {
            let (addr, count, n) = (sock(1)?, num(2)?, num(3)?);
            let want = expected_hash(n);
            // --hold: every connection stays open until all COUNT attempts have connected or
            // failed, so COUNT sockets are wanted at once however slowly they arrive.
            let hold = args.iter().any(|a| a == "--hold");
            let all = Arc::new(Barrier::new(usize::try_from(count).unwrap_or(usize::MAX)));
            let threads: Vec<_> = (0..count)
                .map(|_| {
                    let all = Arc::clone(&all);
                    std::thread::spawn(move || {
                        if !hold {
                            return get(addr, n);
                        }
                        let stream = connect(addr);
                        all.wait();
                        fetch(stream?, n)
                    })
                })
                .collect();
            let mut ok = 0;
            for t in threads {
                match t.join() {
                    Ok(Ok((h, len))) if h == want && len == n => ok += 1,
                    Ok(Ok(_)) => eprintln!("corrupt download"),
                    Ok(Err(e)) => eprintln!("{e}"),
                    Err(_) => eprintln!("thread died"),
                }
            }
            println!("{ok}/{count} ok");
            if ok == count {
                Ok(())
            } else {
                Err("some downloads failed".into())
            }
        }
        "pattern" => {
            // The bytes a download of N serves, for checksumming elsewhere.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_pattern(&mut out, num(1)?).map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())
        }
        "dig" => {
            let tcp = args.iter().any(|a| a == "--tcp");
            let server: IpAddr = arg(1)?.parse().map_err(|_| "bad server")?;
            println!("{}", dig(server, &arg(2)?, tcp)?);
            Ok(())
        }
        "echo" => {
            let s = UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            s.connect(sock(1)?).map_err(|e| e.to_string())?;
            let msg = b"nightjar udp echo";
            s.send(msg).map_err(|e| e.to_string())?;
            let mut buf = [0u8; 256];
            let n = s.recv(&mut buf).map_err(|e| format!("recv: {e}"))?;
            if buf.get(..n) == Some(&msg[..]) {
                println!("echo ok");
                Ok(())
            } else {
                Err("echo mismatch".into())
            }
        }
        "connect" => {
            match TcpStream::connect_timeout(&sock(1)?, Duration::from_secs(5)) {
                Ok(_) => println!("connected"),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => println!("refused"),
                Err(e) => println!("error {e}"),
            }
            Ok(())
        }
        other => Err(format!("unknown command {other}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nightjar-testserver: {e}");
            ExitCode::FAILURE
        }
    }
}
