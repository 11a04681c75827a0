//! The agent's keys on disk: its ed25519 host key (a 32-byte seed, made by `--gen-host-key`) and the
//! admins' public keys (OpenSSH `authorized_keys` lines; only `ssh-ed25519` keys are used).
//!
//! Both files sit in the initramfs on an unencrypted /boot: the host key file must be mode 0600 and
//! the seed is wiped from memory when dropped. Parsing never panics on a malformed line; it skips
//! lines of other key types and reports the first broken ed25519 line.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tessera_conf::key_lines::openssh_line;
pub use tessera_core::openssh::SEED_LEN;
use tessera_core::openssh::{self, KeyLine};
use zeroize::Zeroizing;

#[derive(Debug)]
pub enum KeyError {
    Io(String, io::Error),
    SeedLength(String, usize),
    Permissions(String, u32),
    BadLine(String, usize),
    NoKeys(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io(p, e) => write!(f, "{p}: {e}; check the path in agent.conf"),
            KeyError::SeedLength(p, n) => write!(
                f,
                "{p}: host key is {n} bytes, expected {SEED_LEN}; make one with `tessera-agent --gen-host-key {p}`"
            ),
            KeyError::Permissions(p, m) => {
                write!(f, "{p}: host key has mode {m:o}; run `chmod 600 {p}`")
            }
            KeyError::BadLine(p, n) => write!(
                f,
                "{p}:{n}: broken ssh-ed25519 key; paste the admin's id_ed25519.pub line again"
            ),
            KeyError::NoKeys(p) => write!(
                f,
                "{p}: no ssh-ed25519 key; add the admins' id_ed25519.pub lines"
            ),
        }
    }
}

/// Reads the 32-byte host key seed; refuses a file others can read.
pub fn load_seed(path: &Path) -> Result<Zeroizing<[u8; SEED_LEN]>, KeyError> {
    let name = path.display().to_string();
    let meta = fs::metadata(path).map_err(|e| KeyError::Io(name.clone(), e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions(name, mode));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| KeyError::Io(name.clone(), e))?);
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    if bytes.len() != SEED_LEN {
        return Err(KeyError::SeedLength(name, bytes.len()));
    }
    seed.copy_from_slice(&bytes);
    Ok(seed)
}

/// `--gen-host-key FILE`: a fresh seed (mode 0600) and `FILE.pub`; returns the .pub line.
pub fn generate(path: &Path) -> Result<String, KeyError> {
    let name = path.display().to_string();
    let io = |e| KeyError::Io(name.clone(), e);
    let mut seed = Zeroizing::new([0u8; SEED_LEN]);
    fill_random(&mut seed[..]).map_err(io)?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(&seed[..]).map_err(io)?;
    let line = openssh_line(&openssh::public_key(&seed), "tessera-host");
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    fs::write(&pub_path, format!("{line}\n")).map_err(io)?;
    Ok(line)
}

/// Fills `buf` from the kernel's CSPRNG (blocks only until the pool is first initialised).
pub fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        done += rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(())
}

/// The ed25519 keys of an authorized_keys file (options before the key type are allowed).
pub fn load_authorized(path: &Path) -> Result<Vec<[u8; 32]>, KeyError> {
    let name = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|e| KeyError::Io(name.clone(), e))?;
    let keys = parse_authorized(&text).map_err(|line| KeyError::BadLine(name.clone(), line))?;
    if keys.is_empty() {
        return Err(KeyError::NoKeys(name));
    }
    Ok(keys)
}

/// Parses authorized_keys text (with the core's line parser); `Err(line)` for the first broken
/// ssh-ed25519 line.
pub fn parse_authorized(text: &str) -> Result<Vec<[u8; 32]>, usize> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match openssh::parse_line(line.as_bytes()) {
            Ok(KeyLine::Ed25519 { key, .. }) => {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Ok(_) => {}
            Err(_) => return Err(i + 1),
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A public key made by `ssh-keygen -t ed25519`.
    const LINE: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFzdqa4GJIrKiU0XOTRUcbCjbqmwfWTt80xVdBjidzCH admin@laptop";

    #[test]
    fn host_key_line_round_trips() {
        let seed = [7u8; 32];
        let public = openssh::public_key(&seed);
        let line = openssh_line(&public, "x");
        assert!(line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        assert_eq!(parse_authorized(&line).unwrap(), vec![public]);
    }

    #[test]
    fn authorized_keys_with_options_comments_and_other_types() {
        let text = format!(
            "# admins\n\nssh-rsa AAAAB3NzaC1yc2E= old\nfrom=\"10.0.0.1\",no-pty {LINE}\n{LINE}\n"
        );
        let keys = parse_authorized(&text).unwrap();
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn broken_ed25519_line_is_reported_with_its_number() {
        assert_eq!(parse_authorized("\nssh-ed25519 AAAA!!\n"), Err(2));
        assert_eq!(parse_authorized("ssh-ed25519\n"), Err(1));
        // A valid base64 blob of the wrong key type.
        assert_eq!(
            parse_authorized("ssh-ed25519 AAAAB3NzaC1yc2EAAAABeA=="),
            Err(1)
        );
    }

    #[test]
    fn generated_key_is_private_and_loads() {
        let dir = std::env::temp_dir().join(format!("tessera-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("host_key");
        let line = generate(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let seed = load_seed(&path).unwrap();
        assert_eq!(
            parse_authorized(&line).unwrap(),
            vec![openssh::public_key(&seed)]
        );
        let pub_file = fs::read_to_string(dir.join("host_key.pub")).unwrap();
        assert_eq!(pub_file.trim(), line);
        // Refuses to overwrite, and refuses a world-readable key.
        assert!(generate(&path).is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_seed(&path),
            Err(KeyError::Permissions(_, 0o644))
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}
