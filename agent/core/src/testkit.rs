//! Fixed, public test keys and fixtures shared by this crate's tests, the vectors in
//! `docs/protocol.md`, the fuzz targets and the agent's and host tool's tests (feature
//! `test-keys`), so fixtures are not repeated in three crates.
//!
//! Never enable this feature in a release build: every key here is published.

use heapless::Vec;

use crate::agent::{Agent, AgentConfig};
use crate::client::{Client, ClientError, ClientEvent, HostKeyCheck};
use crate::message::{BootId, Key, VolumeInfo, VolumeState};
use crate::name::Name;

/// The test host's ed25519 seed.
pub const HOST_SEED: Key = [0x11; 32];
/// The authorized test admin's ed25519 seed.
pub const ADMIN_SEED: Key = [0x22; 32];
/// A second admin, not authorized by [`agent_config`].
pub const OTHER_ADMIN_SEED: Key = [0x33; 32];
/// The agent's ephemeral X25519 secret.
pub const EPHEMERAL_SECRET: Key = [0x44; 32];
/// The boot id of the test agent.
pub const BOOT_ID: BootId = [0x55; 16];
/// The tool's HPKE ephemeral input keying material.
pub const SEAL_IKM: Key = [0x66; 32];
/// The heartbeat key's seed (docs/protocol.md §8).
pub const HEARTBEAT_SEED: Key = [0x88; 32];
/// The test host id.
pub const HOST_ID: &str = "web1";
/// The test volume.
pub const VOLUME: &str = "root_crypt";
/// The test volume's secret.
pub const SECRET: &[u8] = b"correct horse battery staple";

/// The ed25519 public key of a seed.
pub fn public_key(seed: &Key) -> Key {
    crate::openssh::public_key(seed)
}

/// A name for a test. Panics on an invalid name (a bug in the test).
#[allow(clippy::panic)]
pub fn name(s: &str) -> Name {
    Name::new(s).unwrap_or_else(|e| panic!("testkit::name({s:?}): {e}"))
}

/// Plays the tool for a test: answers `challenge_frame` (bytes from an agent, console text
/// allowed around it) with a token signed by `admin_seed`, sealing `secrets` with [`SEAL_IKM`].
/// Writes the token frame into `out` and returns its length, or the first error.
pub fn unlock_frame(
    challenge_frame: &[u8],
    admin_seed: &Key,
    secrets: &[(&Name, &[u8])],
    out: &mut [u8],
) -> Result<usize, ClientError> {
    client_after_unlock(challenge_frame, admin_seed, secrets, out).map(|(_, n)| n)
}

/// [`unlock_frame`], also returning the client, which now waits for the token's result.
pub fn client_after_unlock(
    challenge_frame: &[u8],
    admin_seed: &Key,
    secrets: &[(&Name, &[u8])],
    out: &mut [u8],
) -> Result<(Client, usize), ClientError> {
    let mut client = Client::new(HostKeyCheck::FirstUse);
    let mut rest = challenge_frame;
    loop {
        let (used, ev) = client.process(rest);
        match ev {
            ClientEvent::Challenge { .. } => break,
            ClientEvent::Rejected(e) => return Err(e),
            ClientEvent::NeedMore => return Err(ClientError::NoChallenge),
            _ => {}
        }
        rest = rest.get(used..).unwrap_or(&[]);
    }
    let req = client.prepare_unlock(&public_key(admin_seed), secrets, &SEAL_IKM)?;
    let sig = crate::openssh::sign(admin_seed, req.message);
    let n = client.write_unlock(&sig, out)?;
    Ok((client, n))
}

/// The test agent's config: host `web1`, one waiting volume `root_crypt`, [`ADMIN_SEED`]'s key
/// authorized.
pub fn agent_config() -> AgentConfig {
    let mut admins = Vec::new();
    let _ = admins.push(public_key(&ADMIN_SEED));
    let mut volumes = Vec::new();
    let _ = volumes.push(VolumeInfo {
        name: name(VOLUME),
        state: VolumeState::Waiting,
    });
    AgentConfig {
        host_key: HOST_SEED,
        host_id: name(HOST_ID),
        boot_id: BOOT_ID,
        ephemeral_secret: EPHEMERAL_SECRET,
        admins,
        volumes,
    }
}

/// The test agent.
pub fn agent() -> Agent {
    Agent::new(agent_config())
}
