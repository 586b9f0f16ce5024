use super::*;
use crate::HttpRequestScanner;
use crate::h2c::H2Reader;

fn query(name: &str) -> Vec<u8> {
    crate::h2c::tests::query(name)
}

#[test]
fn the_dns_parameter_is_base64url_with_or_without_padding() {
    let q = query("a.example");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&q);
    let padded = base64::engine::general_purpose::URL_SAFE.encode(&q);
    assert_eq!(
        query_param(&format!("/dns-query?dns={text}")),
        Some(Ok(q.clone()))
    );
    assert_eq!(query_param(&format!("/q?x=1&dns={padded}#f")), Some(Ok(q)));
    assert_eq!(query_param("/dns-query?dns=!!"), Some(Err(BadParam)));
    // Found by doh_stream: an empty parameter is not an empty message.
    assert_eq!(query_param("/dns-query?dns=&x=1"), Some(Err(BadParam)));
    assert_eq!(query_param("/dns-query"), None);
    assert_eq!(query_param("/dns-query?ndns=AAAA"), None);
    assert!(is_dns_message_type(b"Application/DNS-Message ; q=1"));
    assert!(!is_dns_message_type(b"application/dns-json"));
}

fn request_messages(stream: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Vec<bool>) {
    let mut s = HttpRequestScanner::new();
    let (mut messages, mut upgrades) = (Vec::new(), Vec::new());
    for part in stream.chunks(chunk) {
        s.push(part);
        while let Some(Ok(r)) = s.next_request() {
            messages.extend(r.dns_message);
            upgrades.push(r.upgrade_h2c);
        }
    }
    (messages, upgrades)
}

#[test]
fn http1_requests_carry_their_query_in_the_parameter_or_the_body() {
    let (q1, q2) = (query("a.example"), query("b.example"));
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&q1);
    let mut stream =
        format!("GET /dns-query?dns={text} HTTP/1.1\r\nHost: doh.example\r\n\r\n").into_bytes();
    stream.extend_from_slice(
        format!(
            "POST /dns-query HTTP/1.1\r\nHost: doh.example\r\nContent-Type: application/dns-message\r\nContent-Length: {}\r\n\r\n",
            q2.len()
        )
        .as_bytes(),
    );
    stream.extend_from_slice(&q2);
    stream.extend_from_slice(
        b"GET /index.html HTTP/1.1\r\nHost: doh.example\r\nUpgrade: websocket, h2c\r\n\r\n",
    );
    for chunk in [stream.len(), 7, 1] {
        let (messages, upgrades) = request_messages(&stream, chunk);
        assert_eq!(messages, vec![q1.clone(), q2.clone()], "chunk {chunk}");
        assert_eq!(upgrades, vec![false, false, true]);
    }
}

fn response(kind: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn http1_responses_give_their_dns_bodies_and_skip_the_rest() {
    let a = query("a.example");
    let mut stream = response("text/html", &[b'x'; 3000]);
    stream.extend(b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.extend(response("application/dns-message", &a));
    stream.extend(response("application/dns-message", &a));
    for chunk in [stream.len(), 13, 1] {
        let mut s = ResponseScanner::new();
        let mut got = Vec::new();
        for part in stream.chunks(chunk) {
            let r = s.push(part);
            assert_eq!(r.upgraded, None);
            got.extend(r.messages);
        }
        assert_eq!(got, vec![a.clone(), a.clone()], "chunk {chunk}");
        assert!(!s.is_stopped());
        assert_eq!(s.buffered_len(), 0);
    }
    let mut s = ResponseScanner::new();
    s.push(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(s.is_stopped());
    let mut s = ResponseScanner::new();
    s.push(&response("application/dns-message", &vec![0; MAX_BODY + 1]));
    assert_eq!(s.shed(), 1);
}

#[test]
fn an_upgrade_hands_the_rest_of_the_stream_to_http2() {
    let mut stream =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
    stream.extend_from_slice(&settings);
    let mut s = ResponseScanner::new();
    let r = s.push(&stream);
    assert_eq!(r.upgraded.as_deref(), Some(&settings[..]));
    assert!(s.is_stopped());
    let mut h2 = H2Reader::server();
    let mut out = Vec::new();
    h2.push(&settings, &mut out);
    assert_eq!(h2.stopped(), None);
}
