//! The Debian cryptroot hand-off with real FIFOs: `keyscript` volumes get their verified secret in
//! `RUN_DIR/NAME.key` (read by tessera's keyscript), `askpass` volumes in askpass's passfifo.

use std::io::Read;
use std::time::Duration;

use super::common::*;

const SECS: Duration = Duration::from_secs(10);

fn read_fifo(path: &std::path::Path) -> Vec<u8> {
    let mut s = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut s)
        .unwrap();
    s
}

#[test]
fn keyscript_and_askpass_volumes_get_exactly_the_verified_secret() {
    let host = Host::new("web1", "listen 127.0.0.1:0\n");
    let conf = std::fs::read_to_string(&host.config)
        .unwrap()
        .replace("a.img test", "a.img keyscript")
        .replace("b.img test", "b.img askpass");
    std::fs::write(&host.config, conf).unwrap();
    // What Debian's askpass does: make the FIFO and read it (here: once the token is through).
    let passfifo = host.dir.join("passfifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&passfifo)
        .status()
        .unwrap();
    assert!(st.success());
    let mut agent = Agent::start(&host.config, &[("TESSERA_PASSFIFO", &passfifo)]);
    let addr = agent.addr();
    let run = host.dir.join("run");
    assert_eq!(
        std::fs::read_to_string(run.join("agent.pid"))
            .unwrap()
            .trim(),
        agent.pid().to_string()
    );
    let key_fifo = run.join("vol_a.key");
    assert!(
        key_fifo.exists(),
        "the agent makes the keyscript FIFO at start"
    );

    // A wrong secret is never handed on: the agent keeps waiting and writes nothing.
    let out = host.tessera(
        &["unlock", &addr.to_string(), "--secret-stdin"],
        "wrong\nwrong too\n",
    );
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert_eq!(agent.count_log("handing it to cryptroot"), 0);

    let out = host.tessera(
        &["unlock", &addr.to_string(), "--secret-stdin"],
        &format!("{PASS_A}\n{PASS_B}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // cryptroot asks later, volume after volume: the secrets wait for their readers.
    assert!(
        agent.is_running(),
        "the agent waits until cryptroot has read the secrets"
    );
    assert_eq!(read_fifo(&key_fifo), PASS_A.as_bytes());
    assert_eq!(read_fifo(&passfifo), PASS_B.as_bytes());
    assert!(
        agent
            .wait_exit(SECS)
            .expect("exits after the hand-off")
            .success(),
        "{}",
        agent.log_text()
    );
    assert!(
        !run.join("agent.pid").exists() && !key_fifo.exists(),
        "cleans up after itself"
    );
}
