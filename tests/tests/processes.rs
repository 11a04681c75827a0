//! The agent and the host tool as real processes on one machine, without qemu: tokens over TCP and
//! over a pty standing in for the serial console, the keyscript/askpass hand-off, host-key pinning
//! and signing through a real ssh-agent. Every test runs both binaries (each host's admin key is
//! made by `tessera keygen`), which is why they live here and not beside the agent.
//! Needs `cargo build -p tessera -p tessera-agent` first (scripts/test.sh does it).

mod common;
mod handoff;
mod pinning;
mod serial;
mod ssh_agent;
mod tcp;
