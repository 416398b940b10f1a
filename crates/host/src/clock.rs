//! The wall clock components see. For tests only it can be shifted forward, so
//! expiry can be tested end to end without waiting days; shifting is refused
//! unless the host was started with `--allow-clock-shift`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use wasmtime_wasi::HostWallClock;

/// A shared offset (in seconds) added to the real wall clock.
#[derive(Clone, Default)]
pub struct ClockShift(Arc<AtomicI64>);

impl ClockShift {
    /// Current offset in seconds.
    pub fn offset(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Set the offset in seconds.
    pub fn set(&self, seconds: i64) {
        self.0.store(seconds, Ordering::Relaxed);
    }

    /// A WASI wall clock reading through this offset.
    pub fn wall_clock(&self) -> ShiftedClock {
        ShiftedClock(self.clone())
    }
}

/// `wasi:clocks/wall-clock` with an offset.
pub struct ShiftedClock(ClockShift);

impl HostWallClock for ShiftedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        let real = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let off = self.0.offset();
        if off >= 0 {
            real + Duration::from_secs(off as u64)
        } else {
            real.saturating_sub(Duration::from_secs(off.unsigned_abs()))
        }
    }
}
