"""Running the command line in this process, and reading what it said."""

from pathlib import Path
from typing import Any, List


def invoke(*args: Any, input: Any = None) -> Any:
    """The command line run as a user runs it, in this process (typer's CliRunner)."""
    from typer.testing import CliRunner

    from spacy_gliner.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def said(result: Any) -> str:
    """The messages a command printed on stderr, as one line of plain text (wasabi wraps and colours them)."""
    import re

    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", result.stderr).split())


def write_jsonl(path: Path, lines: List[str]) -> Path:
    """``path`` holding these lines, each ended by a newline."""
    path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    return path
