//! `sightline demo --chaos`: the demo origins take turns failing on a 30 s cycle, so the
//! dashboards and alerts show failure and recovery without any setup.
//!
//! The cycle has three 10 s turns: first one origin is **down** (its `/healthz` answers 503, so
//! the health checks take it out of rotation, and whatever still reaches it gets 503 with
//! `Connection: close`), then the next is **slow** (every answer waits [`SLOW_BY`] more), then
//! the next **answers 5xx** (every request but `/healthz` gets 500). Each cycle moves the roles
//! one origin on, so every origin gets each fault in turn. With one origin it takes all three.

use std::time::{Duration, Instant};

/// One turn of the cycle.
pub const TURN: Duration = Duration::from_secs(10);
/// Turns per cycle (down, slow, 5xx).
const TURNS: u64 = 3;
/// Latency a slow origin adds.
pub const SLOW_BY: Duration = Duration::from_millis(800);

/// What an origin is doing wrong right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behaving.
    None,
    /// Failing its health check and refusing requests.
    Down,
    /// Answering [`SLOW_BY`] late.
    Slow,
    /// Answering 500.
    Errors,
}

/// The chaos schedule of one origin among `count`, from a shared start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chaos {
    /// When the first cycle began (shared by every origin of a demo).
    pub start: Instant,
    /// This origin's index.
    pub index: usize,
    /// How many origins take part.
    pub count: usize,
}

impl Chaos {
    /// This origin's fault now.
    pub fn now(&self) -> Fault {
        fault_at(self.start.elapsed(), self.index, self.count)
    }
}

/// The fault of origin `index` of `count` at `elapsed` into the schedule.
pub fn fault_at(elapsed: Duration, index: usize, count: usize) -> Fault {
    let count = count.max(1) as u64;
    let turn = elapsed.as_secs() / TURN.as_secs();
    let (cycle, phase) = (turn / TURNS, turn % TURNS);
    // Turn `phase` of cycle `cycle` falls on origin (cycle + phase) mod count.
    if (cycle + phase) % count != index as u64 % count {
        return Fault::None;
    }
    match phase {
        0 => Fault::Down,
        1 => Fault::Slow,
        _ => Fault::Errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, index: usize, count: usize) -> Fault {
        fault_at(Duration::from_secs(secs), index, count)
    }

    #[test]
    fn three_origins_take_turns_on_a_30_second_cycle() {
        // Cycle 0: origin 0 down, origin 1 slow, origin 2 errors.
        assert_eq!(
            [at(0, 0, 3), at(0, 1, 3), at(0, 2, 3)],
            [Fault::Down, Fault::None, Fault::None]
        );
        assert_eq!(at(9, 0, 3), Fault::Down);
        assert_eq!([at(10, 0, 3), at(10, 1, 3)], [Fault::None, Fault::Slow]);
        assert_eq!([at(25, 1, 3), at(25, 2, 3)], [Fault::None, Fault::Errors]);
        // Cycle 1 moves the roles one origin on.
        assert_eq!(
            [at(30, 1, 3), at(40, 2, 3), at(50, 0, 3)],
            [Fault::Down, Fault::Slow, Fault::Errors]
        );
        // Exactly one origin misbehaves at any time.
        for s in 0..180 {
            let bad = (0..3).filter(|&i| at(s, i, 3) != Fault::None).count();
            assert_eq!(bad, 1, "at {s}s");
        }
        // Over three cycles every origin gets every fault.
        for i in 0..3 {
            for f in [Fault::Down, Fault::Slow, Fault::Errors] {
                assert!((0..90).any(|s| at(s, i, 3) == f), "origin {i} never {f:?}");
            }
        }
    }

    #[test]
    fn a_single_origin_takes_every_fault() {
        let faults: Vec<Fault> = [0, 10, 20, 30].iter().map(|&s| at(s, 0, 1)).collect();
        assert_eq!(
            faults,
            [Fault::Down, Fault::Slow, Fault::Errors, Fault::Down]
        );
    }
}
