"""Exit codes of the ``massager`` command (documented in docs/cli.md)."""

import enum


class ExitCode(enum.IntEnum):
    """What a ``massager`` process's exit status means."""

    OK = 0
    FAILED = 1  #: the verb ran and reports a failure (a conformance check, an invalid file)
    USAGE = 2  #: bad arguments, a bad device URL, an unreadable program file
    DEVICE = 3  #: the device could not be reached, timed out, refused or went away
    SAFETY = 4  #: the safety policy refused the request
    STOPPED = 5  #: the device stopped on its own while a verb held it on (auto-off, button...)
    INTERRUPTED = 130  #: Ctrl-C (SIGINT); the device was stopped
    PIPE = 141  #: the output's reader went away (``| head``), as for a tool killed by SIGPIPE
    TERMINATED = 143  #: SIGTERM; the device was stopped
