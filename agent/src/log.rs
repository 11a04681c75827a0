//! One line per event on stderr, prefixed `tessera-agent:` (docs/interfaces.md).
//!
//! Nothing that reaches this macro may contain a secret; call sites log names, peers and outcomes.

#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}

/// One call for every log site keeps the formatting machinery in one place in the binary.
#[inline(never)]
pub fn line(args: std::fmt::Arguments<'_>) {
    eprintln!("tessera-agent: {args}");
}
