//! The intel index behind the handle: reloads swap an `Arc` under an `RwLock`, so lookups in
//! flight finish on the old index; a failed load keeps the previous one and says so in
//! `health()`.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use nightjar_intel::Index;
use nightjar_relay::lock_pipeline;

use crate::error::{NightjarError, Result};
use crate::health::IntelHealth;
use crate::intel::intel_verdict;
use crate::records::IntelVerdict;

use super::NightjarEngine;

impl NightjarEngine {
    /// Records a failed intel load: the state (unless an index is still loaded) and a warning.
    fn intel_failed(&self, e: &nightjar_intel::IntelError) {
        self.intel_failures.fetch_add(1, Ordering::Relaxed);
        let kind = IntelHealth::of_error(e);
        let mut state = self
            .intel_health
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if *state != IntelHealth::Loaded {
            *state = kind;
        }
        log::warn!("intel index not loaded ({kind:?}); running on the previous index or none");
    }

    fn index(&self) -> Option<Arc<Index>> {
        self.intel
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl NightjarEngine {
    pub(super) fn reload_intel_inner(&self, path: String) -> Result<()> {
        let index = match Index::open(Path::new(&path)) {
            Ok(i) => Arc::new(i),
            Err(e) => {
                self.intel_failed(&e);
                return Err(e.into());
            }
        };
        self.with_inner(|inner| {
            lock_pipeline(&inner.pipeline).set_intel(Some(Arc::clone(&index)));
            Ok(())
        })?;
        *self.intel.write().unwrap_or_else(PoisonError::into_inner) = Some(index);
        *self
            .intel_health
            .write()
            .unwrap_or_else(PoisonError::into_inner) = IntelHealth::Loaded;
        log::info!("intel index reloaded");
        Ok(())
    }

    pub(super) fn check_domain_inner(&self, name: String, now_us: u64) -> Result<IntelVerdict> {
        let index = self.index().ok_or_else(no_index)?;
        let verdict = match nightjar_intel::normalize::normalize_host(name.trim()) {
            Ok(nightjar_intel::normalize::Host::Domain(d)) => index.lookup_domain(&d, now_us),
            Ok(nightjar_intel::normalize::Host::Ip(ip)) => index.lookup_ip(ip, now_us),
            Err(_) => return Err(NightjarError::arg("not a domain name")),
        };
        Ok(intel_verdict(&verdict))
    }

    pub(super) fn check_ip_inner(&self, ip: String, now_us: u64) -> Result<IntelVerdict> {
        let index = self.index().ok_or_else(no_index)?;
        let ip = IpAddr::from_str(ip.trim())
            .map_err(|_| NightjarError::arg("not an IPv4 or IPv6 address"))?;
        Ok(intel_verdict(&index.lookup_ip(ip, now_us)))
    }
}

fn no_index() -> NightjarError {
    NightjarError::Intel {
        reason: "no intel index loaded".into(),
    }
}
