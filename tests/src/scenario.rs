//! The pieces every boot test puts together: a work folder under `target/e2e/`, the chroot, a LUKS
//! root (and data) image, an initrd, a machine; plus the agent config a scenario asks for.
//! It must never share a work folder between two tests (each gets `target/e2e/<name>`).

use crate::chroot::{self, Arch, Chroot, Flavor};
use crate::disk::{self, LuksImage};
use crate::error::{Error, Result};
use crate::initrd::{self, InitrdSpec};
use crate::qemu::{Machine, MachineSpec, Nic};
use std::path::PathBuf;
use tessera_conf::agent_conf::{Config, Listen, Method, Serial, Volume};
use tessera_conf::{layout, CrypttabEntry};

pub const PASSPHRASE: &str = "e2e-test-passphrase";
pub const DATA_PASSPHRASE: &str = "e2e-data-passphrase";

pub struct Scenario {
    pub name: String,
    pub arch: Arch,
    pub chroot: &'static Chroot,
    pub work: PathBuf,
}

impl Scenario {
    pub fn new(name: &str, arch: Arch, flavor: Flavor) -> Result<Scenario> {
        let chroot = chroot::get(arch, flavor)?;
        let work = crate::tools::workspace().join("target/e2e").join(name);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)
            .map_err(Error::io(format!("creating {}", work.display())))?;
        Ok(Scenario {
            name: name.into(),
            arch,
            chroot,
            work,
        })
    }

    pub fn root_image(&self) -> Result<LuksImage> {
        disk::root_image(self.chroot, &self.work, PASSPHRASE)
    }

    pub fn data_image(&self) -> Result<LuksImage> {
        disk::data_image(&self.work, DATA_PASSPHRASE)
    }

    pub fn initrd(
        &self,
        volumes: &[&LuksImage],
        tessera: Option<initrd::TesseraFiles>,
    ) -> Result<PathBuf> {
        self.initrd_with(volumes, tessera, Vec::new())
    }

    /// `initrd`, with extra files written into the chroot for this image only.
    pub fn initrd_with(
        &self,
        volumes: &[&LuksImage],
        tessera: Option<initrd::TesseraFiles>,
        extra: Vec<(String, Vec<u8>, u32)>,
    ) -> Result<PathBuf> {
        let names = ["cryptroot", "cryptdata"];
        let crypttab = volumes
            .iter()
            .zip(names)
            .map(|(v, n)| CrypttabEntry {
                name: n.into(),
                source: format!("UUID={}", v.uuid),
                key: "none".into(),
                options: "luks,initramfs".into(),
            })
            .collect();
        initrd::build(
            self.chroot,
            &InitrdSpec {
                crypttab,
                tessera,
                extra,
            },
        )
    }

    /// Boots with a static `ip=` (for slirp) when the machine has a NIC; `extra` goes on the cmdline.
    pub fn boot(
        &self,
        initrd: &std::path::Path,
        disks: &[&LuksImage],
        nic: Nic,
        extra: &str,
    ) -> Result<Machine> {
        Machine::boot(&self.spec(initrd, disks, nic, extra))
    }

    /// The machine `boot` would start, for callers that change something first (a packet dump).
    pub fn spec(
        &self,
        initrd: &std::path::Path,
        disks: &[&LuksImage],
        nic: Nic,
        extra: &str,
    ) -> MachineSpec {
        let mut append = String::from("net.ifnames=0 ");
        if self.chroot.flavor == Flavor::Dracut {
            // dracut reads no crypttab in a generic image: systemd's generator takes the names here.
            for (d, n) in disks.iter().zip(["cryptroot", "cryptdata"]) {
                append.push_str(&format!("rd.luks.name={}={n} ", d.uuid));
            }
        }
        if !matches!(nic, Nic::None) {
            append.push_str(crate::qemu::STATIC_IP);
            append.push(' ');
        }
        append.push_str(extra);
        MachineSpec {
            name: self.name.clone(),
            arch: self.arch,
            kernel: self.chroot.kernel(),
            initrd: initrd.to_path_buf(),
            append,
            disks: disks.iter().map(|d| d.path.clone()).collect(),
            nic,
            mem_mb: 512,
            workdir: self.work.clone(),
            pcap: None,
            bios: None,
        }
    }
}

/// `/etc/tessera/agent.conf` for a scenario: volumes named as in crypttab, by UUID; `method` is
/// an agent.conf method name (`keyscript`, `test`, ...).
pub fn agent_conf(
    host_id: &str,
    serial: Option<&str>,
    volumes: &[(&str, &LuksImage)],
    method: &str,
) -> String {
    let method = Method::parse(method)
        .unwrap_or_else(|| panic!("agent_conf: `{method}` is not an agent.conf method"));
    Config {
        host_id: host_id.into(),
        host_key: layout::HOST_KEY.into(),
        authorized_keys: layout::AUTHORIZED_KEYS.into(),
        listen: Listen::Addrs(vec![([0, 0, 0, 0], 7743).into()]),
        serial: serial.map(|tty| Serial {
            device: format!("/dev/{tty}").into(),
            baud: 115200,
        }),
        volumes: volumes
            .iter()
            .map(|(name, img)| Volume {
                name: name.to_string(),
                device: format!("/dev/disk/by-uuid/{}", img.uuid).into(),
                method,
            })
            .collect(),
        run_dir: tessera_conf::agent_conf::DEFAULT_RUN_DIR.into(),
        passfifo: tessera_conf::agent_conf::DEFAULT_PASSFIFO.into(),
    }
    .render("written by tessera-e2e")
}

/// The tessera files for an image: the agent for the scenario's architecture, its config, the host
/// key made by `tessera-agent --gen-host-key`, the admin's key as authorized_keys, and the NIC module.
pub fn tessera_files(
    arch: Arch,
    keys: &crate::tools::Keys,
    agent_conf: String,
) -> Result<initrd::TesseraFiles> {
    Ok(initrd::TesseraFiles {
        agent: Some(crate::tools::agent(arch)?),
        agent_conf,
        files: vec![
            ("host_key".into(), keys.host_key.clone()),
            (
                "authorized_keys".into(),
                keys.identity_pub.clone().into_bytes(),
            ),
            (
                "initramfs.conf".into(),
                b"NIC_MODULES=\"virtio_net virtio_pci\"\n".to_vec(),
            ),
        ],
    })
}

/// One admin identity and one host key for every scenario of a run (`target/e2e/keys/`), so that
/// scenarios with the same config share one cached initrd.
pub fn shared_keys() -> Result<crate::tools::Keys> {
    static KEYS: std::sync::Mutex<Option<crate::tools::Keys>> = std::sync::Mutex::new(None);
    let mut k = KEYS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(keys) = k.as_ref() {
        return Ok(keys.clone());
    }
    let dir = crate::tools::workspace().join("target/e2e/keys");
    std::fs::create_dir_all(&dir).map_err(Error::io("creating target/e2e/keys"))?;
    let keys = crate::tools::keys(&dir)?;
    *k = Some(keys.clone());
    Ok(keys)
}
