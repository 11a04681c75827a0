//! tessera protocol core: framing, messages, signatures and sealing for unlocking LUKS volumes at
//! boot with a signed token.
//!
//! The crate is *sans-IO*: it owns no socket, no clock and no random number generator. The agent
//! binary, the host tool and the fuzz targets all drive the same two state machines
//! ([`agent::Agent`] and [`client::Client`]) by handing them bytes and randomness; only the shells
//! differ. It is `no_std`, allocates nothing (every buffer's capacity is in its type, every size in
//! [`limits`]) and must never panic on any input: the lints below hold that line in non-test code.
//!
//! The wire format is written down in `docs/protocol.md`, whose test vectors are checked by
//! `tests/vectors.rs`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Without allocation there is no boxing: big variants (a token, its secrets) are the point.
#![allow(clippy::large_enum_variant)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod agent;
pub mod client;
mod drive;
pub mod frame;
pub mod heartbeat;
pub mod limits;
pub mod message;
pub mod name;
pub mod openssh;
pub mod seal;
pub mod secret;
pub mod sshsig;
#[cfg(feature = "test-keys")]
pub mod testkit;
mod text;
mod transcript;

pub use agent::{Agent, AgentConfig, AgentEvent};
pub use client::{Client, ClientEvent, HostKeyCheck};
pub use frame::{Decoded, Decoder, FrameError};
pub use message::{Message, MessageError, Outcome, Refusal, VolumeState};
pub use name::Name;
pub use secret::Secret;
