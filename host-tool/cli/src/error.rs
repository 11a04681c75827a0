//! Every way `tessera` can fail: one variant each, with `message()` (what went wrong) and `hint()`
//! (what to do next), printed as one line, and the exit code scripts can test ([`ExitCode`]).
//!
//! The wording lives here and nowhere else: the other modules build a variant from the facts
//! (a path, a host id, an `io::Error`) and never format an error text themselves. No error text
//! may contain a secret.

use std::fmt;
use std::io;
use std::path::PathBuf;

use tessera_core::client::ClientError;
use tessera_core::message::Refusal;
use tessera_core::name::NameError;
use tessera_core::openssh::fingerprint;

use crate::exit::ExitCode;

#[derive(Debug)]
pub enum ToolError {
    // --- the command line ---
    /// argh refused the command line: its text on one line, and the command whose `--help`
    /// lists what it takes (`tessera`, `tessera unlock`, `tessera flash initrd`).
    Args {
        text: String,
        command: String,
    },
    /// `unlock`/`status` got both HOST and `--serial`.
    BothTargets,
    /// `unlock`/`status` got neither HOST nor `--serial`.
    NoTarget,
    /// `--host-key` is neither a key line nor a file holding one.
    BadHostKeyArg(String),
    /// `--secret-command` and `--secret-stdin` together.
    TwoSecretSources,
    /// `--volume NAME` is not a valid volume name.
    BadVolumeName {
        given: String,
        why: NameError,
    },
    /// `--volume NAME` names no volume of the agent.
    NoSuchVolume {
        host_id: String,
        volume: String,
    },

    // --- reaching the agent ---
    Resolve {
        host: String,
        error: io::Error,
    },
    Connect {
        host: String,
        error: String,
    },
    OpenSerial {
        device: String,
        error: String,
    },
    SendBroke(io::Error),
    Closed,
    ReadBroke(io::Error),
    NoChallenge {
        target: String,
        serial: bool,
    },
    NoResult,

    // --- the host key ---
    /// The key differs from `--host-key`; `presented` when the tool (not the core) noticed.
    NotTheGivenHostKey {
        presented: Option<(String, [u8; 32])>,
    },
    HostKeyChanged {
        host_id: String,
        pinned: [u8; 32],
        presented: [u8; 32],
        known_hosts: PathBuf,
    },
    NotPinned {
        host_id: String,
        key: [u8; 32],
    },
    BadHostSignature,
    WriteKnownHosts {
        path: PathBuf,
        error: io::Error,
    },
    ReadAnswer(io::Error),

    // --- the agent's answers ---
    Version(u8),
    /// Anything else the core's client refused.
    Protocol(ClientError),
    ChallengeVanished,
    Refused {
        host_id: String,
        why: Refusal,
    },
    WrongSecret {
        volumes: Vec<String>,
    },
    UnlockFailed {
        host_id: String,
        volumes: Vec<String>,
    },

    // --- secrets ---
    NoPrompt {
        volume: String,
        error: io::Error,
    },
    RunSecretCommand(io::Error),
    SecretCommandFailed {
        volume: String,
        status: std::process::ExitStatus,
    },
    ReadStdin(io::Error),
    StdinEnded {
        volume: String,
    },
    EmptySecret {
        volume: String,
    },

    // --- the admin key ---
    NoHome,
    NoKey,
    PubNotInAgent(PathBuf),
    ReadKey {
        path: PathBuf,
        error: ssh_key::Error,
    },
    AskPassphrase {
        path: PathBuf,
        error: io::Error,
    },
    WrongPassphrase(PathBuf),
    NotEd25519(PathBuf),
    WrongKeySignature,
    AgentSign(io::Error),
    KeyExists(PathBuf),
    CreateDir {
        dir: PathBuf,
        error: io::Error,
    },
    MakeKey(ssh_key::Error),
    WriteKey {
        path: PathBuf,
        error: ssh_key::Error,
    },

    // --- flash, boards, sensors ---
    /// `tessera flash` or `tessera boards` failed; `verb` is "tessera flash" or "tessera boards".
    Flash {
        verb: &'static str,
        error: tessera_flash::Error,
    },
    EncodeJson(serde_json::Error),
    SensorsMissing,
    RunSensors {
        path: PathBuf,
        error: io::Error,
    },
}

