"""Unpack the benchmark archive: every folder holding a labels.json becomes dest/<folder>.

All or nothing: the datasets are unpacked into a temporary folder beside ``dest`` and moved
into place only when every file was read, so a bad or truncated archive leaves no folders
(empty or half-filled) behind, and the next run starts clean.
"""

import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, Optional

import typer
from wasabi import msg

app = typer.Typer(add_completion=False)


def has_datasets(folder: Path) -> bool:
    return folder.is_dir() and any((d / "labels.json").is_file() for d in folder.iterdir())


def missing_parents(path: Path) -> List[Path]:
    """The folders above ``path`` that do not exist yet, innermost first."""
    return [p for p in path.parents if not p.exists()]


def unpack(archive: Path, staging: Path) -> List[str]:
    """Unpack the dataset folders of ``archive`` into ``staging``; their names."""
    with zipfile.ZipFile(archive) as zf:
        names = [PurePosixPath(n) for n in zf.namelist() if not n.startswith("__MACOSX")]
        folders = {n.parent for n in names if n.name == "labels.json"}
        if len({f.name for f in folders}) != len(folders):
            raise ValueError(f"two dataset folders share a name: {sorted(str(f) for f in folders)}")
        for name in names:
            if name.parent in folders and name.suffix == ".json":
                target = staging / name.parent.name / name.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(str(name)) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
    return sorted(f.name for f in folders)


def describe(archive: Path, err: Exception) -> str:
    with archive.open("rb") as f:
        head = f.read(64)
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "a web page, not a zip archive (the download was refused or asked for a confirmation)"
    return f"not a readable zip archive ({archive.stat().st_size} bytes: {err})"


@app.command()
def main(
    archive: Path = typer.Argument(..., help="The evaluation data zip"),
    dest: Path = typer.Argument(..., help="Folder for one folder per dataset"),
) -> None:
    if has_datasets(dest):
        msg.good(f"The datasets are in {dest} already")
        return
    if not archive.is_file():
        msg.fail(
            f"No {archive} and no datasets in {dest}: run `python -m spacy project assets <project folder>` first "
            "(it downloads the archive), or point --vars.benchmarks at a local copy",
            exits=1,
        )
    created = missing_parents(dest)
    staging = dest.parent / f".{dest.name}.partial"  # beside dest: moving it in is a rename
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that was killed
    staging.mkdir(parents=True)
    problem: Optional[str] = None
    try:
        datasets = unpack(archive, staging)
        if not datasets:
            problem = f"{archive} holds no dataset folder (a folder with labels.json)"
        elif not dest.exists():
            staging.rename(dest)  # all at once
        else:  # a folder without datasets (e.g. empty): add them to it
            for name in datasets:
                if (dest / name).exists():
                    shutil.rmtree(dest / name)
                (staging / name).rename(dest / name)
    except zipfile.BadZipFile as err:
        problem = (
            f"{archive} is {describe(archive, err)}. Download it again (`python -m spacy project assets` fetches it"
            " anew) or by hand from the URL in project.yml"
        )
    except (OSError, ValueError, EOFError, zipfile.LargeZipFile) as err:
        problem = (
            f"Could not unpack {archive} ({type(err).__name__}: {err}). Download it again (`python -m spacy project"
            " assets` fetches it anew)"
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if problem is not None:
        for folder in created:  # innermost first: only the folders this run made, if still empty
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        msg.fail(problem, exits=1)
    msg.good(f"Unpacked {len(datasets)} datasets to {dest}: {', '.join(datasets)}")


if __name__ == "__main__":
    app()
