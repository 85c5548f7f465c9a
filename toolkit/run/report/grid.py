"""grid.png: the chosen images, one row per condition labelled with its class or prompt, repeats along the row,
each image's driving-verifier score under it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import textwrap
from typing import Callable, Optional, Sequence

from PIL import Image, ImageDraw, ImageFont

from .table import condition_label

if TYPE_CHECKING:
    from ...store.records import ResultRecord
    from ...store.run_records import RunHeader

TILE, LABEL_WIDTH, CAPTION, GUTTER, FONT_SIZE = 128, 190, 18, 6, 13


def font(size: int = FONT_SIZE) -> ImageFont.ImageFont:
    """Pillow's own scalable font (no system font needed)."""
    return ImageFont.load_default(size=size)


def tile(image: Image.Image) -> Image.Image:
    """An image fitted in a TILE square: small images enlarged without blur, large ones reduced smoothly."""
    image = image.convert("RGB")
    scale = TILE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.NEAREST if scale >= 1 else Image.LANCZOS)


def label_of(condition: dict, class_names: Optional[Sequence[str]] = None) -> str:
    """A row's label: the class as written with its name when the model has one (``3: handwritten digit 3``), or
    the whole prompt (unquoted; wrapped when drawn)."""
    if "prompt" in condition:
        return condition["prompt"]
    label = condition_label(condition)
    index = condition.get("class_label")
    if class_names and isinstance(index, int) and 0 <= index < len(class_names):
        return f"{label}: {class_names[index]}"
    return label


def draw_grid(records: "list[ResultRecord]", header: "RunHeader", open_image: Callable[[str], Image.Image],
              class_names: Optional[Sequence[str]] = None) -> Image.Image:
    """The grid of a run's ``results`` records (their images opened by ``open_image``)."""
    rows: dict[str, list] = {}
    for record in sorted(records, key=lambda r: (r.index, r.repeat)):
        rows.setdefault(label_of(record.condition, class_names), []).append(record)
    verifier = header.driving_verifier
    text = font()
    pen = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = {label: textwrap.wrap(label, width=24, max_lines=TILE // (FONT_SIZE + 3), placeholder=" …") or [""]
             for label in rows}
    label_width = min(LABEL_WIDTH, max(pen.textlength(line, font=text) for wrapped in lines.values()
                                       for line in wrapped)) + 2 * GUTTER
    title = (f"score: {verifier}" if verifier else "score") + "   (repeats along each row)"
    columns = max(len(members) for members in rows.values())
    cell_w, cell_h = TILE + GUTTER, TILE + CAPTION + GUTTER
    header = CAPTION + GUTTER
    width = max(int(label_width) + columns * cell_w + GUTTER, int(pen.textlength(title, font=text)) + 2 * GUTTER)
    grid = Image.new("RGB", (width, header + len(rows) * cell_h + GUTTER), "white")
    pen = ImageDraw.Draw(grid)
    pen.text((GUTTER, 4), title, fill="#444", font=text)
    for r, (label, members) in enumerate(rows.items()):
        top = header + r * cell_h
        pen.multiline_text((GUTTER, top + 2), "\n".join(lines[label]), fill="black", font=text, spacing=3)
        for c, record in enumerate(members):
            left = int(label_width) + c * cell_w
            image = tile(open_image(record.image))
            grid.paste(image, (left + (TILE - image.width) // 2, top + (TILE - image.height) // 2))
            score = record.scores.get(verifier) if verifier else record.score
            caption = f"r{record.repeat}  {format_score(score)}"
            pen.text((left, top + TILE + 2), caption, fill="#222", font=text)
    return grid


def format_score(score: Optional[float]) -> str:
    return "-" if not isinstance(score, (int, float)) else f"{score:.4g}"
