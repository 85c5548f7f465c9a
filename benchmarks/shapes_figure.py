"""The docs' picture of search on `shapes`: plain samples against halving, from a finished shapes bench study.

    python benchmarks/shapes_figure.py outputs/bench-shapes docs/images/shapes-search.png

Bars under each image: green when shapes-eval finds the prompt true, red when not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from noisesearch_plugins.shapes.evaluation import evaluate_run

CELLS = {"plain (steps 8, 30 NFEs)": "steps--8", "halving (468 NFEs)": "halving--shapes-clip--480nfe"}
PROMPTS = ["a circle and a triangle", "three triangles", "a purple triangle", "a cross left of a circle",
           "a green square and a red circle"]
SCALE, PAD, LABEL_WIDTH, PER_ROW = 3, 4, 250, 4


def main(study: Path, target: Path) -> None:
    tiles: dict[tuple[str, str], list] = {}
    for title, cell in CELLS.items():
        folder = study / "cells" / cell
        records = json.loads((folder / "summary.json").read_text())["results"]
        for record, verdict in zip(records, evaluate_run(folder)["per_prompt"]):
            tiles.setdefault((title, record["condition"]["prompt"]), []).append(
                (folder / record["image"], verdict["correct"]))
    side = 32 * SCALE
    block = PER_ROW * (side + PAD) + 20
    canvas = Image.new("RGB", (LABEL_WIDTH + len(CELLS) * block, 30 + len(PROMPTS) * (side + PAD + 8)), "white")
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(CELLS):
        draw.text((LABEL_WIDTH + c * block, 8), title, fill="black")
    for row, prompt in enumerate(PROMPTS):
        y = 30 + row * (side + PAD + 8)
        draw.text((8, y + side // 2 - 6), prompt, fill="black")
        for c, title in enumerate(CELLS):
            for k, (path, correct) in enumerate(tiles[(title, prompt)][:PER_ROW]):
                x = LABEL_WIDTH + c * block + k * (side + PAD)
                canvas.paste(Image.open(path).convert("RGB").resize((side, side), Image.NEAREST), (x, y))
                draw.rectangle((x, y + side + 1, x + side - 1, y + side + 4),
                               fill=(40, 160, 60) if correct else (210, 40, 40))
    canvas.save(target, optimize=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or not (Path(sys.argv[1]) / "cells").is_dir():
        print("usage: python benchmarks/shapes_figure.py STUDY_DIR OUT.png (a finished shapes bench study)",
              file=sys.stderr)
        sys.exit(2)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
