//! Sealing secrets to the agent's ephemeral key: HPKE base mode (RFC 9180) with
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305, from the `hpke` crate.
//!
//! One token uses one HPKE context: the tool seals the volumes' secrets in token order (sequence
//! numbers 0, 1, ...) and the agent opens them in the same order. `info` binds the context to the
//! challenge (host id, boot id, challenge hash), `aad` binds each secret to its volume name. The
//! core has no random number generator: the sender's ephemeral key is derived from 32 bytes the
//! caller draws ([`Sealer::new`]'s `ikm`, as RFC 9180's DeriveKeyPair). Nothing here may panic
//! or allocate.

use core::convert::Infallible;
use core::fmt;

use heapless::Vec;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroize;

use crate::limits::{
    AEAD_TAG_LEN, BOOT_ID_LEN, HASH_LEN, KEY_LEN, MAX_NAME, MAX_SEALED, MAX_SECRET,
};
use crate::name::Name;
use crate::secret::Secret;
use crate::text::message;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;

/// Context string at the start of every HPKE `info`.
pub const SEAL_CONTEXT: &[u8] = b"tessera-v1 seal\0";

/// Longest HPKE `info`: context, host id (length-prefixed), boot id, challenge hash.
pub const MAX_INFO: usize = SEAL_CONTEXT.len() + 1 + MAX_NAME + BOOT_ID_LEN + HASH_LEN;

/// Longest HPKE `aad`: a length-prefixed volume name.
pub const MAX_AAD: usize = 1 + MAX_NAME;

/// HPKE failed: the key is invalid, or a ciphertext does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealError {
    /// The public key or `enc` is not a usable X25519 key (e.g. a low-order point).
    BadKey,
    /// The secret is longer than [`MAX_SECRET`].
    SecretTooLong,
    /// The ciphertext does not open (tampered, wrong key, wrong info/aad, wrong order).
    OpenFailed,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SealError::BadKey => "unusable X25519 key",
            SealError::SecretTooLong => {
                message!(Str("secret longer than "), Num(MAX_SECRET), Str(" bytes"))
            }
            SealError::OpenFailed => "sealed secret does not open",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SealError {}

/// The HPKE `info` for a token answering a challenge.
pub fn info(
    host_id: &Name,
    boot_id: &[u8; BOOT_ID_LEN],
    challenge_hash: &[u8; HASH_LEN],
) -> Vec<u8, MAX_INFO> {
    let mut v = Vec::new();
    // Capacity is MAX_INFO by construction; extend_from_slice cannot fail here.
    let _ = v.extend_from_slice(SEAL_CONTEXT);
    let _ = v.push(u8::try_from(host_id.as_bytes().len()).unwrap_or(0));
    let _ = v.extend_from_slice(host_id.as_bytes());
    let _ = v.extend_from_slice(boot_id);
    let _ = v.extend_from_slice(challenge_hash);
    v
}

/// The HPKE `aad` for one volume's secret.
pub fn aad(volume: &Name) -> Vec<u8, MAX_AAD> {
    let mut v = Vec::new();
    let _ = v.push(u8::try_from(volume.as_bytes().len()).unwrap_or(0));
    let _ = v.extend_from_slice(volume.as_bytes());
    v
}

/// The X25519 public key of a secret key (the agent's ephemeral key for its challenge).
pub fn public_key(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    match <Kem as hpke::Kem>::PrivateKey::from_bytes(secret) {
        Ok(sk) => {
            let mut out = [0u8; KEY_LEN];
            out.copy_from_slice(&Kem::sk_to_pk(&sk).to_bytes());
            out
        }
        // from_bytes only fails on a wrong length, which the array type rules out.
        Err(_) => [0; KEY_LEN],
    }
}

/// Hands HPKE exactly the caller's 32 bytes as the ephemeral key's input keying material.
struct FixedIkm {
    ikm: [u8; KEY_LEN],
    used: usize,
}

impl hpke::rand_core::TryRng for FixedIkm {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        // HPKE asks for exactly Nsk = 32 bytes once; anything beyond is zeros, which DeriveKeyPair
        // would still hash, but it never happens with X25519.
        for d in dst.iter_mut() {
            *d = self.ikm.get(self.used).copied().unwrap_or(0);
            self.used = self.used.saturating_add(1);
        }
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for FixedIkm {}

impl Drop for FixedIkm {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.ikm);
    }
}

