//! `tessera flash initrd FILE`: add tessera to an existing initrd or uInitrd without rebuilding it,
//! by appending a 4-byte-aligned newc segment (the kernel unpacks it over the main archive).
//!
//! The segment holds the agent, its config and keys, the keyscript, the boot scripts, and rewritten
//! copies of the files the hook would have changed at build time: `/scripts/*/ORDER` (an appended
//! script is never run otherwise) and `/cryptroot/crypttab` (`keyscript=`). A segment appended by an
//! earlier flash is replaced, not stacked; the untouched original is kept as `FILE.bak`. This is the
//! one-off path: the next `update-initramfs` drops the segment (`flash root`/`flash ssh` install
//! the hook). Nothing is written until the new image has read back.

use crate::board::{Board, InitrdFormat};
use crate::bundle::{self, paths, CrypttabEntry, HookFiles, Settings};
use crate::cpio::{self, Entry};
use crate::elf::check_arch;
use crate::error::{Error, Result};
use crate::initrd::{self, Initrd, Kind, Member};
use crate::inputs::{self, Inputs, Report};
use crate::uimage;
use std::collections::BTreeSet;
use std::path::Path;

const PARAM_CONF: &str = "[ -e /conf/param.conf ] && . /conf/param.conf";
/// Where an earlier segment's files are named in notes.
const EARLIER: &str = "the earlier tessera segment";

