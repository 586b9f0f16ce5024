//! The `tunnel` column of a flow partition (schema v7): the outer packet of a
//! tunnelled flow as one short text, `KIND PROTO SRC DST [PARENT_UID]`
//! (`gtpv1 17 192.0.2.1 192.0.2.2 CbX3...`), NULL for every other flow.
//!
//! Text rather than a packed blob so that `sqlite3` shows it as it is; one
//! column so that an untunnelled row costs one header byte. None of the parts
//! can hold a space (kinds are fixed words, uids are base62), so splitting on
//! spaces reads it back exactly.

use std::net::IpAddr;

use crate::rows::FlowTunnel;

/// The column text of `t`.
pub fn encode(t: &FlowTunnel) -> String {
    let mut s = format!(
        "{} {} {} {}",
        t.kind, t.outer_proto, t.outer_src, t.outer_dst
    );
    if let Some(uid) = &t.parent_uid {
        s.push(' ');
        s.push_str(uid);
    }
    s
}

/// Reads [`encode`]'s text back; `None` when it is not that shape.
pub fn decode(s: &str) -> Option<FlowTunnel> {
    let mut parts = s.split(' ');
    let kind = parts.next().filter(|k| !k.is_empty())?.to_owned();
    let outer_proto: u8 = parts.next()?.parse().ok()?;
    let outer_src: IpAddr = parts.next()?.parse().ok()?;
    let outer_dst: IpAddr = parts.next()?.parse().ok()?;
    let parent_uid = match parts.next() {
        Some(uid) if !uid.is_empty() => Some(uid.to_owned()),
        Some(_) => return None,
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(FlowTunnel {
        kind,
        outer_proto,
        outer_src,
        outer_dst,
        parent_uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_a_parent() {
        let mut t = FlowTunnel {
            kind: "gtpv1".into(),
            outer_proto: 17,
            outer_src: "192.0.2.1".parse().unwrap(),
            outer_dst: "2001:db8::2".parse().unwrap(),
            parent_uid: Some("CAbc123".into()),
        };
        assert_eq!(encode(&t), "gtpv1 17 192.0.2.1 2001:db8::2 CAbc123");
        assert_eq!(decode(&encode(&t)), Some(t.clone()));
        t.parent_uid = None;
        assert_eq!(encode(&t), "gtpv1 17 192.0.2.1 2001:db8::2");
        assert_eq!(decode(&encode(&t)), Some(t));
    }

    #[test]
    fn other_shapes_are_refused() {
        for s in [
            "",
            "ip",
            "ip 4 10.0.0.1",
            "ip x 10.0.0.1 10.0.0.2",
            "ip 4 10.0.0.1 nope",
            "ip 4 10.0.0.1 10.0.0.2 C1 extra",
            "ip 4 10.0.0.1 10.0.0.2 ",
            " 4 10.0.0.1 10.0.0.2",
        ] {
            assert_eq!(decode(s), None, "{s:?}");
        }
    }
}
