"""Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``): Qwen2-VL's dynamic resolution and merger, but its blocks see
the rows **in window order** (``window_size``-pixel windows of merged units, `DynamicResize.window_cells`) — after the
patch embedding, which keeps merge-window order — and the merger's own output is still in window order; the tower
puts it back in raster order for the LM."""

from spatialprobe.models.families.qwen2_vl import LAYOUTS, card
from spatialprobe.registry import MODELS

CARD = MODELS.register(
    "qwen2_5_vl",
    card("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration",
         {**LAYOUTS, "vision.layer": "windows", "vision.out": "windows", "connector.in": "windows", "connector.out": "merged_windows"}),
)
