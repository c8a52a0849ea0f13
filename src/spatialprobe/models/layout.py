"""`TokenLayout`: what each row of a site's token matrix is."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spatialprobe.geometry import FrameMap

ROLES = ("cls", "register", "patch", "query", "latent", "image", "newline", "marker", "text", "pad")
"""``newline``: a row ending a row of patches (LLaVA-NeXT); ``marker``: a token that delimits the image or names a
tile (Qwen2-VL's vision_start / vision_end, Idefics3's ``<row_1_col_1>``)."""


@dataclass(frozen=True)
class TokenLayout:
    """Roles of the rows of one site, plus the geometry of patch rows and the words of text rows.

    ``grid`` is (rows, cols) of the patch grid and ``input_size`` the model's input frame (W, H);
    patch rows carry their (row, col), in whatever order the model holds them (Qwen2-VL's rows are
    in merge-window order: ``patch_cells`` says where each row's patch is). A tiled image's rows
    also carry the frame they come from (``frame_of_row``: the base frame, then the tiles; each
    frame has its own map from the image, and where frames differ in grid, ``frame_grids``). Text rows carry the
    index of the word they belong to (``word_of_row``, -1 for special tokens). ``columns`` is the
    layout of the attended tokens for an attention-map site.
    """

    roles: tuple[str, ...]
    grid: tuple[int, int] | None = None
    input_size: tuple[int, int] | None = None
    patch_cells: tuple[tuple[int, int], ...] = ()
    word_of_row: tuple[int, ...] = ()
    columns: TokenLayout | None = field(default=None, compare=True)
    frame_of_row: tuple[int, ...] = ()
    frame_grids: tuple[tuple[int, int, int, int], ...] = ()
    """Where one image's frames differ (Idefics2's quadrants and whole image): each frame's (rows, cols, width,
    height) — its grid and the input size it covers; ``grid`` / ``input_size`` are then the first frame's."""

    def __post_init__(self) -> None:
        unknown = set(self.roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown token roles {sorted(unknown)}; valid: {ROLES}")
        if len(self.patch_cells) != self.roles.count("patch"):
            raise ValueError("every patch row needs its (row, col) cell")
        if self.frame_of_row and len(self.frame_of_row) != len(self.roles):
            raise ValueError("frame_of_row needs one frame per row")
        if self.frame_grids and not self.frame_of_row:
            raise ValueError("frame_grids needs the frame of every row (frame_of_row)")

    def __len__(self) -> int:
        return len(self.roles)

    @classmethod
    def vision(cls, prefix: tuple[str, ...], grid: tuple[int, int], input_size: tuple[int, int]) -> TokenLayout:
        """Prefix tokens (CLS, registers) followed by the patch grid in row-major order."""
        cells = tuple((r, c) for r in range(grid[0]) for c in range(grid[1]))
        return cls(tuple(prefix) + ("patch",) * len(cells), grid, tuple(input_size), cells)

    @classmethod
    def queries(cls, n: int, role: str = "query", columns: TokenLayout | None = None) -> TokenLayout:
        return cls((role,) * n, columns=columns)

    def rows(self, role: str) -> np.ndarray:
        """Indices of the rows with ``role``."""
        return np.array([i for i, r in enumerate(self.roles) if r == role], dtype=np.int64)

    @classmethod
    def framed(cls, frames: list[TokenLayout]) -> TokenLayout:
        """One image's frames as one layout, the rows frame after frame (frames of different grids: ``frame_grids``)."""
        grids = [(*f.grid, *f.input_size) if f.grid is not None else (-1, -1, -1, -1) for f in frames]
        return cls(tuple(r for f in frames for r in f.roles), frames[0].grid, frames[0].input_size, tuple(c for f in frames for c in f.patch_cells),
                   frame_of_row=tuple(k for k, f in enumerate(frames) for _ in f.roles), frame_grids=tuple(grids) if len(set(grids)) > 1 else ())

    def grid_of(self, frame: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((rows, cols), (width, height)): the grid of one frame and the input size it covers."""
        if self.frame_grids:
            rows, cols, w, h = self.frame_grids[frame]
            return (rows, cols), (w, h)
        return self.grid, self.input_size

    def patch_boxes(self, frame_map: FrameMap | list[FrameMap] | None = None) -> np.ndarray:
        """(n_patches, 4) pixel xyxy box of each patch row, in the model frame or, given the
        preprocessing's `FrameMap` of an image (one per frame for a tiled image), in that image's frame."""
        if self.grid is None or self.input_size is None:
            raise ValueError("this layout has no patch grid")
        cells = np.array(self.patch_cells, dtype=np.float64).reshape(-1, 2)
        if self.frame_grids:
            sizes = np.array([[w / c, h / r] for r, c, w, h in self.frame_grids])[np.array(self.frame_of_row)[self.rows("patch")]]
            pw, ph = sizes[:, 0], sizes[:, 1]
        else:
            (rows, cols), (w, h) = self.grid, self.input_size
            pw, ph = w / cols, h / rows
        boxes = np.stack([cells[:, 1] * pw, cells[:, 0] * ph, (cells[:, 1] + 1) * pw, (cells[:, 0] + 1) * ph], axis=1)
        if frame_map is None:
            return boxes
        if isinstance(frame_map, FrameMap):
            return frame_map.inverse().map_boxes(boxes)
        if not self.frame_of_row:
            raise ValueError("one frame map per frame needs a layout whose rows carry their frame (frame_of_row)")
        frame = np.array(self.frame_of_row)[self.rows("patch")]
        out = np.empty_like(boxes)
        for k, fmap in enumerate(frame_map):
            out[frame == k] = fmap.inverse().map_boxes(boxes[frame == k])
        return out

    def to_codes(self) -> np.ndarray:
        """(rows, 4) int16: role (index in `ROLES`), frame (-1: none), patch row and col (-1: not a patch) — how a
        store keeps each scene's own layout (`from_codes`)."""
        codes = np.full((len(self), 4), -1, np.int16)
        codes[:, 0] = [ROLES.index(r) for r in self.roles]
        if self.frame_of_row:
            codes[:, 1] = self.frame_of_row
        patches = self.rows("patch")
        if patches.size:
            codes[patches, 2:] = np.array(self.patch_cells, np.int16).reshape(-1, 2)
        return codes

    @classmethod
    def from_codes(cls, codes: np.ndarray, grids: np.ndarray) -> TokenLayout:
        """Inverse of `to_codes`, given the layout's grids: one (rows, cols, width, height) row, or one per frame
        (`frame_grids`); -1 for a layout with no grid."""
        codes, grids = np.asarray(codes), np.asarray(grids).reshape(-1, 4)
        roles = tuple(ROLES[int(k)] for k in codes[:, 0])
        cells = tuple((int(r), int(c)) for r, c in codes[codes[:, 0] == ROLES.index("patch"), 2:])
        framed = bool(len(codes)) and bool((codes[:, 1] != -1).any())
        rows, cols, w, h = (int(v) for v in grids[0])
        has_grid = bool(cells) and rows > 0
        return cls(roles, (rows, cols) if has_grid else None, (w, h) if has_grid else None, cells,
                   frame_of_row=tuple(int(f) for f in codes[:, 1]) if framed else (),
                   frame_grids=tuple(tuple(int(v) for v in g) for g in grids) if len(grids) > 1 else ())

    def grids(self) -> np.ndarray:
        """(frames or 1, 4) int32: the grids `from_codes` reads back."""
        if self.frame_grids:
            return np.array(self.frame_grids, np.int32)
        return np.array([[*(self.grid or (-1, -1)), *(self.input_size or (-1, -1))]], np.int32)

    def to_json(self) -> dict:
        d = {"roles": list(self.roles)}
        if self.grid is not None:
            d.update(grid=list(self.grid), input_size=list(self.input_size), patch_cells=[list(c) for c in self.patch_cells])
        if self.word_of_row:
            d["word_of_row"] = list(self.word_of_row)
        if self.columns is not None:
            d["columns"] = self.columns.to_json()
        if self.frame_of_row:
            d["frame_of_row"] = list(self.frame_of_row)
        if self.frame_grids:
            d["frame_grids"] = [list(g) for g in self.frame_grids]
        return d

    @classmethod
    def from_json(cls, d: dict) -> TokenLayout:
        return cls(
            roles=tuple(d["roles"]),
            grid=tuple(d["grid"]) if "grid" in d else None,
            input_size=tuple(d["input_size"]) if "input_size" in d else None,
            patch_cells=tuple(tuple(c) for c in d.get("patch_cells", ())),
            word_of_row=tuple(d.get("word_of_row", ())),
            columns=cls.from_json(d["columns"]) if "columns" in d else None,
            frame_of_row=tuple(d.get("frame_of_row", ())),
            frame_grids=tuple(tuple(g) for g in d.get("frame_grids", ())),
        )