/// The tool's side: seals secrets one after the other to one recipient.
pub struct Sealer {
    ctx: hpke::aead::AeadCtxS<Aead, Kdf, Kem>,
}

impl Sealer {
    /// Sets up a context to `recipient` (the challenge's ephemeral key); returns it and `enc`.
    ///
    /// `ikm` must be 32 fresh random bytes: they become the sender's ephemeral key.
    pub fn new(
        recipient: &[u8; KEY_LEN],
        info: &[u8],
        ikm: &[u8; KEY_LEN],
    ) -> Result<(Sealer, [u8; KEY_LEN]), SealError> {
        let pk =
            <Kem as hpke::Kem>::PublicKey::from_bytes(recipient).map_err(|_| SealError::BadKey)?;
        let mut rng = FixedIkm { ikm: *ikm, used: 0 };
        let (enc, ctx) =
            hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(&OpModeS::Base, &pk, info, &mut rng)
                .map_err(|_| SealError::BadKey)?;
        let mut e = [0u8; KEY_LEN];
        e.copy_from_slice(&enc.to_bytes());
        Ok((Sealer { ctx }, e))
    }

    /// Seals the next secret with `aad`; returns ciphertext ‖ tag.
    pub fn seal(&mut self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8, MAX_SEALED>, SealError> {
        if secret.len() > MAX_SECRET {
            return Err(SealError::SecretTooLong);
        }
        let mut out: Vec<u8, MAX_SEALED> = Vec::new();
        out.extend_from_slice(secret)
            .map_err(|_| SealError::SecretTooLong)?;
        let tag = match self.ctx.seal_inout_detached(out.as_mut_slice().into(), aad) {
            Ok(tag) => tag,
            Err(_) => {
                // Still the plaintext (the context's message limit): wipe before dropping.
                out.as_mut_slice().zeroize();
                return Err(SealError::BadKey);
            }
        };
        out.extend_from_slice(&tag.to_bytes())
            .map_err(|_| SealError::SecretTooLong)?;
        Ok(out)
    }
}

/// The agent's side: opens the secrets of one token in order.
pub struct Opener {
    ctx: hpke::aead::AeadCtxR<Aead, Kdf, Kem>,
}

impl Opener {
    /// Sets up the context from the agent's ephemeral secret key and the token's `enc`.
    pub fn new(
        secret: &[u8; KEY_LEN],
        enc: &[u8; KEY_LEN],
        info: &[u8],
    ) -> Result<Opener, SealError> {
        let sk =
            <Kem as hpke::Kem>::PrivateKey::from_bytes(secret).map_err(|_| SealError::BadKey)?;
        let enc =
            <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| SealError::BadKey)?;
        let ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, info)
            .map_err(|_| SealError::BadKey)?;
        Ok(Opener { ctx })
    }

    /// Opens the next ciphertext ‖ tag with `aad`.
    pub fn open(&mut self, sealed: &[u8], aad: &[u8]) -> Result<Secret, SealError> {
        let mut secret = Secret::empty();
        self.open_into(sealed, aad, &mut secret)?;
        Ok(secret)
    }

    /// Opens the next ciphertext ‖ tag with `aad` into `out`, in place: the plaintext is never
    /// moved (a move is a copy that zeroize-on-drop cannot reach). On error `out` is wiped.
    pub fn open_into(
        &mut self,
        sealed: &[u8],
        aad: &[u8],
        out: &mut Secret,
    ) -> Result<(), SealError> {
        out.zeroize();
        let ct_len = sealed
            .len()
            .checked_sub(AEAD_TAG_LEN)
            .ok_or(SealError::OpenFailed)?;
        let (ct, tag) = sealed
            .split_at_checked(ct_len)
            .ok_or(SealError::OpenFailed)?;
        let tag =
            hpke::aead::AeadTag::<Aead>::from_bytes(tag).map_err(|_| SealError::OpenFailed)?;
        let buf = out
            .buffer_mut()
            .get_mut(..ct_len)
            .ok_or(SealError::SecretTooLong)?;
        buf.copy_from_slice(ct);
        if self.ctx.open_inout_detached(buf.into(), aad, &tag).is_err() {
            out.zeroize();
            return Err(SealError::OpenFailed);
        }
        out.set_len(ct_len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// RFC 9180 appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base.
    #[test]
    fn rfc9180_a_2_1_vector() {
        let info = hex::decode("4f6465206f6e2061204772656369616e2055726e").unwrap();
        let ikm_e: [u8; 32] =
            hex("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b");
        let sk_rm: [u8; 32] =
            hex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb");
        let pk_rm: [u8; 32] =
            hex("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a");
        let enc_expected: [u8; 32] =
            hex("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
        let pt = hex::decode("4265617574792069732074727574682c20747275746820626561757479").unwrap();
        let aad0 = hex::decode("436f756e742d30").unwrap();
        let ct0 = hex::decode(
            "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
        )
        .unwrap();
        let aad1 = hex::decode("436f756e742d31").unwrap();
        let ct1 = hex::decode(
            "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c",
        )
        .unwrap();

        assert_eq!(public_key(&sk_rm), pk_rm);
        let (mut s, enc) = Sealer::new(&pk_rm, &info, &ikm_e).unwrap();
        assert_eq!(enc, enc_expected);
        assert_eq!(s.seal(&pt, &aad0).unwrap().as_slice(), ct0.as_slice());
        assert_eq!(s.seal(&pt, &aad1).unwrap().as_slice(), ct1.as_slice());

        let mut o = Opener::new(&sk_rm, &enc, &info).unwrap();
        assert_eq!(o.open(&ct0, &aad0).unwrap().as_bytes(), pt.as_slice());
        assert_eq!(o.open(&ct1, &aad1).unwrap().as_bytes(), pt.as_slice());
    }

    /// Every small-order X25519 point (libsodium's list, also with bit 255 set, which X25519
    /// ignores) gives an all-zero shared secret: refused as a recipient key and as `enc`.
    #[test]
    fn small_order_points_are_refused_on_both_sides() {
        let mut points: std::vec::Vec<[u8; 32]> = [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000000000000000000000000000000000000000000000000000",
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        ]
        .iter()
        .map(|h| hex(h))
        .collect();
        for i in 0..points.len() {
            let mut high = points[i];
            high[31] |= 0x80;
            points.push(high);
        }
        let sk = [9u8; 32];
        for p in &points {
            assert_eq!(
                Sealer::new(p, b"info", &[1; 32]).err(),
                Some(SealError::BadKey),
                "recipient {p:02x?}"
            );
            assert_eq!(
                Opener::new(&sk, p, b"info").err(),
                Some(SealError::BadKey),
                "enc {p:02x?}"
            );
        }
        // Control: a real key works.
        assert!(Sealer::new(&public_key(&sk), b"info", &[1; 32]).is_ok());
    }

    #[test]
    fn open_into_fills_in_place_and_wipes_on_failure() {
        let sk = [9u8; 32];
        let (mut s, enc) = Sealer::new(&public_key(&sk), b"info", &[1; 32]).unwrap();
        let a = s.seal(b"first", b"a").unwrap();
        let mut out = Secret::new(b"left over from before").unwrap();
        let mut o = Opener::new(&sk, &enc, b"info").unwrap();
        o.open_into(&a, b"a", &mut out).unwrap();
        assert_eq!(out.as_bytes(), b"first");
        let mut out = Secret::new(b"left over from before").unwrap();
        let mut o = Opener::new(&sk, &enc, b"info").unwrap();
        assert_eq!(
            o.open_into(&a, b"wrong aad", &mut out),
            Err(SealError::OpenFailed)
        );
        assert!(out.is_empty());
        assert!(out.buffer_mut().iter().all(|&b| b == 0), "wiped on failure");
    }

    #[test]
    fn wrong_aad_order_or_info_does_not_open() {
        let sk = [9u8; 32];
        let pk = public_key(&sk);
        let (mut s, enc) = Sealer::new(&pk, b"info", &[1; 32]).unwrap();
        let a = s.seal(b"first", b"a").unwrap();
        let b = s.seal(b"second", b"b").unwrap();
        assert_eq!(
            Opener::new(&sk, &enc, b"info")
                .unwrap()
                .open(&b, b"b")
                .unwrap_err(),
            SealError::OpenFailed
        );
        assert!(Opener::new(&sk, &enc, b"other")
            .unwrap()
            .open(&a, b"a")
            .is_err());
        let mut o = Opener::new(&sk, &enc, b"info").unwrap();
        assert!(o.open(&a, b"x").is_err());
        assert!(o.open(&a[..10], b"a").is_err());
        assert!(o.open(&[], b"a").is_err());
        assert!(
            Opener::new(&sk, &[0; 32], b"info").is_err(),
            "low-order enc refused"
        );
    }
}
