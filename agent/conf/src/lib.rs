//! tessera-conf: the text files that more than one tessera crate reads or writes, each written
//! down once: `agent.conf` (parsed by the agent, rendered by `tessera flash` and the e2e tests),
//! `known_hosts` pins (the host tool and flash), crypttab lines, the target's architectures and
//! where every tessera file goes on a target.
//!
//! Small and std-only on purpose: the agent links it, and the agent is measured in kilobytes, so
//! no parser crates, no serde unless a caller asks for the `serde` feature. Names and limits come
//! from `tessera-core`; this crate never re-spells them. It reads and writes only the files its
//! callers name, and never prints.

pub mod agent_conf;
pub mod arch;
pub mod crypttab;
pub mod key_lines;
pub mod known_hosts;
pub mod layout;

pub use agent_conf::{Config, ConfigError, Listen, Method, Serial, Volume};
pub use arch::Arch;
pub use crypttab::CrypttabEntry;
pub use known_hosts::{KnownHosts, Pin};
