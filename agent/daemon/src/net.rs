//! TCP: binds the configured addresses (default `[::]:7743`, dual stack, falling back to
//! `0.0.0.0:7743` on a kernel without IPv6), and gates connections.
//!
//! The gate bounds how many connections are served at once; a connection over the bound, or from a
//! peer that is rate-limited, is closed at once without a challenge. A connection admitted is one
//! conversation: challenge on connect, one token, its result, close, under the timeouts below.
//! The bytes read go to a `Session` as they come; this module never parses them.

use std::cell::Cell;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::Async;

use crate::config::{Listen, DEFAULT_PORT};
use crate::log::log;
use crate::ratelimit::Peer;
use crate::rt;
use crate::session::{Reply, Session};
use crate::state::Shared;

/// A listening socket on the reactor (async-io directly: async-net's resolver is not needed).
pub type TcpListener = Async<std::net::TcpListener>;
/// One accepted connection on the reactor.
type TcpStream = Async<std::net::TcpStream>;

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

/// Accepts connections on `listener` for as long as the agent runs, each one a task of its own.
pub async fn accept_loop(shared: Rc<Shared>, listener: TcpListener) {
    let gate = Gate::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log!("accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = peer.ip().to_canonical();
        let locked = shared
            .limiter
            .borrow_mut()
            .locked_for(Peer::Ip(ip), Instant::now());
        if let Some(d) = locked {
            log!(
                "{peer}: rate limited after bad signatures, closed ({}s left)",
                d.as_secs() + 1
            );
            continue;
        }
        let Some(slot) = gate.try_enter() else {
            log!("{peer}: {} connections open, closed", MAX_CONNECTIONS);
            continue;
        };
        let shared = Rc::clone(&shared);
        rt::spawn(async move {
            let _slot = slot;
            tcp(shared, stream, peer).await;
        });
    }
}

/// Serves one TCP connection: challenge on connect, one token, its result, close.
pub async fn tcp(shared: Rc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let label = format!("tcp {peer}");
    let mut session = match Session::new(&shared, Peer::Ip(peer.ip().to_canonical()), label.clone())
    {
        Ok(s) => s,
        Err(e) => {
            log!("{label}: {e}");
            return;
        }
    };
    let deadline = Instant::now() + TOTAL_TIMEOUT;
    let hello = session.challenge_frame();
    if stream.write_all(&hello).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    loop {
        let wait = IDLE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        let n = match read_timeout(&mut stream, &mut buf, wait).await {
            Some(Ok(0)) => {
                log!("{label}: closed by the peer");
                return;
            }
            Some(Err(e)) => {
                log!("{label}: read failed ({e}), closed");
                return;
            }
            Some(Ok(n)) => n,
            None => {
                log!("{label}: closed after {}s without a token", wait.as_secs());
                return;
            }
        };
        let mut input = &buf[..n];
        loop {
            let (used, reply) = session.step(input).await;
            input = input.get(used..).unwrap_or(&[]);
            match reply {
                Reply::None | Reply::Dropped => {
                    if used == 0 {
                        break;
                    }
                }
                Reply::Text(_) => {
                    // TCP carries frames only; text means garbage or a damaged frame start.
                    log!("{label}: closed, sent bytes that are not a frame");
                    return;
                }
                Reply::BadFrame => return,
                Reply::Frame(f, ends) => {
                    let _ = stream.write_all(&f).await;
                    let _ = stream.flush().await;
                    if ends {
                        return;
                    }
                }
            }
            if input.is_empty() {
                break;
            }
        }
    }
}

async fn read_timeout(
    stream: &mut TcpStream,
    buf: &mut [u8],
    wait: Duration,
) -> Option<std::io::Result<usize>> {
    smol::future::or(async { Some(stream.read(buf).await) }, async {
        smol::Timer::after(wait).await;
        None
    })
    .await
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
