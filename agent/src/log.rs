//! One line per event on stderr, prefixed `tessera-agent:` (docs/interfaces.md).
//!
//! Nothing that reaches this macro may contain a secret; call sites log names, peers and outcomes.

#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("tessera-agent: {}", format_args!($($arg)*))
    };
}
