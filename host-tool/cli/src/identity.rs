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

use crate::error::{Result, ToolError};
use crate::paths;
use crate::ssh_agent;

pub enum Signer {
    Agent {
        agent: ssh_agent::Client,
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
            .and_then(|s| ssh_agent::Client::connect(Path::new(&s)).ok());
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
        Err(ToolError::NoKey)
    }

    /// A key file (private, or a `.pub` whose private half is in the ssh-agent).
    fn from_file(path: &Path, agent: Option<ssh_agent::Client>) -> Result<Signer> {
        let pub_path = if path.extension().is_some_and(|e| e == "pub") {
            path.to_path_buf()
        } else {
            let mut p = path.as_os_str().to_owned();
            p.push(".pub");
            PathBuf::from(p)
        };
        let pub_text = std::fs::read_to_string(&pub_path);
        let pub_key = pub_text
            .as_ref()
            .ok()
            .and_then(|t| t.lines().find_map(|l| parse_ed25519(l).ok().flatten()));
        if let (Some(mut agent), Some(&(public, _))) = (agent, pub_key.as_ref()) {
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
            // A readable .pub without an ed25519 line is the wrong kind of key, not a missing one.
            return Err(match (&pub_text, pub_key) {
                (Ok(_), None) => ToolError::NotEd25519(path.to_path_buf()),
                _ => ToolError::PubNotInAgent(path.to_path_buf()),
            });
        }
        let mut key = PrivateKey::read_openssh_file(path).map_err(|error| ToolError::ReadKey {
            path: path.to_path_buf(),
            error,
        })?;
        if key.is_encrypted() {
            let pass = crate::prompt::secret(&format!("Passphrase for {}: ", path.display()))
                .map_err(|error| ToolError::AskPassphrase {
                    path: path.to_path_buf(),
                    error,
                })?;
            key = key
                .decrypt(&pass[..])
                .map_err(|_| ToolError::WrongPassphrase(path.to_path_buf()))?;
        }
        let kp = key
            .key_data()
            .ed25519()
            .ok_or_else(|| ToolError::NotEd25519(path.to_path_buf()))?;
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
            Signer::Agent { agent, public, .. } => agent
                .sign(public, signed_data)
                .map_err(ToolError::AgentSign),
            Signer::File { seed, .. } => Ok(openssh::sign_signed_data(seed, signed_data)),
        }
    }
}
