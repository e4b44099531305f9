"""bottlenecktop: the magic number of an HTTP server and what stops it going higher."""

__version__ = "0.1.0"
