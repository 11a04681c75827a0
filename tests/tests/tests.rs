//! Every test of tessera-e2e, one binary (ripgrep's layout), a module per topic. Each runs the real
//! binaries (target/debug/tessera and tessera-agent, the static agents of scripts/build-agents.sh)
//! and most boot qemu; scripts/test.sh builds what they need first. One binary lets libtest run the
//! topics side by side (qemu machines are capped by `TESSERA_E2E_JOBS`, see tests/README.md).
//!
//! One topic: `cargo test -p tessera-e2e --test tests processes::`.

mod boots;
mod flash_boot;
mod monitoring;
mod packages;
mod processes;
mod uhid_boot;
