use super::*;

/// A DNS query for `name` (A, IN), id 0 as RFC 8484 recommends.
pub(crate) fn query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn block(enc: &mut loona_hpack::Encoder<'_>, fields: &[(&str, &str)]) -> Vec<u8> {
    enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

use base64::Engine as _;

/// A client connection: preface, SETTINGS, a GET on stream 1 and a POST on
/// stream 3 whose body comes padded, in two DATA frames.
fn client_stream(q1: &[u8], q2: &[u8]) -> Vec<u8> {
    let mut enc = loona_hpack::Encoder::new();
    let mut s = PREFACE.to_vec();
    s.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    let path = format!("/dns-query?ct&dns={}", b64(q1));
    let get = block(
        &mut enc,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "doh.example"),
            (":path", &path),
        ],
    );
    s.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &get));
    let post = block(
        &mut enc,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "doh.example"),
            (":path", "/dns-query"),
            ("content-type", "application/dns-message"),
        ],
    );
    // Split over HEADERS and CONTINUATION, with padding and priority on HEADERS.
    let (a, b) = post.split_at(post.len() / 2);
    let mut first = vec![3];
    first.extend_from_slice(&[0, 0, 0, 0, 16]);
    first.extend_from_slice(a);
    first.extend_from_slice(&[0, 0, 0]);
    s.extend(frame(HEADERS, PADDED | PRIORITY, 3, &first));
    s.extend(frame(CONTINUATION, END_HEADERS, 3, b));
    s.extend(frame(0x8, 0, 3, &[0, 0, 0x10, 0])); // WINDOW_UPDATE, skipped
    let (x, y) = q2.split_at(5);
    let mut padded = vec![2];
    padded.extend_from_slice(x);
    padded.extend_from_slice(&[0, 0]);
    s.extend(frame(DATA, PADDED, 3, &padded));
    s.extend(frame(DATA, END_STREAM, 3, y));
    s
}

#[test]
fn client_get_and_post_queries_come_out_whole_and_in_order() {
    let (q1, q2) = (query("a.example"), query("b.example"));
    let bytes = client_stream(&q1, &q2);
    let mut r = H2Reader::client();
    let mut out = Vec::new();
    r.push(&bytes, &mut out);
    assert_eq!(out, vec![q1.clone(), q2.clone()]);
    assert_eq!(r.stopped(), None);
    assert_eq!(r.authority(), Some("doh.example"));
    assert_eq!(r.buffered_len(), MAX_TABLE);
    let c = r.counters();
    assert_eq!((c.header_blocks, c.messages, c.bodies_shed), (2, 2, 0));

    // Byte by byte: the same messages.
    let mut r = H2Reader::client();
    let mut out = Vec::new();
    for b in bytes.chunks(1) {
        r.push(b, &mut out);
    }
    assert_eq!(out, vec![q1, q2]);
}

#[test]
fn a_server_answer_is_the_body_of_a_dns_typed_response() {
    let answer = {
        let mut a = query("a.example");
        a[2] = 0x81;
        a[3] = 0x80;
        a
    };
    let mut enc = loona_hpack::Encoder::new();
    let mut s = frame(0x4, 0, 0, &[]);
    let head = block(
        &mut enc,
        &[
            (":status", "200"),
            ("content-type", "application/dns-message; charset=x"),
        ],
    );
    s.extend(frame(HEADERS, END_HEADERS, 1, &head));
    s.extend(frame(DATA, END_STREAM, 1, &answer));
    // A response of another type on stream 3: its body is not kept.
    let other = block(
        &mut enc,
        &[(":status", "200"), ("content-type", "text/html")],
    );
    s.extend(frame(HEADERS, END_HEADERS, 3, &other));
    s.extend(frame(DATA, END_STREAM, 3, b"<html>"));
    let mut r = H2Reader::server();
    let mut out = Vec::new();
    r.push(&s, &mut out);
    assert_eq!(out, vec![answer]);
    assert_eq!(r.stopped(), None);
}

#[test]
fn h2c_without_dns_is_left_after_a_few_header_blocks() {
    let mut enc = loona_hpack::Encoder::new();
    let mut s = PREFACE.to_vec();
    for i in 0..MAX_BLOCKS_WITHOUT_DNS + 2 {
        let b = block(
            &mut enc,
            &[(":method", "GET"), (":path", "/grpc.Service/Call")],
        );
        s.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, &b));
    }
    let mut r = H2Reader::client();
    let mut out = Vec::new();
    r.push(&s, &mut out);
    assert!(out.is_empty());
    assert_eq!(r.stopped(), Some(H2Stop::NotDoh));
    assert_eq!(
        r.counters().header_blocks,
        u64::from(MAX_BLOCKS_WITHOUT_DNS)
    );
}

#[test]
fn broken_input_stops_the_reader_with_its_reason() {
    let mut out = Vec::new();
    let mut r = H2Reader::client();
    r.push(b"GET / HTTP/1.1\r\n", &mut out);
    assert_eq!(r.stopped(), Some(H2Stop::NoPreface));

    // An index past both tables.
    let mut r = H2Reader::server();
    r.push(&frame(HEADERS, END_HEADERS, 1, &[0xff, 0x7f]), &mut out);
    assert_eq!(r.stopped(), Some(H2Stop::BadHeaders));

    // Padding longer than the frame.
    let mut r = H2Reader::server();
    r.push(
        &frame(HEADERS, END_HEADERS | PADDED, 1, &[9, 0x88]),
        &mut out,
    );
    assert_eq!(r.stopped(), Some(H2Stop::BadHeaders));

    // A header frame over the buffer cap is refused from its header alone.
    let mut r = H2Reader::server();
    let mut big = frame(HEADERS, 0, 1, &[]);
    big[..3].copy_from_slice(&((MAX_FRAME as u32 + 1).to_be_bytes()[1..]));
    r.push(&big, &mut out);
    assert_eq!(r.stopped(), Some(H2Stop::TooLarge));

    // Another frame between HEADERS and its CONTINUATION.
    let mut r = H2Reader::server();
    r.push(&frame(HEADERS, 0, 1, &[0x88]), &mut out);
    r.push(&frame(0x6, 0, 0, &[0; 8]), &mut out);
    assert_eq!(r.stopped(), Some(H2Stop::BadHeaders));
    assert!(out.is_empty());
    assert_eq!(r.buffered_len(), 0);
}

#[test]
fn bodies_over_the_cap_are_shed_and_large_frames_of_other_streams_skipped() {
    let mut enc = loona_hpack::Encoder::new();
    let mut s = frame(0x4, 0, 0, &[]);
    let head = block(
        &mut enc,
        &[
            (":status", "200"),
            ("content-type", "application/dns-message"),
        ],
    );
    s.extend(frame(HEADERS, END_HEADERS, 1, &head));
    s.extend(frame(DATA, 0, 1, &vec![0; MAX_BODY]));
    s.extend(frame(DATA, END_STREAM, 1, &[0; 10]));
    // A 1 MB DATA frame of a stream nobody follows: skipped, not buffered.
    let mut huge = frame(DATA, 0, 5, &[]);
    huge[..3].copy_from_slice(&(1_000_000u32.to_be_bytes()[1..]));
    s.extend(huge);
    let mut r = H2Reader::server();
    let mut out = Vec::new();
    r.push(&s, &mut out);
    r.push(&vec![0; 600_000], &mut out);
    assert!(r.buffered_len() <= MAX_TABLE + FRAME_HEADER);
    assert!(out.is_empty());
    assert_eq!(r.counters().bodies_shed, 1);
    assert_eq!(r.stopped(), None);
}
