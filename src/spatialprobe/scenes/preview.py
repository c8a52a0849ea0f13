"""A contact sheet: a few scenes enlarged, with boxes, ids, an expression, a statement and a caption."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from spatialprobe.scenes.record import Scene

TILE = 256
TEXT_LINES = 6
LINE_HEIGHT = 13
COLUMNS = 4
BOX_COLOURS = ("#ffffff", "#ffd400", "#00e5ff", "#ff4fd8", "#7CFC00", "#ff8c00", "#ff3030", "#9b8cff")


def _font():
    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def _lines(scene: Scene) -> list[str]:
    lines = []
    if scene.expressions:
        e = scene.expressions[-1]
        lines.append(f'"{e.text}" = #{e.referent}')
    if scene.relations:
        r = scene.relations[0]
        lines.append(f'"{r.text}": {str(r.label).lower()}')
    if scene.captions:
        lines.append(scene.captions[0].text)
    wrapped = [w for line in lines for w in textwrap.wrap(line, 44)]
    return wrapped[:TEXT_LINES]


def contact_sheet(root: str | Path, scenes: list[Scene], columns: int = COLUMNS) -> Image.Image:
    """Draw ``scenes`` (images resolved against ``root``) as one PNG-ready image."""
    root = Path(root)
    font = _font()
    rows = max(1, -(-len(scenes) // columns))
    cell_h = TILE + TEXT_LINES * LINE_HEIGHT + 8
    sheet = Image.new("RGB", (columns * TILE, rows * cell_h), "#111111")
    draw = ImageDraw.Draw(sheet)
    for i, scene in enumerate(scenes):
        x, y = (i % columns) * TILE, (i // columns) * cell_h
        with Image.open(root / scene.image) as im:
            scale = TILE / max(scene.width, scene.height)
            tile = im.convert("RGB").resize((round(scene.width * scale), round(scene.height * scale)), Image.NEAREST)
        sheet.paste(tile, (x, y))
        for obj in scene.objects:
            colour = BOX_COLOURS[obj.id % len(BOX_COLOURS)]
            x0, y0, x1, y1 = (obj.box.array() * scale).tolist()
            draw.rectangle([x + x0 - 1, y + y0 - 1, x + x1, y + y1], outline="#000000", width=4)
            draw.rectangle([x + x0, y + y0, x + x1 - 1, y + y1 - 1], outline=colour, width=2)
            draw.text((x + x0 + 2, y + y0 + 1), f"#{obj.id}", fill=colour, font=font)
        draw.text((x + 4, y + TILE + 2), f"{scene.id} · {scene.split}", fill="#aaaaaa", font=font)
        for j, line in enumerate(_lines(scene)[: TEXT_LINES - 1]):
            draw.text((x + 4, y + TILE + 2 + (j + 1) * LINE_HEIGHT), line, fill="#e8e8e8", font=font)
    return sheet
