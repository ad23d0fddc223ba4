"""Errors meant for people: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A mistake the user can fix: a bad option, a missing or malformed file, an unknown name.

    The message says what is wrong, where (file or option) and what to do.
    """
