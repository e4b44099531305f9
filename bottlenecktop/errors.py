"""Errors that end a run with one clear line instead of a traceback."""


class BadInput(Exception):
    """The user's input cannot work (exit 2): a malformed URL, a missing file, a pid that does not exist."""


class RunFailed(Exception):
    """The run could not be done (exit 1): the target never answered, the demo did not start."""


class StdoutGone(Exception):
    """Standard output went away (a closed pipe): the program ends quietly with exit status 1."""
