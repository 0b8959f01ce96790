"""atende writes first: reminders and booking confirmations (`plan`, `notice`), the tick that
hands due ones to the outbox (`runner`), and the waitlist that refills a freed slot."""
