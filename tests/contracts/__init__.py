"""Contract suites: one per port, run against every backend registered in ``conftest.py``."""
