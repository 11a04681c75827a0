//! `tessera status`: show an agent's signed challenge (host id, host key, volumes and whether
//! they wait). Read-only: it sends no token and pins nothing.

use argh::FromArgs;
use tessera_core::message::VolumeState;

use crate::connect::{self, Pinning};
use crate::error::Result;
use crate::known_hosts::{KnownHosts, Pin};
use crate::link::DEFAULT_BAUD;
use crate::paths;
use crate::target::AgentArgs;
use tessera_conf::key_lines::openssh_line;
use tessera_core::openssh::fingerprint;

/// show a waiting agent's host id, host key and volumes
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct Status {
    /// the agent: HOST, HOST:PORT, IP or [IPv6]:PORT (default port 7743)
    #[argh(positional)]
    pub host: Option<String>,
    /// talk over this serial device instead
    #[argh(option)]
    pub serial: Option<String>,
    /// serial baud rate (default 115200)
    #[argh(option, default = "DEFAULT_BAUD")]
    pub baud: u32,
    /// expect this host key (ssh-ed25519 line or file)
    #[argh(option)]
    pub host_key: Option<String>,
    /// keep trying to reach the agent for up to SECONDS
    #[argh(option)]
    pub wait: Option<u64>,
    /// print JSON on stdout
    #[argh(switch)]
    pub json: bool,
}

pub fn run(args: Status) -> Result<()> {
    let agent = AgentArgs::parse(
        args.host,
        args.serial,
        args.baud,
        args.host_key.as_deref(),
        args.wait,
        args.json,
    )?;
    let conn = connect::reach(
        &agent.target,
        agent.wait,
        &Pinning::Show(agent.host_key),
        agent.json,
    )?;
    let body = &conn.challenge.body;
    let host_id = body.host_id.as_str();
    let pinned =
        KnownHosts::new(paths::known_hosts()?).check(host_id, &body.host_key) == Pin::Matches;
    let state = |s: VolumeState| match s {
        VolumeState::Waiting => "waiting",
        VolumeState::Unlocked => "unlocked",
    };
    if agent.json {
        let vols: Vec<_> = body
            .volumes
            .iter()
            .map(|v| serde_json::json!({"name": v.name.as_str(), "state": state(v.state)}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "host_id": host_id,
                "host_key": openssh_line(&body.host_key, ""),
                "fingerprint": fingerprint(&body.host_key).to_string(),
                "pinned": pinned,
                "protocol": body.version,
                "volumes": vols,
            })
        );
    } else {
        println!("host      {host_id}");
        println!(
            "host key  {} ({})",
            fingerprint(&body.host_key),
            if pinned { "pinned" } else { "NOT pinned" }
        );
        for v in &body.volumes {
            println!("volume    {:<24} {}", v.name.as_str(), state(v.state));
        }
    }
    Ok(())
}
