"""One widget per file; the look lives in tui/app.tcss."""
