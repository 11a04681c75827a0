//! `tessera unlock`: answer an agent's challenge with a signed token carrying each waiting
//! volume's secret, and report what the agent did with each.
//!
//! Secrets are sealed to the challenge's ephemeral key before they leave this process and are
//! wiped after sealing. Exit codes tell scripts apart "unreachable", "host key", "refused" and
//! "wrong secret" (see `exit::ExitCode`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use argh::FromArgs;
use ssh_key::rand_core::{OsRng, RngCore};
use tessera_core::limits::MAX_FRAME;
use tessera_core::message::{Outcome, Verdict, VolumeState};
use tessera_core::{ClientEvent, Name};
use zeroize::Zeroizing;

use crate::connect::{self, Pinning};
use crate::error::{Result, ToolError};
use crate::identity::Signer;
use crate::link::DEFAULT_BAUD;
use crate::secrets::{Entered, Source};
use crate::target::AgentArgs;
use tessera_core::openssh::fingerprint;

/// How long the agent may take to try every secret (cryptsetup's KDF runs once per volume).
const RESULT_WAIT: Duration = Duration::from_secs(120);

/// unlock the waiting volumes of a server over TCP or its serial console
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "unlock")]
pub struct Unlock {
    /// the agent: HOST, HOST:PORT, IP or [IPv6]:PORT (default port 7743)
    #[argh(positional)]
    pub host: Option<String>,
    /// talk over this serial device instead (e.g. /dev/ttyUSB0)
    #[argh(option)]
    pub serial: Option<String>,
    /// serial baud rate (default 115200)
    #[argh(option, default = "DEFAULT_BAUD")]
    pub baud: u32,
    /// signing key file (default: ssh-agent, then ~/.config/tessera/id_ed25519, then ~/.ssh/id_ed25519)
    #[argh(option)]
    pub identity: Option<PathBuf>,
    /// pin this host key without asking: an `ssh-ed25519 AAAA...` line or a file holding one
    #[argh(option)]
    pub host_key: Option<String>,
    /// run this shell command per volume (TESSERA_VOLUME, TESSERA_HOST set); its first line is the secret
    #[argh(option)]
    pub secret_command: Option<String>,
    /// read one secret per line from stdin, in the order the agent lists the waiting volumes
    #[argh(switch)]
    pub secret_stdin: bool,
    /// only unlock this volume (repeatable)
    #[argh(option)]
    pub volume: Vec<String>,
    /// keep trying to reach the agent for up to SECONDS, with progress on stderr
    #[argh(option)]
    pub wait: Option<u64>,
    /// print the outcome as JSON on stdout
    #[argh(switch)]
    pub json: bool,
}

