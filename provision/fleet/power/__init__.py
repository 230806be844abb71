"""Power control: Wake-on-LAN, Redfish (sushy) and IPMI (pyghmi), one small interface.

`settings` (the typed per-host model), `secret` (the password, encrypted with the server's
secret key), `wol` / `redfish` / `ipmi` (the drivers), `control` (action → driver).  The
drivers import their client libraries when first used: the `power` extra
(`pip install 'provision[power]'`).
"""
