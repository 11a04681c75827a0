//! Every qemu boot, as one table over (arch, flavor, path): a real Debian bookworm initramfs
//! (initramfs-tools or dracut) on amd64 (q35, ttyS0) or arm64 (`-M virt -cpu cortex-a53`, ttyAMA0,
//! built under qemu-user) whose LUKS2 root must open and whose root's init must print the marker,
//! or, in the negative rows, must not. Needs root, scripts/build-agents.sh and the host tool
//! (target/debug/tessera); scripts/test.sh provides all three.

mod flows;

use flows::Path::*;
use flows::{run, Path};
use tessera_e2e::chroot::Arch::{self, Amd64, Arm64};
use tessera_e2e::chroot::Flavor::{self, Dracut, InitramfsTools};
use tessera_e2e::Nic;

/// One `#[test]` per row, named by the row, so that
/// `cargo test -p tessera-e2e --test tests boots::NAME` runs one boot and a failure names its row.
macro_rules! boots {
    ($($(#[doc = $doc:literal])* $name:ident: $arch:expr, $flavor:expr, $path:expr;)*) => {$(
        $(#[doc = $doc])*
        #[test]
        fn $name() {
            const ROW: (Arch, Flavor, Path) = ($arch, $flavor, $path);
            run(&stringify!($name).replace('_', "-"), ROW.0, ROW.1, ROW.2);
        }
    )*};
}

boots! {
    /// Debian as shipped (no tessera): the passphrase typed on the serial console opens the root.
    amd64_stock_typed_passphrase_boots: Amd64, InitramfsTools, StockTyped;
    /// A wrong passphrase typed on the stock console must not open the root (cryptroot asks again).
    amd64_stock_wrong_passphrase_stays_locked: Amd64, InitramfsTools, StockWrong;
    /// The hook installed and configured but no agent binary: the image still asks on the console.
    amd64_hook_without_agent_still_asks_on_console: Amd64, InitramfsTools, HookWithoutAgent;
    /// What the hook puts into the image: agent, config, root-only host key, keyscript, NIC driver.
    amd64_hook_puts_agent_config_keys_and_keyscript_into_the_image: Amd64, InitramfsTools, HookContents;
    /// An agent that exits on a config error leaves the console working.
    amd64_agent_config_error_leaves_the_console_working: Amd64, InitramfsTools, AgentConfigError;
    /// `tessera unlock HOST:PORT` over qemu user networking (hostfwd to the agent's 7743).
    amd64_network_unlock: Amd64, InitramfsTools, Network;
    /// `tessera unlock --serial` on the very tty that carries the kernel console and the prompt.
    amd64_serial_unlock_on_console_tty: Amd64, InitramfsTools, Serial(Nic::User, "");
    /// No NIC at all and `ip=dhcp`: networking waits in the background, the serial unlock still works.
    amd64_no_network_serial_still_works: Amd64, InitramfsTools, Serial(Nic::None, "ip=dhcp");
    /// A person types the passphrase on the console while the agent owns that tty.
    amd64_typed_passphrase_with_agent_running: Amd64, InitramfsTools, TypedWithAgent;
    /// Root and a data volume, both secrets in one token.
    amd64_root_and_data_in_one_token: Amd64, InitramfsTools, RootAndData;
    /// A wrong secret is reported and burns none of cryptroot's tries; the right one then unlocks.
    amd64_wrong_secret_then_right: Amd64, InitramfsTools, WrongThenRight;
    /// `tessera=off`: the hook is in the image but the agent stays out; typing at askpass still works.
    amd64_disabled_agent_falls_back_to_askpass: Amd64, InitramfsTools, Disabled;
    /// A valid token for another host (its id, boot and key), replayed here: refused, root stays locked.
    amd64_token_for_another_host_refused: Amd64, InitramfsTools, OtherHost;

    /// Debian as shipped on arm64: the passphrase typed on ttyAMA0 opens the root.
    arm64_stock_typed_passphrase_boots: Arm64, InitramfsTools, StockTyped;
    arm64_network_unlock: Arm64, InitramfsTools, Network;
    arm64_serial_unlock_on_console_tty: Arm64, InitramfsTools, Serial(Nic::User, "");
    arm64_typed_passphrase_with_agent_running: Arm64, InitramfsTools, TypedWithAgent;

    /// Debian with dracut as shipped: the passphrase typed at systemd's console prompt opens the root.
    dracut_stock_typed_passphrase_boots: Amd64, Dracut, StockTyped;
    /// dracut with tessera's module 95tessera: `tessera unlock` answers systemd's ask-password.
    dracut_network_unlock: Amd64, Dracut, Network;
}
