//! OpenSSH public key lines as owned text: the std side of `tessera_core::openssh`, which parses
//! and encodes without allocation. Used for `.pub` files, `authorized_keys` and `known_hosts`.

use tessera_core::openssh::{self, KeyLine, KeyLineError};

/// `ssh-ed25519 AAAA... COMMENT` (no trailing space when `comment` is empty).
pub fn openssh_line(public: &[u8; 32], comment: &str) -> String {
    let mut buf = [0u8; openssh::ENCODED_LEN];
    let key = openssh::encode(public, &mut buf);
    if comment.is_empty() {
        key.to_string()
    } else {
        format!("{key} {comment}")
    }
}

/// The ssh-ed25519 key and comment of one line, `Ok(None)` for a blank, comment or other-type
/// line (as the core's parser reads it: options skipped, keys only where OpenSSH takes them).
pub fn parse_ed25519(line: &str) -> Result<Option<([u8; 32], String)>, KeyLineError> {
    match openssh::parse_line(line.as_bytes())? {
        KeyLine::Ed25519 { key, comment } => {
            Ok(Some((key, String::from_utf8_lossy(comment).into_owned())))
        }
        KeyLine::Blank | KeyLine::OtherKeyType => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let line = openssh_line(&[5; 32], "tessera-host");
        assert!(line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        assert_eq!(
            parse_ed25519(&line),
            Ok(Some(([5; 32], "tessera-host".into())))
        );
        assert!(!openssh_line(&[5; 32], "").ends_with(' '));
        assert_eq!(parse_ed25519("ssh-rsa AAAA x"), Ok(None));
        assert!(parse_ed25519("ssh-ed25519 !!").is_err());
    }
}
