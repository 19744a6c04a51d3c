"""What the command line says, and how it ends: messages on standard error (data goes to
standard output or ``--output``), one line for a failure, and exit codes as Unix tools
have them (1: a failure; 130: Ctrl-C; 141: a closed pipe on standard output)."""

import functools
import os
import sys
from typing import Any, Callable, NoReturn

import typer
from wasabi import Printer

PRINTER = Printer(no_print=True)


def note(kind: str, text: str) -> None:
    """A wasabi message (good, info, warn, fail) on standard error."""
    print(getattr(PRINTER, kind)(text), file=sys.stderr)


def fail(text: str) -> NoReturn:
    """End the command with a one-line message and exit code 1."""
    note("fail", text)
    raise typer.Exit(1)


def os_error(err: OSError) -> str:
    """An OSError in one line: the reason, and the file when there is one."""
    return (
        f"{err.strerror or err}: {err.filename}."
        if err.filename
        else f"{err.strerror or err} (standard input or output)."
    )


def _release_stdout() -> None:
    """After a failed write: flush what standard output holds, or point it at /dev/null so
    that the interpreter's own last flush does not fail again with a traceback."""
    try:
        sys.stdout.flush()
    except OSError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # not a real file (a test runner's capture)
            pass


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """A command whose reading and writing errors end it in one line: a closed pipe quietly
    (exit 141, 128 + SIGPIPE, nothing more written), any other OSError with its reason."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
            sys.stdout.flush()
        except BrokenPipeError:
            _release_stdout()
            raise typer.Exit(141) from None
        except OSError as err:
            _release_stdout()
            fail(os_error(err))

    return run
