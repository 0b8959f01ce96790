"""The console channel: a patient typing in a terminal (`atende chat`), an eval or a replay."""
