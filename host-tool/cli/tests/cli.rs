//! The CLI cases of `tessera`, rage-style: every error a user can cause in one command without a
//! server, each with its exit code and its stderr, run against the built binary.
//!
//! The cases are in `tests/cli/cases.toml`; this file only runs them. Each case gets a fresh empty
//! HOME (so no key or pin of the developer's leaks in), no SSH_AUTH_SOCK, and no network beyond
//! loopback. In `args`, `stdin` and `stderr`, `{home}` stands for that HOME.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    args: Vec<String>,
    #[serde(default)]
    stdin: String,
    /// Files to create under HOME first: relative path, contents.
    #[serde(default)]
    files: Vec<(String, String)>,
    /// Run a copy of `tessera` alone in HOME with an empty PATH (nothing beside it, nothing on PATH).
    #[serde(default)]
    alone: bool,
    exit: i32,
    /// The whole stderr, exactly (without its final newline).
    stderr: Option<String>,
    /// A stable part of stderr (for text from the OS, such as an errno's wording).
    stderr_contains: Option<String>,
    /// A part of stdout (for `--help`).
    stdout_contains: Option<String>,
}

fn run(case: &Case) -> Result<(), String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let h = home.path().to_str().unwrap();
    let fill = |s: &str| s.replace("{home}", h);
    for (path, text) in &case.files {
        let p = home.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, fill(text)).unwrap();
    }
    let built = Path::new(env!("CARGO_BIN_EXE_tessera"));
    let mut cmd = if case.alone {
        let copy = home.path().join("tessera");
        std::fs::copy(built, &copy).unwrap();
        let mut c = Command::new(copy);
        c.env("PATH", "");
        c
    } else {
        Command::new(built)
    };
    cmd.args(case.args.iter().map(|a| fill(a)))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("TESSERA_HOOK_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().unwrap();
    // A case that exits before reading its stdin must not fail on a broken pipe.
    let _ = stdin.write_all(fill(&case.stdin).as_bytes());
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut wrong = Vec::new();
    if out.status.code() != Some(case.exit) {
        wrong.push(format!("exit {:?}, want {}", out.status.code(), case.exit));
    }
    if let Some(want) = &case.stderr {
        if stderr.strip_suffix('\n').unwrap_or(&stderr) != fill(want) {
            wrong.push(format!("stderr differs; want:\n{}", fill(want)));
        }
    }
    if let Some(part) = &case.stderr_contains {
        if !stderr.contains(&fill(part)) {
            wrong.push(format!("stderr lacks {:?}", fill(part)));
        }
    }
    if let Some(part) = &case.stdout_contains {
        if !String::from_utf8_lossy(&out.stdout).contains(&fill(part)) {
            wrong.push(format!("stdout lacks {part:?}"));
        }
    }
    if stderr.lines().count() != usize::from(case.exit != 0) {
        wrong.push("stderr is not exactly one line (none on success)".into());
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n  got stderr:\n{stderr}", wrong.join("\n  ")))
    }
}

#[test]
fn every_cli_case_gives_its_exit_code_and_stderr() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/cases.toml");
    let cases: Cases = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut failed = Vec::new();
    for case in &cases.case {
        if let Err(e) = run(case) {
            failed.push(format!("case {:?}: {e}", case.name));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.case.len(),
        failed.join("\n")
    );
}
