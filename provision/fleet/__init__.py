"""The fleet: what a machine is (inventory, x86-64 level), which profile it can run (profile
fit), which profile it gets (rules), and how to switch it on (power).

Pure models and decisions; the only parts that touch a system are `power` (network, BMCs)
and, in the installer, provision.install.inventory (reads /proc and /sys).
"""
