"""The one exception type that reaches users: its message names the problem and the fix."""


class RevmuxError(Exception):
    """An error caused by input (config, data, model path, cache) that the user can fix."""
