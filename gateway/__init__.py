"""Raspberry Pi gateway: relays the site broker to the cloud broker."""
