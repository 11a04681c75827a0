//! `tessera keygen`: a new OpenSSH ed25519 key pair for signing unlock tokens.
//!
//! Writes the private key mode 0600 (unencrypted: put it in ssh-agent or on an encrypted home) and
//! the `.pub` line the admin pastes into the server's `authorized_keys`. Never overwrites a key.

use std::path::PathBuf;

use argh::FromArgs;
use ssh_key::{rand_core::OsRng, Algorithm, LineEnding, PrivateKey};

use crate::error::{Result, ToolError};
use crate::paths;
use tessera_core::openssh::fingerprint;

/// make a new ed25519 signing key (OpenSSH format)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "keygen")]
pub struct Keygen {
    /// where to write the private key (default ~/.config/tessera/id_ed25519; FILE.pub beside it)
    #[argh(option)]
    pub file: Option<PathBuf>,
    /// comment stored in the key (default USER@tessera)
    #[argh(option)]
    pub comment: Option<String>,
}

pub fn run(args: Keygen) -> Result<()> {
    let path = match args.file {
        Some(p) => p,
        None => paths::default_identity()?,
    };
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    if path.exists() || pub_path.exists() {
        return Err(ToolError::KeyExists(path));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| ToolError::CreateDir {
            dir: dir.to_path_buf(),
            error,
        })?;
    }
    let comment = args.comment.unwrap_or_else(|| {
        format!(
            "{}@tessera",
            std::env::var("USER").unwrap_or_else(|_| "admin".into())
        )
    });
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(ToolError::MakeKey)?;
    key.set_comment(&comment);
    let write_err = |p: &PathBuf, error: ssh_key::Error| ToolError::WriteKey {
        path: p.clone(),
        error,
    };
    key.write_openssh_file(&path, LineEnding::LF)
        .map_err(|e| write_err(&path, e))?;
    key.public_key()
        .write_openssh_file(&pub_path)
        .map_err(|e| write_err(&pub_path, e))?;
    let public = key
        .public_key()
        .key_data()
        .ed25519()
        .map(|k| k.0)
        .unwrap_or_default();
    let line = key.public_key().to_openssh().unwrap_or_default();
    println!("wrote {} and {}", path.display(), pub_path.display());
    println!("fingerprint {}", fingerprint(&public));
    println!("add this line to the server's /etc/tessera/authorized_keys:");
    println!("{line}");
    Ok(())
}
