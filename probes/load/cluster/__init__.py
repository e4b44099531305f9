"""Several load agents driven by one ramp controller through Dask (the optional ``cluster`` extra)."""
