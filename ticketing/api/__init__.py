"""HTTP routers of the ticketing API."""
