//! Panics stop here. Since Rust 1.81 a panic unwinding out of an `extern "C"` function aborts
//! the process, and in a packet tunnel that takes the VPN down with it, so every exported entry
//! point runs its body through [`guard`] and turns a panic into [`NightjarError::Internal`].

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{NightjarError, Result};

/// Runs `f`, turning a panic into [`NightjarError::Internal`].
///
/// `AssertUnwindSafe` is sound here because whoever owns state that `f` may have left half
/// updated (the engine handle) marks itself unusable when this returns `Internal`.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        log::error!("panic caught at the FFI boundary");
        Err(NightjarError::Internal {
            detail: panic_message(payload.as_ref()),
        })
    })
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        format!("panic: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let r: Result<()> = guard(|| panic!("boom {}", 7));
        assert_eq!(
            r,
            Err(NightjarError::Internal {
                detail: "panic: boom 7".into()
            })
        );
        let r: Result<()> = guard(|| std::panic::panic_any(5_u8));
        assert!(
            matches!(r, Err(NightjarError::Internal { detail }) if detail.contains("non-string"))
        );
    }

    #[test]
    fn values_and_errors_pass_through() {
        assert_eq!(guard(|| Ok(3)), Ok(3));
        assert_eq!(
            guard::<()>(|| Err(NightjarError::NoDatabase)),
            Err(NightjarError::NoDatabase)
        );
    }
}
