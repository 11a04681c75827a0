//! One line per event on stderr, prefixed `tessera-agent:` (docs/interfaces.md).
//!
//! Nothing that reaches this macro may contain a secret; call sites log names, peers and outcomes.
//! Call sites import it as `use crate::log::log;` (a path import, so the module graph shows it).

macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
pub(crate) use log;

/// One call for every log site keeps the formatting machinery in one place in the binary; the
/// line is written with one syscall so that it does not interleave with other console output.
#[inline(never)]
pub fn line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let line = format!("tessera-agent: {args}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
