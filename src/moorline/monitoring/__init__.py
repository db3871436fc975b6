"""Monitoring: drift, data quality, performance. Pure functions on NumPy/Arrow
arrays, usable in a notebook with no server and no database."""
