"""ticketing."""
