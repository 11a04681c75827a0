//! Every integration test of tessera-core, one binary (ripgrep's layout), a module per topic: the
//! spec's vectors, whole exchanges between the two sides, properties over random input, and
//! OpenSSH's own `ssh-keygen -Y verify` on our signatures.

mod exchange;
mod properties;
mod ssh_keygen;
mod vectors;
