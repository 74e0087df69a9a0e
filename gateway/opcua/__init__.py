"""OPC UA source for the gateway: node maps, sessions with security, subscriptions/polls."""
