"""Unpack the benchmark archive: every folder holding a labels.json becomes dest/<folder>."""
import shutil
import zipfile
from pathlib import PurePosixPath, Path

import typer
from wasabi import msg

app = typer.Typer(add_completion=False)


def has_datasets(folder: Path) -> bool:
    return folder.is_dir() and any((d / "labels.json").is_file() for d in folder.iterdir())


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
            f"No {archive} and no datasets in {dest}: run `python -m spacy project assets` first, "
            "or point --vars.benchmarks at a local copy",
            exits=1,
        )
    with zipfile.ZipFile(archive) as zf:
        names = [PurePosixPath(n) for n in zf.namelist() if not n.startswith("__MACOSX")]
        folders = {n.parent for n in names if n.name == "labels.json"}
        for name in names:
            if name.parent in folders and name.suffix == ".json":
                target = dest / name.parent.name / name.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(str(name)) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
    msg.good(f"Unpacked {len(folders)} datasets to {dest}: {', '.join(sorted(f.name for f in folders))}")


if __name__ == "__main__":
    app()
