"""The installer: disks (pyudev) → partition plan → resumable steps into a target root."""
