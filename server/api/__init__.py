"""The staff API under `/api/v1`: who is calling (`auth.py`), and one module of routes per
resource."""
