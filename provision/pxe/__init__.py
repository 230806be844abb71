"""Network boot: TFTP server, boot-config renderers, dnsmasq configuration and process."""
