"""Messaging channels, one folder each: webhook parsing and verification, media, sender."""
