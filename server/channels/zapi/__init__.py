"""Z-API (WhatsApp Web): webhook parsing and secret, the sender."""
