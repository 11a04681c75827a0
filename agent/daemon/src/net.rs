//! TCP: binds the configured addresses (default `[::]:7743`, dual stack, falling back to
//! `0.0.0.0:7743` on a kernel without IPv6), and gates connections.
//!
//! The gate bounds how many connections are served at once; a connection over the bound, or from a
//! peer that is rate-limited, is closed at once without a challenge. This module never reads a
//! connection's bytes: `session` does, under the timeouts below.

use std::cell::Cell;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use smol::Async;

/// A listening socket on the reactor (async-io directly: async-net's resolver is not needed).
pub type TcpListener = Async<std::net::TcpListener>;

use crate::config::{Listen, DEFAULT_PORT};
use crate::log;

/// Connections served at once; more are accepted and closed straight away.
pub const MAX_CONNECTIONS: usize = 16;
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection lives longer than this.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

pub fn bind(listen: &Listen) -> io::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    match listen {
        Listen::Off => {}
        Listen::Default => {
            let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, DEFAULT_PORT));
            match TcpListener::bind(v6) {
                Ok(l) => out.push(l),
                Err(e) => {
                    log!("cannot listen on {v6} ({e}); trying IPv4 only");
                    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT));
                    out.push(TcpListener::bind(v4)?);
                }
            }
        }
        Listen::Addrs(addrs) => {
            for a in addrs {
                out.push(
                    TcpListener::bind(*a).map_err(|e| {
                        io::Error::new(e.kind(), format!("cannot listen on {a}: {e}"))
                    })?,
                );
            }
        }
    }
    for l in &out {
        if let Ok(a) = l.get_ref().local_addr() {
            log!("listening on {a}");
        }
    }
    Ok(out)
}

/// Counts live connections; a [`Slot`] is one of them.
#[derive(Clone, Default)]
pub struct Gate(Rc<Cell<usize>>);

pub struct Slot(Rc<Cell<usize>>);

impl Gate {
    pub fn try_enter(&self) -> Option<Slot> {
        let n = self.0.get();
        if n >= MAX_CONNECTIONS {
            return None;
        }
        self.0.set(n + 1);
        Some(Slot(Rc::clone(&self.0)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_bounds_and_frees() {
        let g = Gate::default();
        let slots: Vec<Slot> = (0..MAX_CONNECTIONS)
            .map(|_| g.try_enter().unwrap())
            .collect();
        assert!(g.try_enter().is_none());
        drop(slots);
        assert!(g.try_enter().is_some());
    }
}
