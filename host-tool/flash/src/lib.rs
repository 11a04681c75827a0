//! tessera-flash
