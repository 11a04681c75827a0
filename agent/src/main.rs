//! tessera-agent: the initramfs side of tessera.
fn main() {}
