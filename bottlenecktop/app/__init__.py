"""The entry point: the command line, one module per mode, the live-run assembly and headless output.

The only layer that wires the engine (probes, session, analysis, recording) to the screen (bottlenecktop.tui).
"""
