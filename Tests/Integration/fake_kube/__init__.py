"""A fake Kubernetes API server for the integration tests (see server.py)."""
