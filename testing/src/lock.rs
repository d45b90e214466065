//! The one lock of a test binary.
//!
//! Tests in one binary run on parallel threads of one process, so a test
//! that counts the process's fds or children must not overlap any other.
//! Counting tests hold this lock exclusively ([`exclusive`]); every other
//! test holds it shared ([`shared`], taken by [`crate::in_private_ns`]
//! itself). A thread that holds it exclusively may still call
//! [`crate::in_private_ns`] (and [`shared`]): the shared guard is then empty.

use std::cell::Cell;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static PROCESS_WIDE: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this thread holds [`PROCESS_WIDE`] exclusively: taking it
    /// shared as well would wait for itself.
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// Held by a test that counts process-wide resources (fds, children): no
/// other test of the binary runs meanwhile.
#[must_use = "the test runs alone only while the guard lives"]
pub struct Exclusive {
    _guard: RwLockWriteGuard<'static, ()>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
    }
}

/// Held by any test that opens fds or spawns processes.
#[must_use = "the lock is held only while the guard lives"]
pub struct Shared {
    _guard: Option<RwLockReadGuard<'static, ()>>,
}

/// Takes the lock exclusively (a failed test does not poison it).
pub fn exclusive() -> Exclusive {
    let guard = PROCESS_WIDE.write().unwrap_or_else(|e| e.into_inner());
    ALONE.with(|a| a.set(true));
    Exclusive { _guard: guard }
}

/// Takes the lock shared, unless this thread already holds it exclusively.
pub fn shared() -> Shared {
    if ALONE.with(Cell::get) {
        return Shared { _guard: None };
    }
    Shared {
        _guard: Some(PROCESS_WIDE.read().unwrap_or_else(|e| e.into_inner())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_inside_exclusive_does_not_wait_for_itself() {
        let alone = exclusive();
        let inner = shared();
        assert!(inner._guard.is_none());
        drop(inner);
        drop(alone);
        // Released: another thread can take it exclusively now.
        std::thread::spawn(|| drop(exclusive())).join().unwrap();
        assert!(shared()._guard.is_some());
    }

    #[test]
    fn exclusive_waits_for_shared_holders() {
        let held = shared();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _alone = exclusive();
            tx.send(()).unwrap();
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(100))
            .is_err());
        drop(held);
        rx.recv().unwrap();
        t.join().unwrap();
    }
}
