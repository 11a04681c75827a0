//! The agent's config file (`/etc/tessera/agent.conf`): reading it from disk. The model, its
//! parser and its format live in `tessera_conf::agent_conf`, shared with `tessera flash`, which
//! writes the file. This module never touches the files the config names.

use std::path::Path;

pub use tessera_conf::agent_conf::{
    parse, Config, ConfigError, Listen, Method, Volume, DEFAULT_PORT,
};

/// Reads and parses `path`; `env` gives the test overrides (`TESSERA_RUN_DIR`, `TESSERA_PASSFIFO`).
pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 0,
        what: format!("cannot read the config: {e}"),
        fix: "check the path given to --config (default /etc/tessera/agent.conf)",
    })?;
    parse(&path.display().to_string(), &text, env)
}
