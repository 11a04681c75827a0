//! Every integration test of tessera-sensors, one binary (ripgrep's layout): each module is one
//! topic, `upsd_common` is the helper that starts Debian's real upsd for `upsd`.

mod binary;
mod elitech_pty;
mod hid_descriptors;
mod packaging;
mod sysfs_exporter;
mod upsd;
mod upsd_common;
