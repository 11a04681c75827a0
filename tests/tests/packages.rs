//! The Debian packages: scripts/package.sh builds them with cargo-deb, and `dpkg-deb -c` / `-I`
//! must show every file where the hook, the agent and `tessera flash` look for it, with the
//! update-initramfs trigger in the agent package.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    tessera_e2e::tools::workspace()
}

fn dpkg(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb {args:?} {}", deb.display());
    String::from_utf8(out.stdout).unwrap()
}

/// `(mode, path)` of each regular file in the package.
fn files(deb: &Path) -> Vec<(String, String)> {
    dpkg(&["-c"], deb)
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_string(), w[5].trim_start_matches('.').to_string())
        })
        .collect()
}

#[test]
fn package_sh_builds_debs_with_the_right_contents() {
    let out_dir = repo().join("target/debian-test");
    let _ = std::fs::remove_dir_all(&out_dir);
    let st = Command::new(repo().join("scripts/package.sh"))
        .env("OUT", &out_dir)
        .status()
        .unwrap();
    assert!(st.success(), "scripts/package.sh failed");
    let version = env!("CARGO_PKG_VERSION");

    for arch in ["amd64", "arm64"] {
        let deb = out_dir.join(format!("tessera-agent_{version}-1_{arch}.deb"));
        let list = files(&deb);
        let want = [
            ("-rwxr-xr-x", "/usr/lib/tessera/tessera-agent"),
            ("-rwxr-xr-x", "/usr/lib/tessera/keyscript"),
            ("-rwxr-xr-x", "/usr/share/initramfs-tools/hooks/tessera"),
            (
                "-rwxr-xr-x",
                "/usr/share/initramfs-tools/scripts/init-premount/tessera",
            ),
            (
                "-rwxr-xr-x",
                "/usr/share/initramfs-tools/scripts/local-bottom/tessera",
            ),
            (
                "-rw-r--r--",
                "/usr/share/initramfs-tools/conf-hooks.d/tessera",
            ),
            ("-rw-r--r--", "/usr/share/doc/tessera-agent/copyright"),
        ];
        for (mode, path) in want {
            assert!(
                list.contains(&(mode.to_string(), path.to_string())),
                "{arch}: {mode} {path} missing in {list:?}"
            );
        }
        assert_eq!(list.len(), want.len(), "{arch}: unexpected files {list:?}");
        assert!(
            !list.iter().any(|(_, p)| p.starts_with("/etc/tessera")),
            "no host keys or config in a package"
        );
        let info = dpkg(&["-I"], &deb);
        assert!(info.contains(&format!("Architecture: {arch}")), "{info}");
        assert!(
            info.contains("Depends: cryptsetup-initramfs, initramfs-tools"),
            "{info}"
        );
        let out = Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .arg("triggers")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().last(),
            Some("activate-noawait update-initramfs")
        );
        // The agent inside is the static binary for that architecture.
        let x = tempfile::tempdir().unwrap();
        assert!(Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(x.path())
            .status()
            .unwrap()
            .success());
        let agent = std::fs::read(x.path().join("usr/lib/tessera/tessera-agent")).unwrap();
        let info = tessera_flash::elf::parse(&agent).unwrap();
        assert_eq!(info.machine, if arch == "amd64" { 62 } else { 183 });
        assert!(info.is_static);
    }

    for (arch, machine) in [("amd64", 62), ("arm64", 183)] {
        host_package(
            &out_dir.join(format!("tessera_{version}-1_{arch}.deb")),
            arch,
            machine,
        );
    }
}

fn host_package(deb: &Path, arch: &str, machine: u16) {
    let list = files(deb);
    for path in [
        "/usr/bin/tessera",
        "/usr/bin/tessera-sensors",
        "/usr/lib/tessera/agents/x86_64/tessera-agent",
        "/usr/lib/tessera/agents/aarch64/tessera-agent",
        "/usr/share/tessera/initramfs-hook/hooks/tessera",
        "/usr/share/tessera/initramfs-hook/scripts/init-premount/tessera",
        "/usr/share/tessera/initramfs-hook/scripts/local-bottom/tessera",
        "/usr/share/tessera/initramfs-hook/lib/keyscript",
        "/usr/share/tessera/initramfs-hook/conf-hooks.d/tessera",
        "/usr/share/tessera/boards/odroid-hc4.toml",
        // The sensors exporter as a service, and the monitoring files (docs/monitoring.md).
        "/usr/lib/systemd/system/tessera-sensors.service",
        "/usr/lib/sysusers.d/tessera.conf",
        "/usr/lib/udev/rules.d/60-tessera-sensors.rules",
        "/etc/default/tessera-sensors",
        "/usr/share/tessera/monitoring/alerts.yml",
        "/usr/share/tessera/monitoring/grafana-dashboard.json",
        "/usr/share/doc/tessera/monitoring.md",
    ] {
        assert!(
            list.iter().any(|(_, p)| p == path),
            "{path} missing in {list:?}"
        );
    }
    let boards = list
        .iter()
        .filter(|(_, p)| p.starts_with("/usr/share/tessera/boards/"))
        .count();
    assert_eq!(
        boards,
        std::fs::read_dir(repo().join("boards")).unwrap().count()
    );
    let info = dpkg(&["-I"], deb);
    assert!(
        info.contains(&format!("Architecture: {arch}")) && info.contains("openssh-client"),
        "{info}"
    );
    // The service's user is made on install; the unit is installed, not enabled.
    let out = Command::new("dpkg-deb")
        .arg("-I")
        .arg(deb)
        .arg("postinst")
        .output()
        .unwrap();
    let postinst = String::from_utf8_lossy(&out.stdout);
    assert!(
        postinst.contains("systemd-sysusers") && postinst.contains("tessera.conf"),
        "{postinst}"
    );
    assert!(!postinst.contains("DEBHELPER"), "{postinst}");
    assert!(
        !postinst.contains("deb-systemd-invoke start"),
        "the exporter must not start on install: {postinst}"
    );
    assert!(
        dpkg(&["-I"], deb).contains("systemd | systemd-standalone-sysusers"),
        "{info}"
    );
    let x = tempfile::tempdir().unwrap();
    assert!(Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(x.path())
        .status()
        .unwrap()
        .success());
    for bin in ["tessera", "tessera-sensors"] {
        let tool = std::fs::read(x.path().join("usr/bin").join(bin)).unwrap();
        assert_eq!(
            tessera_flash::elf::parse(&tool).unwrap().machine,
            machine,
            "{arch}: /usr/bin/{bin}"
        );
    }
    for (dir, m) in [("x86_64", 62), ("aarch64", 183)] {
        let agent = std::fs::read(
            x.path()
                .join(format!("usr/lib/tessera/agents/{dir}/tessera-agent")),
        )
        .unwrap();
        let info = tessera_flash::elf::parse(&agent).unwrap();
        assert_eq!(
            (info.machine, info.is_static),
            (m, true),
            "{arch}: agents/{dir}"
        );
    }
}
