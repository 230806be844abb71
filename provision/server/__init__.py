"""The provisioning server: Flask app factory, routes (one blueprint per module), store."""