/// Appends (or, with `inputs.options.dry_run`, plans) the tessera segment to `path`.
pub fn run(path: &Path, inputs: &Inputs<'_>) -> Result<Report> {
    let mut report = Report::default();
    let original = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    let (payload, header) = initrd::load(path)?;
    check_format(path, &inputs.board, header.is_some())?;
    let parsed = Initrd::parse(path, &payload)?;
    let target_arch = check_image(path, &parsed, &inputs.board)?;
    let (agent_path, agent, warnings) =
        bundle::find_agent(inputs.options.agent.as_deref(), target_arch)?;
    report.notes.extend(warnings);
    let hook = HookFiles::find(inputs.options.hook_dir.as_deref())?;

    // Start again from just before an earlier tessera segment, if there is one.
    let previous = earlier_segment(&parsed);
    let mut base = payload[..previous.map(|m| m.offset).unwrap_or(payload.len())].to_vec();
    let reparsed;
    let base_view: &Initrd = if previous.is_some() {
        reparsed = Initrd::parse(path, &base)?;
        &reparsed
    } else {
        &parsed
    };

    let files = segment_files(
        path,
        inputs,
        base_view,
        previous,
        &agent,
        &hook,
        &mut report,
    )?;
    let entries = segment_entries(base_view, &files);
    let segment = cpio::write(&entries)?;
    for m in &inputs.board.nic_modules {
        if !has_module(base_view, m) {
            report.notes.push(format!(
                "NIC module {m} is not in this image: fine if built into the kernel, else the network stays down in the initramfs (the hook install adds it)"
            ));
        }
    }
    for e in &entries {
        let kind = if e.is_dir() { "dir " } else { "file" };
        report.actions.push(format!(
            "add {kind} /{} ({:o}, {} bytes)",
            e.name,
            e.mode & 0o7777,
            e.data.len()
        ));
    }
    cpio::pad_to(&mut base, 4);
    let segment_at = base.len();
    base.extend_from_slice(&segment);
    let out = assemble(path, base, header.as_ref(), segment_at, entries.len())?;

    let backup = initrd::backup_path(path);
    report.actions.push(format!(
        "rewrite {} ({} -> {} bytes{}), segment at byte {segment_at} from {}",
        path.display(),
        original.len(),
        out.len(),
        if header.is_some() {
            ", new U-Boot header and CRCs"
        } else {
            ""
        },
        agent_path.display()
    ));
    if previous.is_none() {
        report
            .actions
            .push(format!("keep the original as {}", backup.display()));
    } else {
        report.notes.push(format!(
            "replaced the tessera segment of an earlier flash ({} keeps the original)",
            backup.display()
        ));
    }
    report.notes.push("a later update-initramfs drops this segment: install the hook with `tessera flash root` or `tessera flash ssh` to keep tessera".into());

    if !inputs.options.dry_run {
        // Where the walk cannot see an earlier segment (lz4, bzip2, lzma mains), never overwrite a
        // .bak that may hold the untouched image.
        let seen_end = base_view
            .main_compression()
            .is_none_or(initrd::end_is_known);
        if previous.is_none() && (seen_end || !backup.exists()) {
            std::fs::write(&backup, &original).map_err(|e| Error::io(&backup, "write", e))?;
        }
        let tmp = path.with_extension("tessera-new");
        std::fs::write(&tmp, &out).map_err(|e| Error::io(&tmp, "write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, "replace", e))?;
    }
    Ok(report)
}

fn target(path: &Path, problem: &str) -> Error {
    Error::Target {
        target: path.display().to_string(),
        problem: problem.to_string(),
    }
}

/// Refuses a plain initrd for a uInitrd board and the other way round.
fn check_format(path: &Path, board: &Board, is_uimage: bool) -> Result<()> {
    match (board.initrd_format, is_uimage) {
        (InitrdFormat::Uinitrd, false) => Err(target(path, &format!(
            "is a plain initrd, but board {} boots a uInitrd (pass /boot/uInitrd, or a board with initrd-format plain)",
            board.name
        ))),
        (InitrdFormat::Plain, true) => Err(target(path, &format!(
            "is a U-Boot uInitrd, but board {} boots a plain initrd (pick the board that boots it)",
            board.name
        ))),
        _ => Ok(()),
    }
}

/// Refuses an image that is not initramfs-tools, has no cryptsetup, or is for another
/// architecture than the board's; returns the image's architecture.
fn check_image(path: &Path, image: &Initrd, board: &Board) -> Result<crate::board::Arch> {
    if !image.has("scripts/functions") {
        if image.has("usr/lib/dracut") || image.has("usr/lib/dracut/modules.txt") {
            return Err(Error::Dracut {
                target: path.display().to_string(),
            });
        }
        return Err(target(path, "is not an initramfs-tools image (no /scripts/functions): `tessera flash initrd` appends initramfs-tools boot scripts only"));
    }
    let cryptsetup = ["usr/sbin/cryptsetup", "sbin/cryptsetup"]
        .iter()
        .find_map(|p| image.file(p).filter(|e| e.is_file()))
        .ok_or_else(|| Error::NoCryptsetup {
            target: path.display().to_string(),
        })?;
    let arch = match bundle::arch_of(&cryptsetup.data) {
        Some(Ok(a)) => a,
        Some(Err(other)) => {
            return Err(target(
                path,
                &format!("holds a {other} cryptsetup; tessera has agents for x86_64 and aarch64"),
            ))
        }
        None => return Err(target(path, "its cryptsetup is not an ELF binary")),
    };
    check_arch(
        &path.display().to_string(),
        board.architecture,
        arch,
        &board.name,
    )?;
    Ok(arch)
}

/// An earlier tessera segment: the last uncompressed archive after the main one that holds our
/// config.
fn earlier_segment(image: &Initrd) -> Option<&Member> {
    image
        .members
        .iter()
        .enumerate()
        .rev()
        .find(|(i, m)| {
            *i > 0
                && m.kind == Kind::Cpio
                && m.entries.iter().any(|e| e.name == "etc/tessera/agent.conf")
        })
        .map(|(_, m)| m)
}

/// One file of an earlier segment, by its name in the archive.
fn earlier_file<'a>(previous: Option<&'a Member>, name: &str) -> Option<&'a Entry> {
    previous.and_then(|m| m.entries.iter().find(|e| e.name == name))
}