impl ToolError {
    /// What went wrong, in one line.
    pub fn message(&self) -> String {
        use ToolError as E;
        match self {
            E::Args { text, .. } => text.clone(),
            E::BothTargets => "both HOST and --serial given".into(),
            E::NoTarget => "no agent given".into(),
            E::BadHostKeyArg(s) => {
                format!("--host-key {s}: not an ssh-ed25519 key or a file holding one")
            }
            E::TwoSecretSources => "--secret-command and --secret-stdin together".into(),
            E::BadVolumeName { given, why } => format!("--volume {given}: {}", why.message()),
            E::NoSuchVolume { host_id, volume } => format!("{host_id} has no volume {volume}"),
            E::Resolve { host, error } => format!("cannot resolve {host}: {error}"),
            E::Connect { host, error } => format!("cannot connect to {host}: {error}"),
            E::OpenSerial { device, error } => format!("cannot open {device}: {error}"),
            E::SendBroke(e) => format!("the connection broke while sending: {e}"),
            E::Closed => "the agent closed the connection".into(),
            E::ReadBroke(e) => format!("reading from the agent failed: {e}"),
            E::NoChallenge { target, .. } => format!("no challenge from {target}"),
            E::NoResult => "the agent did not answer the token".into(),
            E::NotTheGivenHostKey { presented: None } => {
                "the agent's host key is not the one given with --host-key".into()
            }
            E::NotTheGivenHostKey {
                presented: Some((host_id, key)),
            } => format!(
                "host {host_id} presented key {}, not the one given with --host-key",
                fingerprint(key)
            ),
            E::HostKeyChanged {
                host_id,
                pinned,
                presented,
                ..
            } => format!(
                "host key of {host_id} changed: pinned {}, presented {}",
                fingerprint(pinned),
                fingerprint(presented)
            ),
            E::NotPinned { host_id, key } => {
                format!("host {host_id} (key {}) is not pinned", fingerprint(key))
            }
            E::BadHostSignature => "the agent's challenge is not signed by its host key".into(),
            E::WriteKnownHosts { path, error } => {
                format!("cannot write {}: {error}", path.display())
            }
            E::ReadAnswer(e) => format!("cannot read the answer: {e}"),
            E::Version(v) => format!("the agent speaks protocol version {v}"),
            E::Protocol(e) => e.message().into(),
            E::ChallengeVanished => "challenge vanished".into(),
            E::Refused { host_id, why } => {
                format!("{host_id} refused the token: {}", why.message())
            }
            E::WrongSecret { volumes } => format!("wrong secret for {}", volumes.join(", ")),
            E::UnlockFailed { host_id, volumes } => {
                format!("{host_id} could not unlock {}", volumes.join(", "))
            }
            E::NoPrompt { volume, error } => {
                format!("cannot ask for the secret of {volume}: {error}")
            }
            E::RunSecretCommand(e) => format!("cannot run --secret-command: {e}"),
            E::SecretCommandFailed { volume, status } => {
                format!("--secret-command failed for {volume} ({status})")
            }
            E::ReadStdin(e) => format!("cannot read stdin: {e}"),
            E::StdinEnded { volume } => format!("stdin ended before the secret for {volume}"),
            E::EmptySecret { volume } => format!("empty secret for {volume}"),
            E::NoHome => "HOME is not set".into(),
            E::NoKey => {
                "no ed25519 key: none in ssh-agent, none in ~/.config/tessera or ~/.ssh".into()
            }
            E::PubNotInAgent(path) => {
                format!("{}: its private key is not in ssh-agent", path.display())
            }
            E::ReadKey { path, error } => format!("cannot read key {}: {error}", path.display()),
            E::AskPassphrase { path, error } => {
                format!(
                    "cannot ask for the passphrase of {}: {error}",
                    path.display()
                )
            }
            E::WrongPassphrase(path) => format!("wrong passphrase for {}", path.display()),
            E::NotEd25519(path) => format!("{} is not an ed25519 key", path.display()),
            E::WrongKeySignature => "the signature does not verify with the chosen key".into(),
            E::AgentSign(e) => format!("ssh-agent could not sign: {e}"),
            E::KeyExists(path) => format!("{} already exists", path.display()),
            E::CreateDir { dir, error } => format!("cannot create {}: {error}", dir.display()),
            E::MakeKey(e) => format!("cannot make a key: {e}"),
            E::WriteKey { path, error } => format!("cannot write {}: {error}", path.display()),
            E::Flash { error, .. } => error.to_string(),
            E::EncodeJson(e) => format!("cannot encode JSON: {e}"),
            E::SensorsMissing => format!(
                "{} is not installed (not beside tessera, not on PATH)",
                crate::sensors::BINARY
            ),
            E::RunSensors { path, error } => format!("cannot run {}: {error}", path.display()),
        }
    }

