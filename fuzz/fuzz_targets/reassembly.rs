//! The fragment reassembler alone: overlapping, duplicate, oversized and
//! colliding fragments with expiries and flushes, under small caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_engine::{Outcome, Reassembler};
use nightjar_fuzz::reassembly_script::{self, Op};
use nightjar_fuzz::{EPOCH_US, step};

fuzz_target!(|data: &[u8]| {
    let (knobs, steps) = reassembly_script::decode(data);
    let config = knobs.config();
    let mut r = Reassembler::new(config);
    let mut now = EPOCH_US;
    for s in steps {
        now = step(now, s.scale, s.count, s.backwards);
        match s.op {
            Op::Push(frag) => {
                let (outcome, _evicted) = r.push(now, frag);
                if let Outcome::Complete(d) = outcome {
                    assert!(d.payload.len() <= 65_535, "datagram of {}", d.payload.len());
                    assert!(d.fragments >= 1);
                    assert_eq!(d.protocol, frag.protocol);
                    // The completing fragment lies inside the datagram.
                    assert!(d.payload.len() >= frag.offset as usize + frag.data.len());
                }
            }
            Op::Expire => {
                r.expire(now);
            }
            Op::Flush => {
                r.flush();
                assert_eq!(r.in_progress(), 0);
                assert_eq!(r.buffered_bytes(), 0);
            }
        }
        assert!(
            r.buffered_bytes() <= config.max_buffered_bytes,
            "{} buffered over cap {}",
            r.buffered_bytes(),
            config.max_buffered_bytes
        );
        assert!(r.in_progress() <= config.max_datagrams.max(1));
    }
    r.flush();
    assert_eq!(r.buffered_bytes(), 0);
});
