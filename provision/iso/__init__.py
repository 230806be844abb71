"""Bootable install media: a hybrid ISO (BIOS + UEFI El Torito, isohybrid MBR/GPT for USB).

plan.py lists what goes where (pure), stamp.py and menus.py render the per-medium files from
iso_templates/ (pure), base.py finds the bootloaders and caches the ESP image, layout.py,
ecma119.py and hybrid.py make the image's structures (pure), writer.py writes them and each
file's data into a temp file and renames it, build.py ties them together.
"""
