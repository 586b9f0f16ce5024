//! The names DNS answers gave to addresses, so the flow policy can judge a
//! connection by the name the app looked up. Bounded: the oldest entry goes
//! first when full.

use core::net::IpAddr;
use std::collections::VecDeque;

use hashbrown::HashMap;

#[derive(Debug)]
pub(crate) struct Names {
    map: HashMap<IpAddr, (String, u64)>,
    order: VecDeque<IpAddr>,
    cap: usize,
}

impl Names {
    pub(crate) fn new(cap: usize) -> Self {
        Names {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Remember that `addr` was the answer for `name` until `expires_us`.
    pub(crate) fn insert(&mut self, addr: IpAddr, name: &str, expires_us: u64) {
        if let Some(entry) = self.map.get_mut(&addr) {
            *entry = (name.to_owned(), expires_us);
            return;
        }
        while self.map.len() >= self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.map.insert(addr, (name.to_owned(), expires_us));
        self.order.push_back(addr);
    }

    /// The name `addr` was looked up by, if the answer has not expired.
    pub(crate) fn get(&self, addr: IpAddr, now_us: u64) -> Option<&str> {
        let (name, expires) = self.map.get(&addr)?;
        (*expires >= now_us).then_some(name.as_str())
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let mut names = Names::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        names.insert(a, "a.example", 100);
        names.insert(b, "b.example", 100);
        names.insert(c, "c.example", 100);
        assert_eq!(names.len(), 2);
        assert_eq!(names.get(a, 0), None, "the oldest entry is evicted");
        assert_eq!(names.get(c, 50), Some("c.example"));
        assert_eq!(names.get(c, 101), None, "expired answers are not used");
    }
}