    /// What the admin should do next.
    pub fn hint(&self) -> String {
        use ToolError as E;
        match self {
            E::Args { command, .. } => format!("run `{command} --help`"),
            E::BothTargets => "give either HOST[:PORT] or --serial DEV".into(),
            E::NoTarget => {
                "give HOST[:PORT] or --serial DEV (e.g. tessera unlock web1 or --serial /dev/ttyUSB0)"
                    .into()
            }
            E::BadHostKeyArg(_) => {
                "pass the host's .pub line (from tessera-agent --gen-host-key) or its file".into()
            }
            E::TwoSecretSources => "choose one source of secrets".into(),
            E::BadVolumeName { why, .. } => why.hint().to_string(),
            E::NoSuchVolume { .. } => "run `tessera status` to list its volumes".into(),
            E::Resolve { .. } => {
                "check the host name, or give an address such as 192.0.2.10 or [2001:db8::1]:7743"
                    .into()
            }
            E::Connect { .. } => "check that the server waits at its unlock prompt and that the port is open, or use --wait".into(),
            E::OpenSerial { .. } => {
                "check the device name and that no other program (screen, minicom) holds it".into()
            }
            E::SendBroke(_) | E::ReadBroke(_) => "run the command again".into(),
            E::Closed => "it may be rate limiting you or be full: wait a minute, then run the command again".into(),
            E::NoChallenge { serial: true, .. } => "check the device, the baud rate (--baud) and that the server waits at its unlock prompt".into(),
            E::NoChallenge { serial: false, .. } => {
                "this is not a tessera agent, or it is busy: run the command again".into()
            }
            E::NoResult => {
                "run `tessera status` to see which volumes still wait, then unlock again".into()
            }
            E::NotTheGivenHostKey { .. } => {
                "check that you reached the right machine and passed its host key".into()
            }
            E::HostKeyChanged { known_hosts, .. } => format!(
                "if the host was re-flashed on purpose, remove its line from {}",
                known_hosts.display()
            ),
            E::NotPinned { .. } => "compare the fingerprint with `tessera-agent --gen-host-key` output or pass --host-key KEY".into(),
            E::BadHostSignature => {
                "someone may be tampering with the line; check the cabling and the network".into()
            }
            E::WriteKnownHosts { .. } => {
                "check the permissions of your tessera config folder".into()
            }
            E::ReadAnswer(_) => "pass --host-key KEY".into(),
            E::Version(_) => "update tessera on both ends to the same release".into(),
            E::Protocol(e) => e.hint().into(),
            E::ChallengeVanished => "report this bug".into(),
            E::Refused { why, .. } => why.hint().into(),
            E::WrongSecret { .. } => "check the passphrase (cryptsetup luksOpen --test-passphrase) and run unlock again for those volumes".into(),
            E::UnlockFailed { .. } => {
                "look at the server's console log (tessera-agent lines)".into()
            }
            E::NoPrompt { .. } => {
                "run on a terminal, or use --secret-command CMD or --secret-stdin".into()
            }
            E::RunSecretCommand(_) => "check that sh exists".into(),
            E::SecretCommandFailed { .. } => {
                "run the command by hand with TESSERA_VOLUME set and fix it".into()
            }
            E::ReadStdin(_) => "pipe one secret per line".into(),
            E::StdinEnded { .. } => {
                "give one line per waiting volume, in the order `tessera status` lists them".into()
            }
            E::EmptySecret { .. } => {
                "type the passphrase, or check the secret command/stdin".into()
            }
            E::NoHome => "set HOME or pass --identity/--file".into(),
            E::NoKey => {
                "run `tessera keygen`, or `ssh-add` an ed25519 key, or pass --identity FILE".into()
            }
            E::PubNotInAgent(_) => {
                "run `ssh-add` with the private key, or pass the private key file to --identity"
                    .into()
            }
            E::ReadKey { .. } => {
                "pass an OpenSSH ed25519 private key to --identity, or run `tessera keygen`".into()
            }
            E::AskPassphrase { .. } => "add the key to ssh-agent with `ssh-add`".into(),
            E::WrongPassphrase(_) => {
                "try again, or add the key to ssh-agent with `ssh-add`".into()
            }
            E::NotEd25519(_) => {
                "tessera signs with ed25519 only: run `tessera keygen` or `ssh-keygen -t ed25519`"
                    .into()
            }
            E::WrongKeySignature => {
                "check `ssh-add -l` and --identity: the agent signed with another key".into()
            }
            E::AgentSign(_) => "check `ssh-add -l`, or pass --identity FILE".into(),
            E::KeyExists(_) => "keep it, or remove it first, or pass --file OTHER".into(),
            E::CreateDir { .. } | E::WriteKey { .. } => "check permissions".into(),
            E::MakeKey(_) => "check /dev/urandom".into(),
            E::Flash { error, .. } => error.hint(),
            E::EncodeJson(_) => "report this bug".into(),
            E::SensorsMissing => "install the tessera package, which ships /usr/bin/tessera-sensors, or run `cargo build -p tessera-sensors`".into(),
            E::RunSensors { .. } => {
                "check that it is executable, or reinstall the tessera package".into()
            }
        }
    }