/// The files of the segment (absolute path, mode, bytes), with the settings, host key and admin
/// keys chosen from the image, the earlier segment and the options; sets the report's host.
fn segment_files(
    path: &Path,
    inputs: &Inputs<'_>,
    base_view: &Initrd,
    previous: Option<&Member>,
    agent: &[u8],
    hook: &HookFiles,
    report: &mut Report,
) -> Result<Vec<(String, u32, Vec<u8>)>> {
    let crypttab_entry = base_view.file("cryptroot/crypttab").filter(|e| e.is_file());
    let crypttab: Vec<CrypttabEntry> = crypttab_entry
        .map(|e| bundle::parse_crypttab(&String::from_utf8_lossy(&e.data)))
        .unwrap_or_default();
    let where_ = format!("{} (/cryptroot/crypttab)", path.display());
    let volumes = bundle::choose_volumes(&inputs.options.volumes, &crypttab, &where_)?;
    let fallback_id = earlier_file(previous, "etc/tessera/agent.conf")
        .and_then(|e| inputs::conf_host_id(&String::from_utf8_lossy(&e.data)));
    let host_id = inputs::host_id(inputs, fallback_id)?;
    let settings = Settings {
        board: inputs.board.clone(),
        host_id: host_id.clone(),
        volumes: volumes.clone(),
        serial: inputs.options.serial,
        listen: inputs.options.listen.clone(),
    };
    settings.check()?;
    let mut conf = settings.agent_conf();
    if crypttab_entry.is_none() {
        // No crypttab in the image (cryptopts= on the command line): cryptroot asks through askpass,
        // so the agent answers on askpass's FIFO instead of through the keyscript.
        conf = conf.replace(" keyscript\n", " askpass\n");
        report.notes.push("no /cryptroot/crypttab in the image: the agent answers askpass's FIFO (method askpass)".into());
    }
    let (host_key, _) = inputs::host_key(
        inputs,
        &host_id,
        earlier_file(previous, "etc/tessera/host_key").map(|e| (EARLIER, e.data.as_slice())),
        &mut report.notes,
    )?;
    let defaults: Vec<(String, String)> = earlier_file(previous, "etc/tessera/authorized_keys")
        .map(|e| {
            (
                EARLIER.to_string(),
                String::from_utf8_lossy(&e.data).into_owned(),
            )
        })
        .into_iter()
        .collect();
    let admin = inputs::admin_keys(inputs, &defaults, &mut report.notes)?;

    let mut files: Vec<(String, u32, Vec<u8>)> = vec![
        (paths::INITRD_AGENT.into(), 0o755, agent.to_vec()),
        (paths::INITRD_KEYSCRIPT.into(), 0o755, hook.keyscript()),
        (paths::AGENT_CONF.into(), 0o600, conf.into_bytes()),
        (paths::HOST_KEY.into(), 0o600, host_key.seed.to_vec()),
        (
            paths::AUTHORIZED_KEYS.into(),
            0o600,
            admin
                .iter()
                .map(|k| format!("{k}\n"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            paths::INITRAMFS_CONF.into(),
            0o600,
            settings.initramfs_conf().into_bytes(),
        ),
        (
            "/scripts/init-premount/tessera".into(),
            0o755,
            hook.init_premount(),
        ),
        (
            "/scripts/local-bottom/tessera".into(),
            0o755,
            hook.local_bottom(),
        ),
    ];
    for stage in ["init-premount", "local-bottom"] {
        let order_path = format!("scripts/{stage}/ORDER");
        let old = base_view
            .file(&order_path)
            .map(|e| e.data.clone())
            .unwrap_or_default();
        files.push((
            format!("/{order_path}"),
            0o644,
            with_order_entry(&old, stage),
        ));
    }
    if let Some(e) = crypttab_entry {
        let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
        files.push((
            "/cryptroot/crypttab".into(),
            e.mode & 0o7777,
            with_keyscript(&e.data, &names),
        ));
    }
    report.host_id = host_id;
    report.host_public = host_key.public;
    Ok(files)
}

/// The new image: `payload` (the base with the segment at `segment_at`) under a new U-Boot header
/// when the original had one; refused unless the whole image and the segment read back.
fn assemble(
    path: &Path,
    payload: Vec<u8>,
    header: Option<&uimage::Header>,
    segment_at: usize,
    entries: usize,
) -> Result<Vec<u8>> {
    let out = match header {
        Some(h) => {
            let mut h = h.clone();
            h.time = now();
            uimage::wrap(&h, &payload)?
        }
        None => payload,
    };
    let check_payload = if header.is_some() {
        uimage::parse(&out)?.1
    } else {
        &out[..]
    };
    Initrd::parse(path, check_payload)?;
    let back = cpio::read(&check_payload[segment_at..])?;
    if back.entries.len() != entries {
        return Err(target(
            path,
            "the appended segment does not read back (internal error; nothing written)",
        ));
    }
    Ok(out)
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// Follows a symlink at `dir` in the image (usr-merge: `sbin -> usr/sbin`) one level deep.
fn resolve_dir(img: &Initrd, dir: &str) -> String {
    match img.file(dir) {
        Some(e) if e.mode & 0o170000 == cpio::S_IFLNK => {
            let t = String::from_utf8_lossy(&e.data)
                .trim_start_matches('/')
                .to_string();
            match dir.rsplit_once('/') {
                Some((parent, _)) if !e.data.starts_with(b"/") => format!("{parent}/{t}"),
                _ => t,
            }
        }
        _ => dir.to_string(),
    }
}

/// The newc entries of the segment: files at their resolved paths, preceded by the directories the
/// image lacks (the kernel does not create parents).
fn segment_entries(img: &Initrd, files: &[(String, u32, Vec<u8>)]) -> Vec<Entry> {
    let mut made = BTreeSet::new();
    let mut out = Vec::new();
    for (abs, mode, data) in files {
        let rel = abs.trim_start_matches('/');
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let mut resolved = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            let next = if resolved.is_empty() {
                part.to_string()
            } else {
                format!("{resolved}/{part}")
            };
            resolved = resolve_dir(img, &next);
            if !img.has(&resolved) && made.insert(resolved.clone()) {
                let perm = if resolved.ends_with("etc/tessera") {
                    0o700
                } else {
                    0o755
                };
                out.push(Entry::dir(&resolved, perm));
            }
        }
        let full = if resolved.is_empty() {
            name.to_string()
        } else {
            format!("{resolved}/{name}")
        };
        out.push(Entry::file(&full, *mode, data.clone()));
    }
    out
}

/// An initramfs-tools ORDER file with our script in it (once).
pub fn with_order_entry(old: &[u8], stage: &str) -> Vec<u8> {
    let line = format!("/scripts/{stage}/tessera \"$@\"");
    let mut text = String::from_utf8_lossy(old).into_owned();
    if text.lines().any(|l| l.trim() == line) {
        return text.into_bytes();
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    text.push_str(PARAM_CONF);
    text.push('\n');
    text.into_bytes()
}

/// The initramfs crypttab with `keyscript=/lib/tessera/keyscript` on the named volumes (what the
/// hook does at build time).
pub fn with_keyscript(old: &[u8], names: &[&str]) -> Vec<u8> {
    let text = String::from_utf8_lossy(old);
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim();
        let fields: Vec<&str> = t.split_whitespace().collect();
        if t.starts_with('#') || fields.len() < 2 || !names.contains(&fields[0]) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let key = fields.get(2).copied().unwrap_or("none");
        let opts = fields.get(3).copied().unwrap_or("");
        let opts = if opts.split(',').any(|o| o.starts_with("keyscript=")) {
            opts.to_string()
        } else if opts.is_empty() {
            format!("luks,keyscript={}", paths::INITRD_KEYSCRIPT)
        } else {
            format!("{opts},keyscript={}", paths::INITRD_KEYSCRIPT)
        };
        out.push_str(&format!("{} {} {} {}\n", fields[0], fields[1], key, opts));
    }
    out.into_bytes()
}

fn has_module(img: &Initrd, module: &str) -> bool {
    let want = module.replace('-', "_");
    img.members.iter().flat_map(|m| m.entries.iter()).any(|e| {
        e.name.starts_with("usr/lib/modules/") || e.name.starts_with("lib/modules/")
    } && {
        let file = e.name.rsplit('/').next().unwrap_or("");
        let stem = file.split(".ko").next().unwrap_or("");
        file.contains(".ko") && stem.replace('-', "_") == want
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_gets_our_line_once() {
        let old =
            b"/scripts/init-premount/udev \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n";
        let new = with_order_entry(old, "init-premount");
        let text = String::from_utf8(new.clone()).unwrap();
        assert!(text.starts_with("/scripts/init-premount/udev"));
        assert!(text.ends_with("/scripts/init-premount/tessera \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n"));
        assert_eq!(with_order_entry(&new, "init-premount"), new);
        assert_eq!(
            String::from_utf8(with_order_entry(b"", "local-bottom")).unwrap(),
            "/scripts/local-bottom/tessera \"$@\"\n[ -e /conf/param.conf ] && . /conf/param.conf\n"
        );
    }

    #[test]
    fn crypttab_gets_the_keyscript_on_served_volumes_only() {
        let old = b"cryptroot UUID=abc none luks,discard\nother /dev/sdb none luks\n# c\ndata /dev/sdc none\n";
        let new = String::from_utf8(with_keyscript(old, &["cryptroot", "data"])).unwrap();
        assert_eq!(
            new,
            "cryptroot UUID=abc none luks,discard,keyscript=/lib/tessera/keyscript\nother /dev/sdb none luks\n# c\ndata /dev/sdc none luks,keyscript=/lib/tessera/keyscript\n"
        );
        assert_eq!(
            with_keyscript(new.as_bytes(), &["cryptroot", "data"]),
            new.as_bytes()
        );
    }
}
