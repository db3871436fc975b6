"""API tokens: issued once, stored hashed, checked on every request beyond loopback."""