    /// The exit code this error ends `tessera` with.
    pub fn exit(&self) -> ExitCode {
        use ToolError as E;
        match self {
            E::Args { .. }
            | E::BothTargets
            | E::NoTarget
            | E::BadHostKeyArg(_)
            | E::TwoSecretSources
            | E::BadVolumeName { .. }
            | E::NoSuchVolume { .. }
            | E::NoPrompt { .. }
            | E::StdinEnded { .. }
            | E::EmptySecret { .. } => ExitCode::Usage,
            E::Flash {
                error:
                    tessera_flash::Error::Usage { .. } | tessera_flash::Error::UnknownBoard { .. },
                ..
            } => ExitCode::Usage,
            E::Resolve { .. }
            | E::Connect { .. }
            | E::OpenSerial { .. }
            | E::SendBroke(_)
            | E::Closed
            | E::ReadBroke(_)
            | E::NoChallenge { .. }
            | E::NoResult => ExitCode::Unreachable,
            E::NotTheGivenHostKey { .. }
            | E::HostKeyChanged { .. }
            | E::NotPinned { .. }
            | E::BadHostSignature => ExitCode::HostKey,
            E::Refused { .. } => ExitCode::Refused,
            E::WrongSecret { .. } => ExitCode::WrongSecret,
            // Listed one by one, so that a new variant must be given its code.
            E::WriteKnownHosts { .. }
            | E::ReadAnswer(_)
            | E::Version(_)
            | E::Protocol(_)
            | E::ChallengeVanished
            | E::UnlockFailed { .. }
            | E::RunSecretCommand(_)
            | E::SecretCommandFailed { .. }
            | E::ReadStdin(_)
            | E::NoHome
            | E::NoKey
            | E::PubNotInAgent(_)
            | E::ReadKey { .. }
            | E::AskPassphrase { .. }
            | E::WrongPassphrase(_)
            | E::NotEd25519(_)
            | E::WrongKeySignature
            | E::AgentSign(_)
            | E::KeyExists(_)
            | E::CreateDir { .. }
            | E::MakeKey(_)
            | E::WriteKey { .. }
            | E::Flash { .. }
            | E::EncodeJson(_)
            | E::SensorsMissing
            | E::RunSensors { .. } => ExitCode::Other,
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self {
            ToolError::Flash { verb, .. } => verb,
            _ => "tessera",
        };
        write!(f, "{prefix}: {}; {}", self.message(), self.hint())
    }
}

pub type Result<T> = std::result::Result<T, ToolError>;
