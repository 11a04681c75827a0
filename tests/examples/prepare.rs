//! Warms the cache: builds the chroots the boot tests use, so that a later `cargo test` only boots.
//! usage: cargo run -p tessera-e2e --example prepare -- [amd64|arm64] [itools|dropbear|dracut]...
use tessera_e2e::chroot::{self, Arch, Flavor};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arch = if args.iter().any(|a| a == "arm64") {
        Arch::Arm64
    } else {
        Arch::Amd64
    };
    let mut flavors: Vec<Flavor> = args
        .iter()
        .filter_map(|a| match a.as_str() {
            "itools" => Some(Flavor::InitramfsTools),
            "dropbear" => Some(Flavor::Dropbear),
            "dracut" => Some(Flavor::Dracut),
            _ => None,
        })
        .collect();
    if flavors.is_empty() {
        flavors.push(Flavor::InitramfsTools);
    }
    for f in flavors {
        match chroot::get(arch, f) {
            Ok(c) => println!("{} kernel {}", c.dir.display(), c.kernel_version),
            Err(e) => {
                eprintln!("e2e prepare: {e}");
                std::process::exit(1);
            }
        }
    }
}
