//! Which admin key signs the unlock token, and signing with it (SSHSIG, like `ssh-keygen -Y sign`).
//!
//! Order (docs/interfaces.md): `--identity FILE`; else an ed25519 key in the ssh-agent named by
//! SSH_AUTH_SOCK; else `~/.config/tessera/id_ed25519`; else `~/.ssh/id_ed25519`. When a chosen key
//! file's public half is held by the ssh-agent, the agent signs, so a passphrase-protected key is not
//! asked for twice. Private key bytes are zeroized when dropped and never printed.

use std::path::{Path, PathBuf};

use ssh_key::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::error::{Result, ToolError};
use crate::paths;
use crate::ssh_agent::{self, ed25519_blob};

pub enum Signer {
    Agent {
        agent: ssh_agent::Client,
        public: [u8; 32],
        label: String,
    },
    File {
        key: ed25519_dalek::SigningKey,
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
        if let (Some(mut agent), Ok(pk)) = (agent, PublicKey::read_openssh_file(&pub_path)) {
            if let Some(public) = pk.key_data().ed25519().map(|k| k.0) {
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
        }
        if path == pub_path {
            return Err(ToolError::PubNotInAgent(path.to_path_buf()));
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
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let label = format!(
            "{} ({})",
            path.display(),
            fingerprint(&key.verifying_key().to_bytes())
        );
        Ok(Signer::File { key, label })
    }

    pub fn public(&self) -> [u8; 32] {
        match self {
            Signer::Agent { public, .. } => *public,
            Signer::File { key, .. } => key.verifying_key().to_bytes(),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Signer::Agent { label, .. } | Signer::File { label, .. } => label,
        }
    }

    /// Signs SSHSIG signed data (built by `tessera_core::sshsig::signed_data`: the same bytes
    /// `ssh-keygen -Y sign -n unlock@tessera` signs). Returns the raw 64-byte ed25519 signature.
    pub fn sign(&mut self, signed_data: &[u8]) -> Result<[u8; 64]> {
        match self {
            Signer::Agent { agent, public, .. } => agent
                .sign(public, signed_data)
                .map_err(ToolError::AgentSign),
            Signer::File { key, .. } => {
                use ed25519_dalek::Signer as _;
                Ok(key.sign(signed_data).to_bytes())
            }
        }
    }
}

/// `SHA256:...` as `ssh-keygen -l` prints it.
pub fn fingerprint(public: &[u8; 32]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(ed25519_blob(public));
    let b64 = base64ct::Base64Unpadded::encode_string(&digest);
    format!("SHA256:{b64}")
}

use base64ct::Encoding as _;
