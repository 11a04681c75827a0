//! Slows down whoever sends tokens with bad signatures (per peer address on TCP, one peer for the
//! serial line), so that guessing admin keys or hammering cryptsetup costs time.
//!
//! Sans-IO: the caller passes the clock. Memory is bounded (at most [`MAX_PEERS`] entries, the
//! stalest evicted), so a flood of source addresses cannot grow it. Only bad signatures count:
//! garbage bytes cost an attacker a connection slot and a timeout, not a lockout for the real
//! admin behind the same NAT.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Bad signatures allowed before the peer is locked out.
pub const FREE_FAILURES: u32 = 3;
/// First lockout; each further failure doubles it up to [`MAX_LOCKOUT`].
pub const BASE_LOCKOUT: Duration = Duration::from_secs(5);
pub const MAX_LOCKOUT: Duration = Duration::from_secs(60);
/// A peer quiet for this long starts again with a clean slate.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
pub const MAX_PEERS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Ip(IpAddr),
    Serial,
}

struct Entry {
    peer: Peer,
    failures: u32,
    last: Instant,
}

#[derive(Default)]
pub struct RateLimit {
    entries: Vec<Entry>,
}

impl RateLimit {
    pub fn new() -> Self {
        Self::default()
    }

    /// How long `peer` must still wait before it may send a token; `None` when it may now.
    pub fn locked_for(&mut self, peer: Peer, now: Instant) -> Option<Duration> {
        self.entries
            .retain(|e| now.saturating_duration_since(e.last) < FORGET_AFTER);
        let e = self.entries.iter().find(|e| e.peer == peer)?;
        let until = e.last + lockout(e.failures)?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Records one bad signature from `peer`.
    pub fn failed(&mut self, peer: Peer, now: Instant) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.peer == peer) {
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            return;
        }
        if self.entries.len() >= MAX_PEERS {
            if let Some(i) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].last) {
                self.entries.swap_remove(i);
            }
        }
        self.entries.push(Entry {
            peer,
            failures: 1,
            last: now,
        });
    }
}

fn lockout(failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(FREE_FAILURES)?;
    let d = BASE_LOCKOUT.saturating_mul(1u32 << over.min(8));
    Some(d.min(MAX_LOCKOUT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Peer {
        Peer::Ip(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn locks_out_after_free_failures_and_grows() {
        let mut r = RateLimit::new();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            r.failed(ip(1), t0);
            assert_eq!(r.locked_for(ip(1), t0), None);
        }
        r.failed(ip(1), t0);
        assert_eq!(r.locked_for(ip(1), t0), Some(BASE_LOCKOUT));
        // Other peers are not affected.
        assert_eq!(r.locked_for(ip(2), t0), None);
        assert_eq!(r.locked_for(Peer::Serial, t0), None);
        // The lockout ends, and doubles with the next failure.
        assert_eq!(r.locked_for(ip(1), t0 + BASE_LOCKOUT), None);
        r.failed(ip(1), t0 + BASE_LOCKOUT);
        assert_eq!(
            r.locked_for(ip(1), t0 + BASE_LOCKOUT),
            Some(BASE_LOCKOUT * 2)
        );
        for _ in 0..20 {
            r.failed(ip(1), t0);
        }
        assert_eq!(r.locked_for(ip(1), t0), Some(MAX_LOCKOUT));
        // Quiet peers are forgotten.
        assert_eq!(r.locked_for(ip(1), t0 + FORGET_AFTER), None);
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = RateLimit::new();
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let p = Peer::Ip(IpAddr::from(i.to_be_bytes()));
            r.failed(p, t0 + Duration::from_millis(i.into()));
        }
        assert_eq!(r.entries.len(), MAX_PEERS);
    }
}
