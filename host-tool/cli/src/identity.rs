//! Which admin key signs the unlock token, and signing with it (SSHSIG, like `ssh-keygen -Y sign`).
//!
//! Order (docs/interfaces.md): `--identity FILE`; else an ed25519 key in the ssh-agent named by
//! SSH_AUTH_SOCK; else `~/.config/tessera/id_ed25519`; else `~/.ssh/id_ed25519`. When a chosen key
//! file's public half is held by the ssh-agent, the agent signs, so a passphrase-protected key is not
//! asked for twice. Private key bytes are zeroized when dropped and never printed.

use std::path::{Path, PathBuf};

use ssh_key::PrivateKey;
use tessera_conf::key_lines::parse_ed25519;
use tessera_core::openssh::{self, fingerprint, SEED_LEN};
use tessera_core::sshsig::SIGNED_DATA_LEN;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::paths;
use crate::ssh_agent::Agent;

pub enum Signer {
    Agent {
        agent: Agent,
        public: [u8; 32],
        label: String,
    },
    File {
        seed: Zeroizing<[u8; SEED_LEN]>,
        public: [u8; 32],
        label: String,
    },
}

impl Signer {
    /// Picks the signing key as documented above.
    pub fn select(identity: Option<&Path>) -> Result<Signer> {
        let mut agent = std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .and_then(|s| Agent::connect(Path::new(&s)).ok());
        if let Some(path) = identity {
            return Signer::from_file(path, agent);
        }
        if let Some(mut a) = agent.take() {
            if let Ok(keys) = a.ed25519_keys() {
                if let Some(k) = keys.into_iter().next() {
                    return Ok(Signer::Agent {
                        agent: a,
                        label: format!("ssh-agent key {} ({})", k.comment, fingerprint(&k.public)),
                        public: k.public,
                    });
                }
            }
        }
        for path in [
            paths::default_identity()?,
            paths::home()?.join(".ssh/id_ed25519"),
        ] {
            if path.exists() {
                return Signer::from_file(&path, None);
            }
        }
        Err(Error::other(
            "no ed25519 key: none in ssh-agent, none in ~/.config/tessera or ~/.ssh",
            "run `tessera keygen`, or `ssh-add` an ed25519 key, or pass --identity FILE",
        ))
    }

    /// A key file (private, or a `.pub` whose private half is in the ssh-agent).
    fn from_file(path: &Path, agent: Option<Agent>) -> Result<Signer> {
        let pub_path = if path.extension().is_some_and(|e| e == "pub") {
            path.to_path_buf()
        } else {
            let mut p = path.as_os_str().to_owned();
            p.push(".pub");
            PathBuf::from(p)
        };
        let pub_key = std::fs::read_to_string(&pub_path)
            .ok()
            .and_then(|t| t.lines().find_map(|l| parse_ed25519(l).ok().flatten()));
        if let (Some(mut agent), Some((public, _))) = (agent, pub_key) {
            if agent
                .ed25519_keys()
                .is_ok_and(|ks| ks.iter().any(|k| k.public == public))
            {
                return Ok(Signer::Agent {
                    agent,
                    label: format!(
                        "ssh-agent key {} ({})",
                        pub_path.display(),
                        fingerprint(&public)
                    ),
                    public,
                });
            }
        }
        if path == pub_path {
            return Err(Error::other(
                format!("{}: its private key is not in ssh-agent", path.display()),
                "run `ssh-add` with the private key, or pass the private key file to --identity",
            ));
        }
        let mut key = PrivateKey::read_openssh_file(path).map_err(|e| {
            Error::other(
                format!("cannot read key {}: {e}", path.display()),
                "pass an OpenSSH ed25519 private key to --identity, or run `tessera keygen`",
            )
        })?;
        if key.is_encrypted() {
            let pass = crate::prompt::secret(&format!("Passphrase for {}: ", path.display()))
                .map_err(|e| {
                    Error::other(
                        format!("cannot ask for the passphrase of {}: {e}", path.display()),
                        "add the key to ssh-agent with `ssh-add`",
                    )
                })?;
            key = key.decrypt(&pass[..]).map_err(|_| {
                Error::other(
                    format!("wrong passphrase for {}", path.display()),
                    "try again, or add the key to ssh-agent with `ssh-add`",
                )
            })?;
        }
        let kp = key.key_data().ed25519().ok_or_else(|| {
            Error::other(
                format!("{} is not an ed25519 key", path.display()),
                "tessera signs with ed25519 only: run `tessera keygen` or `ssh-keygen -t ed25519`",
            )
        })?;
        let seed = Zeroizing::new(kp.private.to_bytes());
        let public = openssh::public_key(&seed);
        let label = format!("{} ({})", path.display(), fingerprint(&public));
        Ok(Signer::File {
            seed,
            public,
            label,
        })
    }

    pub fn public(&self) -> [u8; 32] {
        match self {
            Signer::Agent { public, .. } | Signer::File { public, .. } => *public,
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Signer::Agent { label, .. } | Signer::File { label, .. } => label,
        }
    }

    /// Signs SSHSIG signed data (built by `tessera_core::sshsig::signed_data`: the same bytes
    /// `ssh-keygen -Y sign -n unlock@tessera` signs). Returns the raw 64-byte ed25519 signature.
    pub fn sign(&mut self, signed_data: &[u8; SIGNED_DATA_LEN]) -> Result<[u8; 64]> {
        match self {
            Signer::Agent { agent, public, .. } => agent.sign(public, signed_data).map_err(|e| {
                Error::other(
                    format!("ssh-agent could not sign: {e}"),
                    "check `ssh-add -l`, or pass --identity FILE",
                )
            }),
            Signer::File { seed, .. } => Ok(openssh::sign_signed_data(seed, signed_data)),
        }
    }
}
