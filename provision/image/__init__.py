"""System images: a profile's @system + set merged by Portage from its signed binhost into an
empty root, packed as a zstd tarball with a signed chunk manifest, installed by streaming."""
