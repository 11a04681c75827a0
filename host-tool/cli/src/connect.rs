//! Reaching an agent and getting its verified challenge: connect (retrying under `--wait`), ask
//! on a serial line, feed the bytes to the core's client state machine, and apply host key pinning.
//!
//! Shared by `unlock` and `status` (`connect::reach`). It never sends a secret; it only ends with a verified
//! challenge from a pinned (or, for `status`, merely self-consistent) host key.

use std::time::{Duration, Instant};

use tessera_core::limits::MAX_FRAME;
use tessera_core::message::Challenge;
use tessera_core::{Client, ClientEvent, HostKeyCheck};

use crate::error::{Result, ToolError};
use crate::exit::ExitCode;
use crate::known_hosts::KnownHosts;
use crate::link::{Link, Target};
use crate::paths;

/// One try's wait for a challenge after connecting.
const CHALLENGE_WAIT: Duration = Duration::from_secs(5);
/// How often a hello is repeated on a serial line (the agent may have missed the first).
const HELLO_EVERY: Duration = Duration::from_secs(2);

/// A connection to an agent whose challenge verified and whose host key passed pinning.
pub struct Connected {
    pub link: Link,
    pub client: Client,
    pub challenge: Challenge,
    /// The host key was not in known_hosts before this run.
    pub first_use: bool,
}

/// How the host key is to be treated.
pub enum Pinning {
    /// `unlock`: the key must be pinned, or pinned now (`--host-key` or a yes on the terminal).
    Require(Option<[u8; 32]>),
    /// `status`: show an unknown key, refuse only a mismatch.
    Show(Option<[u8; 32]>),
}

/// Reaches the agent at `target`, retrying an unreachable one for `wait` seconds (progress on
/// stderr unless `quiet`), and applies `pinning` to its host key.
pub fn reach(
    target: &Target,
    wait: Option<u64>,
    pinning: &Pinning,
    quiet: bool,
) -> Result<Connected> {
    let start = Instant::now();
    let until = wait.map(|s| start + Duration::from_secs(s));
    let mut tries = 0u32;
    loop {
        tries += 1;
        let err = match try_once(target, pinning) {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        let Some(until) = until else { return Err(err) };
        if err.exit() != ExitCode::Unreachable || Instant::now() >= until {
            return Err(err);
        }
        if !quiet {
            eprintln!(
                "tessera: waiting for {} ({}s of {}s, try {tries}): {}",
                target.label(),
                start.elapsed().as_secs(),
                wait.unwrap_or(0),
                err.message()
            );
        }
        std::thread::sleep(
            Duration::from_secs(1).min(until.saturating_duration_since(Instant::now())),
        );
    }
}

fn try_once(target: &Target, pinning: &Pinning) -> Result<Connected> {
    let given = match pinning {
        Pinning::Require(g) | Pinning::Show(g) => *g,
    };
    let check = match given {
        Some(k) => HostKeyCheck::Pinned(k),
        None => HostKeyCheck::FirstUse,
    };
    let mut link = Link::open(target, CHALLENGE_WAIT)?;
    let mut client = Client::new(check);
    let mut frame = vec![0u8; MAX_FRAME];
    let deadline = Instant::now() + CHALLENGE_WAIT * if link.is_serial { 2 } else { 1 };
    let mut next_hello = Instant::now();
    loop {
        if link.is_serial && Instant::now() >= next_hello {
            let n = client
                .write_hello(&mut frame)
                .map_err(ToolError::Protocol)?;
            link.send(&frame[..n])?;
            next_hello = Instant::now() + HELLO_EVERY;
        }
        let read_until = if link.is_serial {
            next_hello.min(deadline)
        } else {
            deadline
        };
        let bytes = link.read(read_until)?;
        if bytes.is_empty() && Instant::now() >= deadline {
            return Err(ToolError::NoChallenge {
                target: target.label(),
                serial: link.is_serial,
            });
        }
        if feed(&mut client, &bytes)?.is_some() {
            break;
        }
    }
    let challenge = client
        .challenge()
        .cloned()
        .ok_or(ToolError::ChallengeVanished)?;
    let host_id = challenge.body.host_id.as_str().to_string();
    let key = challenge.body.host_key;
    let kh = KnownHosts::new(paths::known_hosts()?);
    let first_use = kh.check(&host_id, &key) == crate::known_hosts::Pin::Unknown;
    match pinning {
        Pinning::Require(g) => crate::known_hosts::verify(&kh, &host_id, &key, g.as_ref())?,
        Pinning::Show(_) => {
            if let crate::known_hosts::Pin::Differs(pinned) = kh.check(&host_id, &key) {
                return Err(crate::known_hosts::changed(&kh, &host_id, pinned, &key));
            }
        }
    }
    Ok(Connected {
        link,
        client,
        challenge,
        first_use,
    })
}

/// Feeds bytes to the client until it wants more; `Some(first_use)` once a challenge verified.
fn feed(client: &mut Client, mut bytes: &[u8]) -> Result<Option<bool>> {
    let mut found = None;
    loop {
        let (used, ev) = client.process(bytes);
        match ev {
            ClientEvent::NeedMore => {}
            ClientEvent::Text(_) | ClientEvent::BadFrame(_) | ClientEvent::Result(_) => {}
            ClientEvent::Challenge { first_use, .. } => found = Some(first_use),
            ClientEvent::Rejected(e) => {
                use tessera_core::client::ClientError as E;
                match e {
                    E::HostKeyMismatch => {
                        return Err(ToolError::NotTheGivenHostKey { presented: None })
                    }
                    E::BadHostSignature => return Err(ToolError::BadHostSignature),
                    E::Version(v) => return Err(ToolError::Version(v)),
                    // Garbage on a serial line: keep listening.
                    _ => {}
                }
            }
        }
        bytes = bytes.get(used..).unwrap_or(&[]);
        if used == 0 || bytes.is_empty() || found.is_some() {
            return Ok(found);
        }
    }
}
