"""Google per clinic: OAuth (`oauth.py`, tokens encrypted at rest) and Calendar (sync, push, events)."""
