//! The hook install that `flash root` and `flash ssh` share: what a root filesystem holds that
//! matters (its facts), and the files to write into it, planned from those facts and the admin's
//! inputs. It never looks at or writes a filesystem itself: `root` reads a local directory and
//! `ssh` a remote one, and each writes the planned files its own way.

use crate::board::Arch;
use crate::bundle::{self, paths, FileSpec, HookFiles, Settings};
use crate::elf::check_arch;
use crate::error::Result;
use crate::inputs::{self, Inputs, Report};
use zeroize::Zeroizing;

/// dpkg's file lists of the tessera-agent package (plain and multiarch names).
pub const PACKAGE_LISTS: [&str; 3] = [
    "/var/lib/dpkg/info/tessera-agent.list",
    "/var/lib/dpkg/info/tessera-agent:amd64.list",
    "/var/lib/dpkg/info/tessera-agent:arm64.list",
];

/// What the root holds that matters to flash.
pub struct RootFacts {
    pub arch: Arch,
    pub hostname: Option<String>,
    pub crypttab: String,
    /// The tessera-agent package's hook is installed: only config and keys are written.
    pub packaged: bool,
    /// The seed of the target's host key, wiped on drop.
    pub host_key: Option<Zeroizing<Vec<u8>>>,
    /// Keys the root already trusts: (where, text).
    pub trusted: Vec<(String, String)>,
}

/// Everything `flash root` and `flash ssh` install, computed from what the root holds.
pub struct Install {
    pub files: Vec<FileSpec>,
    pub report: Report,
}

/// Plans an install for a root described by `facts` (`where_` names it in messages).
pub fn plan(inputs: &Inputs<'_>, facts: &RootFacts, where_: &str) -> Result<Install> {
    let mut report = Report::default();
    check_arch(
        where_,
        inputs.board.architecture,
        facts.arch,
        &inputs.board.name,
    )?;
    let crypttab = bundle::parse_crypttab(&facts.crypttab);
    let volumes = bundle::choose_volumes(
        &inputs.options.volumes,
        &crypttab,
        &format!("{where_}/etc/crypttab"),
    )?;
    for v in &volumes {
        if let Some(e) = crypttab.iter().find(|e| e.name == v.name) {
            if !e.options.split(',').any(|o| o == "initramfs") {
                report.notes.push(format!(
                    "volume {} has no `initramfs` option in crypttab: cryptroot unlocks it in the initramfs only if it holds / (or /usr, resume)",
                    v.name
                ));
            }
        }
    }
    let host_id = inputs::host_id(inputs, facts.hostname.clone())?;
    let settings = Settings {
        board: inputs.board.clone(),
        host_id: host_id.clone(),
        volumes,
        serial: inputs.options.serial,
        listen: inputs.options.listen.clone(),
    };
    settings.check()?;
    let key_name = format!("{where_}{}", paths::HOST_KEY);
    let (host_key, write_key) = inputs::host_key(
        inputs,
        &host_id,
        facts
            .host_key
            .as_deref()
            .map(|b| (key_name.as_str(), b.as_slice())),
        &mut report.notes,
    )?;
    let admin = inputs::admin_keys(inputs, &facts.trusted, &mut report.notes)?;
    let (agent, hook) = if facts.packaged {
        report
            .notes
            .push("the tessera-agent package is installed: writing config and keys only".into());
        (Vec::new(), None)
    } else {
        let (agent_path, agent, warnings) =
            bundle::find_agent(inputs.options.agent.as_deref(), facts.arch)?;
        report.notes.extend(warnings);
        report
            .notes
            .push(format!("agent: {}", agent_path.display()));
        (
            agent,
            Some(HookFiles::find(inputs.options.hook_dir.as_deref())?),
        )
    };
    let files = bundle::root_files(
        &settings,
        &agent,
        hook.as_ref(),
        write_key.then_some(&host_key),
        &admin,
    );
    report.host_id = host_id;
    report.host_public = host_key.public;
    Ok(Install { files, report })
}
