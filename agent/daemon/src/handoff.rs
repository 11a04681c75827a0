//! The Debian cryptroot hand-off: the pid file, the per-volume FIFOs read by tessera's keyscript,
//! and Debian askpass's `passfifo` (docs/interfaces.md, "Debian cryptroot hand-off").
//!
//! A FIFO write waits for its reader (cryptroot asks for volumes one after another), so these
//! functions block and run through `rt::off_thread`. They write a secret only once it has been
//! verified, write it exactly once, and never to a FIFO that another volume's askpass is reading.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};

const POLL: Duration = Duration::from_millis(100);

/// The run directory: `agent.pid` and one `NAME.key` FIFO per keyscript volume.
pub struct RunDir {
    dir: PathBuf,
    fifos: Vec<PathBuf>,
}

impl RunDir {
    /// Creates the directory (0700), the FIFOs (0600) and the pid file. Stale FIFOs from an
    /// earlier run are replaced so that no reader can hang on a file nobody writes.
    pub fn create(dir: &Path, keyscript_volumes: &[&str]) -> io::Result<RunDir> {
        fs::create_dir_all(dir)?;
        rustix::fs::chmod(dir, Mode::from_raw_mode(0o700))?;
        let mut fifos = Vec::new();
        for name in keyscript_volumes {
            let p = fifo_path(dir, name);
            let _ = fs::remove_file(&p);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &p,
                rustix::fs::FileType::Fifo,
                Mode::from_raw_mode(0o600),
                0,
            )?;
            fifos.push(p);
        }
        fs::write(dir.join("agent.pid"), format!("{}\n", std::process::id()))?;
        Ok(RunDir {
            dir: dir.to_path_buf(),
            fifos,
        })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join("agent.pid"));
        for p in &self.fifos {
            let _ = fs::remove_file(p);
        }
    }
}

pub fn fifo_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.key"))
}

/// Writes `secret` into the FIFO at `path` once a reader has it open, then closes it (the reader
/// takes EOF as the end of the secret). `ready` is asked before each try: askpass's FIFO is shared
/// by every volume, so the caller only says yes when askpass is asking for this one.
pub fn write_when_read(path: &Path, secret: &[u8], ready: impl Fn() -> bool) -> io::Result<()> {
    loop {
        if ready() {
            // O_NONBLOCK: opening for write fails with ENXIO while nobody reads, instead of hanging.
            match rustix::fs::open(
                path,
                OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => {
                    let flags = rustix::fs::fcntl_getfl(&fd)?;
                    rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
                    let mut f = fs::File::from(fd);
                    f.write_all(secret)?;
                    return Ok(());
                }
                Err(rustix::io::Errno::NXIO) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        std::thread::sleep(POLL);
    }
}

/// The volume Debian's askpass is asking for right now, read like `cryptroot-unlock` does: the
/// `CRYPTTAB_NAME` in the environment of the process running `/lib/cryptsetup/askpass`.
/// `None` when no askpass runs (or /proc is unreadable): then the caller writes in config order.
pub fn askpass_asking_for() -> Option<String> {
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name();
        if !pid.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let exe = match fs::read_link(entry.path().join("exe")) {
            Ok(p) => p,
            Err(_) => continue,
        };
        if exe.file_name().is_none_or(|n| n != "askpass") {
            continue;
        }
        let env = fs::read(entry.path().join("environ")).ok()?;
        return env
            .split(|&b| b == 0)
            .find_map(|kv| kv.strip_prefix(b"CRYPTTAB_NAME="))
            .map(|v| String::from_utf8_lossy(v).into_owned());
    }
    None
}

/// Hands an askpass volume's secret over: waits until askpass asks for `name` (or until any reader
/// opens the FIFO when no askpass process can be seen), then writes it.
pub fn to_askpass(passfifo: &Path, name: &str, secret: &[u8]) -> io::Result<()> {
    write_when_read(passfifo, secret, || match askpass_asking_for() {
        Some(asked) => asked == name,
        None => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn fifo_secret_reaches_a_late_reader_and_ends_with_eof() {
        let dir = std::env::temp_dir().join(format!("tessera-handoff-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let run = RunDir::create(&dir, &["vol1"]).unwrap();
        let pid = fs::read_to_string(dir.join("agent.pid")).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        let path = fifo_path(&dir, "vol1");
        let reader = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(250));
                let mut s = Vec::new();
                fs::File::open(path).unwrap().read_to_end(&mut s).unwrap();
                s
            })
        };
        write_when_read(&path, b"s3cret", || true).unwrap();
        assert_eq!(reader.join().unwrap(), b"s3cret");
        drop(run);
        assert!(!path.exists() && !dir.join("agent.pid").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
