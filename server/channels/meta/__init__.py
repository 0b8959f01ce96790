"""Meta WhatsApp Cloud API: webhook parsing and signature, the 24-hour window, the sender."""