pub fn run(args: Unlock) -> Result<()> {
    if args.secret_command.is_some() && args.secret_stdin {
        return Err(ToolError::TwoSecretSources);
    }
    for v in &args.volume {
        Name::new(v).map_err(|why| ToolError::BadVolumeName {
            given: v.clone(),
            why,
        })?;
    }
    let agent = AgentArgs::parse(
        args.host,
        args.serial,
        args.baud,
        args.host_key.as_deref(),
        args.wait,
        args.json,
    )?;
    // Find the key before connecting: a missing key should not cost the agent a connection slot.
    let mut signer = Signer::select(args.identity.as_deref())?;
    let mut source = if let Some(cmd) = args.secret_command {
        Source::Command(cmd)
    } else if args.secret_stdin {
        Source::Stdin(Box::new(std::io::BufReader::new(std::io::stdin())))
    } else {
        Source::Prompt
    };
    let mut conn = connect::reach(
        &agent.target,
        agent.wait,
        &Pinning::Require(agent.host_key),
        agent.json,
    )?;
    let body = &conn.challenge.body;
    let host_id = body.host_id.as_str().to_string();
    let waiting: Vec<Name> = body
        .volumes
        .iter()
        .filter(|v| v.state == VolumeState::Waiting)
        .filter(|v| args.volume.is_empty() || args.volume.iter().any(|n| n == v.name.as_str()))
        .map(|v| v.name.clone())
        .collect();
    for v in &args.volume {
        if !body.volumes.iter().any(|w| w.name.as_str() == v) {
            return Err(ToolError::NoSuchVolume {
                host_id,
                volume: v.clone(),
            });
        }
    }
    if !agent.json {
        eprintln!(
            "tessera: {host_id} ({}){} signs with {}",
            fingerprint(&body.host_key),
            if conn.first_use { ", pinned now," } else { "" },
            signer.label()
        );
    }
    if waiting.is_empty() {
        if agent.json {
            println!("{}", serde_json::json!({"host_id": host_id, "volumes": []}));
        } else {
            println!("{host_id}: no volume waits to be unlocked");
        }
        return Ok(());
    }
    let mut secrets: Vec<(Name, Entered)> = Vec::new();
    for name in &waiting {
        secrets.push((name.clone(), source.get(&host_id, name.as_str())?));
    }
    let mut ikm = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut ikm[..]);
    let refs: Vec<(&Name, &[u8])> = secrets.iter().map(|(n, s)| (n, s.as_slice())).collect();
    let admin = signer.public();
    let request = conn
        .client
        .prepare_unlock(&admin, &refs, &ikm)
        .map_err(ToolError::Protocol)?;
    let signed_data = request.signed_data;
    drop(refs);
    drop(secrets);
    let signature = signer.sign(&signed_data)?;
    let mut frame = vec![0u8; MAX_FRAME];
    let n = conn
        .client
        .write_unlock(&signature, &mut frame)
        .map_err(|e| {
            if e == tessera_core::client::ClientError::BadAdminSignature {
                ToolError::WrongKeySignature
            } else {
                ToolError::Protocol(e)
            }
        })?;
    conn.link.send(&frame[..n])?;
    let result = wait_result(&mut conn)?;
    report(
        &host_id,
        &result,
        agent.json,
        conn.link.sent,
        conn.link.received,
    )
}

fn wait_result(conn: &mut connect::Connected) -> Result<tessera_core::message::ResultBody> {
    let deadline = Instant::now() + RESULT_WAIT;
    loop {
        let bytes = conn.link.read(deadline)?;
        if bytes.is_empty() {
            return Err(ToolError::NoResult);
        }
        let mut rest = &bytes[..];
        loop {
            let (used, ev) = conn.client.process(rest);
            if let ClientEvent::Result(r) = ev {
                return Ok(r.clone());
            }
            rest = rest.get(used..).unwrap_or(&[]);
            if used == 0 || rest.is_empty() {
                break;
            }
        }
    }
}

fn report(
    host_id: &str,
    result: &tessera_core::message::ResultBody,
    json: bool,
    sent: usize,
    received: usize,
) -> Result<()> {
    match &result.verdict {
        Verdict::Refused(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"host_id": host_id, "refused": r.message(), "hint": r.hint()})
                );
            }
            Err(ToolError::Refused {
                host_id: host_id.into(),
                why: *r,
            })
        }
        Verdict::Outcomes(lines) => {
            let mut wrong = Vec::new();
            let mut failed = Vec::new();
            for l in lines {
                match l.outcome {
                    Outcome::WrongSecret => wrong.push(l.name.as_str().to_string()),
                    Outcome::Error => failed.push(l.name.as_str().to_string()),
                    _ => {}
                }
            }
            if json {
                let vols: Vec<_> = lines
                    .iter()
                    .map(|l| serde_json::json!({"name": l.name.as_str(), "outcome": l.outcome.message()}))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"host_id": host_id, "volumes": vols, "bytes_sent": sent, "bytes_received": received})
                );
            } else {
                for l in lines {
                    println!("{host_id}: {}: {}", l.name.as_str(), l.outcome.message());
                }
            }
            if !wrong.is_empty() {
                return Err(ToolError::WrongSecret { volumes: wrong });
            }
            if !failed.is_empty() {
                return Err(ToolError::UnlockFailed {
                    host_id: host_id.into(),
                    volumes: failed,
                });
            }
            Ok(())
        }
    }
}
