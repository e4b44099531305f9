"""The driver process: ``python -m bottlenecktop.probes.load.worker``."""



