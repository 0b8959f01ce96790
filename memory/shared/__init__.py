"""What every backend's `Store` does the same way: each method's checks, conversions and error
choice, written once; a backend subclasses these mixins and supplies the SQL behind their narrow
`_`-methods (`memory/sqlite/`, `memory/postgres/`)."""
