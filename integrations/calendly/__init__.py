"""Calendly as an inbound source: signed invitee webhooks mapped to appointments."""
