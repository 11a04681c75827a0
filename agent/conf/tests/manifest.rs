//! `initramfs-hook/MANIFEST` against the Debian packages: the tessera-agent package carries every
//! initramfs-tools file at its DEST, the tessera package a copy of each under
//! /usr/share/tessera/initramfs-hook/ (for flash), and neither carries a hook file the manifest
//! does not list.

use std::collections::BTreeSet;
use std::path::Path;

use tessera_conf::layout::hook_manifest;

/// `(source under initramfs-hook/, destination, mode)` of the hook assets of a crate's .deb.
fn hook_assets(manifest: &str) -> BTreeSet<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let assets = doc["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap();
    assets
        .iter()
        .filter_map(|a| {
            let a = a.as_array().unwrap();
            let s = |i: usize| a[i].as_str().unwrap().to_string();
            let source = s(0).strip_prefix("../../initramfs-hook/")?.to_string();
            Some((source, s(1), s(2)))
        })
        .collect()
}

#[test]
fn the_agent_package_installs_what_the_manifest_says() {
    let want: BTreeSet<_> = hook_manifest()
        .iter()
        .filter(|e| e.local.is_some())
        .map(|e| {
            (
                e.source.to_string(),
                e.dest.trim_start_matches('/').to_string(),
                format!("{:o}", e.mode),
            )
        })
        .collect();
    assert_eq!(hook_assets("agent/daemon/Cargo.toml"), want);
}

#[test]
fn the_tool_package_carries_every_file_flash_installs() {
    let want: BTreeSet<_> = hook_manifest()
        .iter()
        .filter(|e| e.local.is_some())
        .map(|e| {
            (
                e.source.to_string(),
                format!("usr/share/tessera/initramfs-hook/{}", e.source),
                format!("{:o}", e.mode),
            )
        })
        .collect();
    assert_eq!(hook_assets("host-tool/cli/Cargo.toml"), want);
}
