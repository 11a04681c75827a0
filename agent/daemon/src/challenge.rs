//! The per-boot identity of the agent (host key, host id, boot id, admin keys) and the factory
//! that makes a conversation's core [`Agent`] from it.
//!
//! Each new challenge gets a fresh X25519 key and the volume table handed in by the caller; the
//! boot id is drawn once, here, at start. This module knows nothing of the volumes' states or of
//! any transport, and never logs the host key.

use std::fmt;

use tessera_core::limits::{MAX_ADMINS, MAX_VOLUMES};
use tessera_core::message::{Key, VolumeInfo};
use tessera_core::{Agent, AgentConfig, Name};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::keys::{self, SEED_LEN};
use crate::log::log;

/// The volume table as a challenge lists it.
pub type Volumes = heapless::Vec<VolumeInfo, MAX_VOLUMES>;

/// What stays the same for every challenge of this boot.
pub struct BootIdentity {
    host_key: Zeroizing<[u8; SEED_LEN]>,
    host_id: Name,
    boot_id: [u8; 16],
    admins: heapless::Vec<Key, MAX_ADMINS>,
}

#[derive(Debug)]
pub struct BootIdentityError(String);

impl fmt::Display for BootIdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl BootIdentity {
    pub fn new(
        cfg: &Config,
        seed: &[u8; SEED_LEN],
        admins: &[[u8; 32]],
    ) -> Result<BootIdentity, BootIdentityError> {
        let host_id = Name::new(&cfg.host_id).map_err(|e| {
            BootIdentityError(format!(
                "host id {}: {}; {}",
                cfg.host_id,
                e.message(),
                e.hint()
            ))
        })?;
        for v in &cfg.volumes {
            Name::new(&v.name).map_err(|e| {
                BootIdentityError(format!("volume {}: {}; {}", v.name, e.message(), e.hint()))
            })?;
        }
        let mut list = heapless::Vec::new();
        for a in admins.iter().take(MAX_ADMINS) {
            let _ = list.push(*a);
        }
        if admins.len() > MAX_ADMINS {
            log!("only the first {MAX_ADMINS} admin keys are used");
        }
        let mut boot_id = [0u8; 16];
        keys::fill_random(&mut boot_id)
            .map_err(|e| BootIdentityError(format!("cannot read random bytes: {e}")))?;
        Ok(BootIdentity {
            host_key: Zeroizing::new(*seed),
            host_id,
            boot_id,
            admins: list,
        })
    }

    /// A fresh challenge (new X25519 key) for the volume table `volumes`.
    pub fn new_agent(&self, volumes: Volumes) -> std::io::Result<Agent> {
        // Zeroizing: the copy moved into the config is wiped by the config's own Drop, this one
        // here.
        let ephemeral = Zeroizing::new(fresh_ephemeral()?);
        Ok(Agent::new(AgentConfig {
            host_key: *self.host_key,
            host_id: self.host_id.clone(),
            boot_id: self.boot_id,
            ephemeral_secret: *ephemeral,
            admins: self.admins.clone(),
            volumes,
        }))
    }
}

/// 32 fresh random bytes: the X25519 secret of a new challenge. The caller wipes the copy it
/// gets (the core's `Agent` wipes the ones it keeps).
pub fn fresh_ephemeral() -> std::io::Result<Key> {
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    keys::fill_random(&mut ephemeral[..])?;
    Ok(*ephemeral)
}
