"""The Textual app: renders a Session and sends commands; it measures nothing itself."""
