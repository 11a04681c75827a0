//! Initramfs images built the way a Debian admin builds them: write `/etc/crypttab`, install (or
//! not) tessera's hook and the agent's files into the chroot, run `mkinitramfs` inside it. Images are
//! cached under `<cache>/initrd/` by a hash of everything that goes in, so a rerun with the same agent
//! binary costs nothing (an arm64 image takes ~30 s under qemu-user).
//! It must never build two images in one chroot at once (the chroot's `/etc` is the input).

use crate::cache;
use crate::chroot::{Chroot, Flavor};
use crate::error::{Error, Result};
use crate::host::run;
use std::path::{Path, PathBuf};
use std::process::Command;
use tessera_conf::CrypttabEntry;

/// What tessera puts into `/etc/tessera/` and `/usr/lib/tessera/` of the chroot before the build.
#[derive(Clone, Debug, Default)]
pub struct TesseraFiles {
    /// The static agent for the chroot's architecture; `None` builds with the hook but no agent.
    pub agent: Option<PathBuf>,
    /// `/etc/tessera/agent.conf`.
    pub agent_conf: String,
    /// Other files for `/etc/tessera/` (name, bytes): host_key, authorized_keys, initramfs.conf.
    pub files: Vec<(String, Vec<u8>)>,
}

#[derive(Clone, Debug)]
pub struct InitrdSpec {
    pub crypttab: Vec<CrypttabEntry>,
    /// `None`: stock Debian, no tessera at all.
    pub tessera: Option<TesseraFiles>,
    /// More files for the chroot, only for this image (path relative to the chroot, bytes, mode):
    /// the benchmark's RSS probe, dropbear's authorized_keys.
    pub extra: Vec<(String, Vec<u8>, u32)>,
}

/// The repository's `initramfs-hook/` folder.
pub fn hook_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../initramfs-hook")
}

fn hook_bytes() -> Vec<u8> {
    let mut all = Vec::new();
    let mut stack = vec![hook_dir()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    files.sort();
    for f in files {
        all.extend_from_slice(f.to_string_lossy().as_bytes());
        all.extend(std::fs::read(&f).unwrap_or_default());
    }
    all
}

/// Builds (or finds in the cache) the initrd for `spec`; returns its path.
pub fn build(chroot: &Chroot, spec: &InitrdSpec) -> Result<PathBuf> {
    let agent_bytes = match spec.tessera.as_ref().and_then(|t| t.agent.as_ref()) {
        Some(p) => std::fs::read(p).map_err(Error::io(format!("reading {}", p.display())))?,
        None => Vec::new(),
    };
    let key = cache::key(&[
        chroot.dir.to_string_lossy().as_bytes(),
        format!("{:?}", spec.crypttab).as_bytes(),
        format!("{:?}", spec.extra).as_bytes(),
        format!(
            "{:?}",
            spec.tessera
                .as_ref()
                .map(|t| (&t.agent_conf, &t.files, t.agent.is_some()))
        )
        .as_bytes(),
        &agent_bytes,
        // A stock image does not depend on the hook: editing it must not rebuild those.
        &if spec.tessera.is_some() {
            hook_bytes()
        } else {
            Vec::new()
        },
    ]);
    let out_dir = cache::root().join("initrd");
    let out = out_dir.join(format!(
        "{}-{}-{key}.img",
        chroot.arch.debian(),
        chroot.dir.file_name().unwrap().to_string_lossy()
    ));
    if out.exists() {
        return Ok(out);
    }
    let _guard = chroot.build_lock.lock().unwrap_or_else(|e| e.into_inner());
    let _flock = cache::lock(&format!(
        "build-{}",
        chroot.dir.file_name().unwrap().to_string_lossy()
    ))?;
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(&out_dir).map_err(Error::io("creating the initrd cache"))?;
    let root = &chroot.dir;
    let w = |rel: &str, text: &[u8]| -> Result<()> {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap())
            .map_err(Error::io(format!("creating {}", p.display())))?;
        std::fs::write(&p, text).map_err(Error::io(format!("writing {}", p.display())))
    };
    let mut tab = String::new();
    for e in &spec.crypttab {
        tab.push_str(&e.line());
        tab.push('\n');
    }
    w("etc/crypttab", tab.as_bytes())?;
    w("etc/fstab", b"/dev/mapper/cryptroot / ext4 defaults 0 1\n")?;
    // Start from a chroot without tessera or another image's extra files, then add this image's.
    let extra_list = root.join("etc/tessera-e2e-extra.list");
    for line in std::fs::read_to_string(&extra_list)
        .unwrap_or_default()
        .lines()
    {
        let _ = std::fs::remove_file(root.join(line));
    }
    let mut list = String::new();
    for (rel, bytes, mode) in &spec.extra {
        w(rel, bytes)?;
        run(Command::new("chmod")
            .arg(format!("{mode:o}"))
            .arg(root.join(rel)))?;
        list.push_str(rel);
        list.push('\n');
    }
    std::fs::write(&extra_list, list).map_err(Error::io("writing the extra files list"))?;
    run(Command::new("sh")
        .arg(hook_dir().join("install.sh"))
        .arg("--remove")
        .arg(root))?;
    let _ = std::fs::remove_dir_all(root.join("etc/tessera"));
    let _ = std::fs::remove_file(root.join("usr/lib/tessera/tessera-agent"));
    if let Some(t) = &spec.tessera {
        run(Command::new("sh")
            .arg(hook_dir().join("install.sh"))
            .arg(root))?;
        w("etc/tessera/agent.conf", t.agent_conf.as_bytes())?;
        for (name, bytes) in &t.files {
            w(&format!("etc/tessera/{name}"), bytes)?;
        }
        if let Some(agent) = &t.agent {
            let dest = root.join("usr/lib/tessera/tessera-agent");
            std::fs::copy(agent, &dest).map_err(Error::io("copying the agent into the chroot"))?;
            run(Command::new("chmod").arg("755").arg(&dest))?;
        }
    }
    let t0 = std::time::Instant::now();
    let inside = "/boot/initrd.e2e.img";
    match chroot.flavor {
        Flavor::InitramfsTools | Flavor::Dropbear => {
            chroot.run(&["mkinitramfs", "-o", inside, &chroot.kernel_version])?;
        }
        Flavor::Dracut => {
            // A generic image with only the drivers a qemu machine needs (MODULES=list's twin);
            // crypttab is not read in no-hostonly mode: the volumes come from rd.luks.name= on
            // the kernel command line.
            let mut args = vec![
                "dracut",
                "--force",
                "--no-hostonly",
                "--no-hostonly-cmdline",
                "--drivers",
                "virtio_pci virtio_blk virtio_net ext4 dm_crypt",
                "--omit",
                "plymouth lvm mdraid dmraid multipath btrfs nvdimm fips",
            ];
            if spec.tessera.is_some() {
                args.extend(["--add", "tessera"]);
            }
            args.extend(["--kver", &chroot.kernel_version, inside]);
            chroot.run(&args)?;
        }
    }
    eprintln!(
        "e2e: built {} in {:.1} s",
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    let tmp = out.with_extension("partial");
    std::fs::copy(root.join(inside.trim_start_matches('/')), &tmp)
        .map_err(Error::io("copying the initrd"))?;
    std::fs::rename(&tmp, &out).map_err(Error::io("renaming the initrd"))?;
    Ok(out)
}
