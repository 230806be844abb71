"""Published snapshots: the data-dir layout, publication (write side), the read side everyone
uses, and binhost verification.  Above signing; below the builder, the server and the installer.
"""
