//! tessera protocol core: sans-IO, `no_std`, no allocation, no panic on any input.
#![no_std]
