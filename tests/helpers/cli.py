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


def install_package(pipeline: Path, tmp_path: Path, name: str) -> Path:
    """``spacy package`` of a saved ``pipeline`` (language ``en``) as package ``en_<name>``, placed as
    pip installs it: the package folder and its dist-info in a folder returned, to put on sys.path
    (where importlib.metadata and spacy.load look)."""
    import shutil

    from spacy.cli.package import package

    (tmp_path / "built").mkdir()
    package(pipeline, tmp_path / "built", name=name, version="0.0.1", create_sdist=False)
    site = tmp_path / "site"
    site.mkdir()
    built = tmp_path / "built" / f"en_{name}-0.0.1"
    shutil.move(str(built / f"en_{name}"), str(site / f"en_{name}"))
    shutil.copy(built / "meta.json", site / f"en_{name}")  # as the package's setup.py does when installed
    (site / f"en_{name}-0.0.1.dist-info").mkdir()
    (site / f"en_{name}-0.0.1.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: en_{name}\nVersion: 0.0.1\n", encoding="utf8"
    )
    return site
