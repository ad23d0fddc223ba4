"""Errors meant for people: the CLI prints them as one line and exits with code 2."""

#: How torch's DataLoader starts the message when it re-raises an exception from a worker process.
_WORKER_PREFIX = "Caught UserError in DataLoader worker"


class UserError(Exception):
    """A mistake the user can fix: a bad option, a missing or malformed file, an unknown name.

    The message says what is wrong, where (file or option) and what to do.
    """

    def __init__(self, message: str):
        # torch re-raises a worker's error as UserError(<header + worker traceback>), whose last
        # line is "...UserError: <message>": keep only the message, so it stays one line.
        if message.startswith(_WORKER_PREFIX):
            message = message.rstrip().rsplit("UserError: ", 1)[-1]
        super().__init__(message)
