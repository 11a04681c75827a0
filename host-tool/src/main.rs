//! tessera: the admin's tool.
fn main() {}
