"""Chat server benchmark (python -m bench): a load generator and the server's own accounting."""
