"""The live environment: kernel + initramfs that boot the installer (and test markers)."""
