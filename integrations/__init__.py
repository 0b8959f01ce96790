"""A clinic's other systems (calendars, CRMs), one folder each; every client takes an injected
`httpx.AsyncClient`, and the protocol it implements lives with the domain in `tools/`."""
