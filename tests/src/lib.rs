//! tessera-e2e: boot harness (debootstrap cache, LUKS images, mkinitramfs, qemu driver).
