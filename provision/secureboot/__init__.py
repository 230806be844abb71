"""Secure Boot: the server's signing key, reading PE images (signed? SBAT?), the signed boot
files of the distribution (shim, GRUB), and the GRUB image the server signs for installed
systems.  See docs/iso.md and docs/pxe.md ("Secure Boot")."""
