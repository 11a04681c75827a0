//! Signing through the admin's running `ssh-agent` (SSH_AUTH_SOCK), so the private key never leaves it.
//!
//! Only the two requests tessera needs, written by hand (draft-miller-ssh-agent, sections 4.4 and 4.5:
//! REQUEST_IDENTITIES and SIGN_REQUEST); the client crates pull in far more than these ~100 lines.
//! Every length read from the socket is bounded; a broken or hostile agent gives an error, never
//! a panic or an unbounded allocation.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use tessera_core::openssh;

const REQUEST_IDENTITIES: u8 = 11;
const IDENTITIES_ANSWER: u8 = 12;
const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
/// Largest agent reply read (OpenSSH's own limit is 256 KiB).
const MAX_REPLY: usize = 256 * 1024;
const KEY_TYPE: &[u8] = b"ssh-ed25519";

/// A connection to the admin's ssh-agent (not the core's `Agent`, which is the unlock state machine).
pub struct Client {
    sock: UnixStream,
}

/// One ed25519 key the agent holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentKey {
    pub public: [u8; 32],
    pub comment: String,
}

impl Client {
    pub fn connect(path: &Path) -> std::io::Result<Client> {
        let sock = UnixStream::connect(path)?;
        // ssh-agent may ask for confirmation (ssh-add -c): leave a person time to answer.
        sock.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client { sock })
    }

    /// The ed25519 keys the agent holds, in its order.
    pub fn ed25519_keys(&mut self) -> std::io::Result<Vec<AgentKey>> {
        let reply = self.request(&[REQUEST_IDENTITIES])?;
        let mut r = Reader(&reply);
        if r.byte()? != IDENTITIES_ANSWER {
            return Err(bad("ssh-agent refused to list keys"));
        }
        let n = r.u32()?;
        let mut keys = Vec::new();
        for _ in 0..n {
            let blob = r.string()?;
            let comment = String::from_utf8_lossy(r.string()?).into_owned();
            if let Some(public) = ed25519_from_blob(blob) {
                keys.push(AgentKey { public, comment });
            }
        }
        Ok(keys)
    }

    /// Signs `data` with the agent's key `public`; returns the raw 64-byte ed25519 signature.
    pub fn sign(&mut self, public: &[u8; 32], data: &[u8]) -> std::io::Result<[u8; 64]> {
        let blob = openssh::blob(public);
        let mut req = vec![SIGN_REQUEST];
        put_string(&mut req, &blob);
        put_string(&mut req, data);
        req.extend_from_slice(&0u32.to_be_bytes());
        let reply = self.request(&req)?;
        let mut r = Reader(&reply);
        if r.byte()? != SIGN_RESPONSE {
            return Err(bad(
                "ssh-agent refused to sign (key removed, or confirmation denied)",
            ));
        }
        let mut s = Reader(r.string()?);
        if s.string()? != KEY_TYPE {
            return Err(bad("ssh-agent answered with a signature of another type"));
        }
        s.string()?
            .try_into()
            .map_err(|_| bad("ssh-agent answered with a signature of the wrong length"))
    }

    fn request(&mut self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut msg = (body.len() as u32).to_be_bytes().to_vec();
        msg.extend_from_slice(body);
        self.sock.write_all(&msg)?;
        let mut len = [0u8; 4];
        self.sock.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_REPLY {
            return Err(bad("ssh-agent sent a reply of impossible length"));
        }
        let mut reply = vec![0u8; len];
        self.sock.read_exact(&mut reply)?;
        Ok(reply)
    }
}

fn ed25519_from_blob(blob: &[u8]) -> Option<[u8; 32]> {
    let mut r = Reader(blob);
    if r.string().ok()? != KEY_TYPE {
        return None;
    }
    let key = r.string().ok()?.try_into().ok()?;
    r.0.is_empty().then_some(key)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> std::io::Result<u8> {
        let (&b, rest) = self
            .0
            .split_first()
            .ok_or_else(|| bad("short ssh-agent reply"))?;
        self.0 = rest;
        Ok(b)
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        let b = self
            .0
            .get(..4)
            .ok_or_else(|| bad("short ssh-agent reply"))?;
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        self.0 = &self.0[4..];
        Ok(n)
    }
    fn string(&mut self) -> std::io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        let s = self
            .0
            .get(..n)
            .ok_or_else(|| bad("short ssh-agent reply"))?;
        self.0 = &self.0[n..];
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trips_and_rejects_others() {
        let k = [9u8; 32];
        assert_eq!(ed25519_from_blob(&openssh::blob(&k)), Some(k));
        let mut rsa = Vec::new();
        put_string(&mut rsa, b"ssh-rsa");
        put_string(&mut rsa, &[1, 2, 3]);
        assert_eq!(ed25519_from_blob(&rsa), None);
        assert_eq!(ed25519_from_blob(&[0, 0, 0, 200]), None);
        let mut long = openssh::blob(&k).to_vec();
        long.push(0);
        assert_eq!(ed25519_from_blob(&long), None);
    }

    #[test]
    fn reader_never_panics_on_short_input() {
        for len in 0..12 {
            let data = vec![0xffu8; len];
            let mut r = Reader(&data);
            let _ = r.byte();
            let _ = r.string();
            let _ = r.u32();
        }
    }
}
