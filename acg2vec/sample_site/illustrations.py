"""Draw a post's illustration from its :class:`~acg2vec.sample_site.world.Drawing`, and cache the bytes.

The corners always show the background colour (shapes stay inside a 3x3 grid over the inner 70 %), so a
``red_background`` post has red corners; every shape, panel and character glyph is a tag of the post.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import threading
from dataclasses import dataclass

from PIL import Image, ImageDraw

from acg2vec.sample_site.world import ARTISTS, COLOURS, Drawing, Post, Shape

SAMPLE_MAX_WIDTH = 850  # wider originals get a sample rendition, as on Gelbooru-0.2 sites
THUMBNAIL_SIZE = 150
INNER_MARGIN = 0.15  # fraction of each side kept free for the background


def render(drawing: Drawing) -> Image.Image:
    """The illustration as an RGB image."""
    image = Image.new("RGB", (drawing.width, drawing.height), COLOURS[drawing.background])
    draw = ImageDraw.Draw(image)
    style = ARTISTS[drawing.artist]
    _add_grain(image, drawing)
    if drawing.frame:
        inset_x, inset_y = int(drawing.width * 0.09), int(drawing.height * 0.09)
        frame_colour = (0, 0, 0) if drawing.background != "black" else (250, 250, 250)
        width = max(3, min(drawing.width, drawing.height) // 60)
        draw.rectangle(
            (inset_x, inset_y, drawing.width - inset_x, drawing.height - inset_y), outline=frame_colour, width=width
        )
    for shape in drawing.shapes:
        _draw_shape(image, draw, drawing, shape, style.outline_width, style.outline_colour)
    return image


def _add_grain(image: Image.Image, drawing: Drawing) -> None:
    """A few faint specks, so that images of the same tags still differ and JPEG has texture to code."""
    rng = random.Random(drawing.noise_seed)
    draw = ImageDraw.Draw(image)
    base = COLOURS[drawing.background]
    for _ in range(40):
        x, y = rng.randrange(drawing.width), rng.randrange(drawing.height)
        shade = tuple(max(0, min(255, c + rng.randint(-18, 18))) for c in base)
        draw.ellipse((x, y, x + 3, y + 3), fill=shade)


def _cell_box(drawing: Drawing, cell: int) -> tuple[float, float, float]:
    """Centre x, centre y and half-size of a grid cell."""
    inner_w = drawing.width * (1 - 2 * INNER_MARGIN)
    inner_h = drawing.height * (1 - 2 * INNER_MARGIN)
    cw, ch = inner_w / 3, inner_h / 3
    cx = drawing.width * INNER_MARGIN + cw * (cell % 3 + 0.5)
    cy = drawing.height * INNER_MARGIN + ch * (cell // 3 + 0.5)
    return cx, cy, min(cw, ch) / 2


def _polygon(cx: float, cy: float, radius: float, points: int, rotation: float, inner: float = 1.0) -> list[tuple]:
    out = []
    steps = points * (2 if inner != 1.0 else 1)
    for i in range(steps):
        r = radius if i % 2 == 0 or inner == 1.0 else radius * inner
        angle = math.radians(rotation) + 2 * math.pi * i / steps - math.pi / 2
        out.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return out


def _draw_shape(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    drawing: Drawing,
    shape: Shape,
    outline_width: int,
    outline_colour: tuple[int, int, int],
) -> None:
    cx, cy, half = _cell_box(drawing, shape.cell)
    r = half * shape.scale
    fill = COLOURS[shape.colour]
    # Thin outlines on small shapes, so the fill colour stays what the eye (and a tagger) sees.
    outline_width = min(outline_width, int(r * 0.1))
    outline = outline_colour if outline_width else None
    kw = {"fill": fill, "outline": outline, "width": outline_width}
    if shape.kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), **kw)
    elif shape.kind == "square":
        draw.polygon(_polygon(cx, cy, r * 1.2, 4, shape.rotation % 90 + 45), **kw)
    elif shape.kind == "triangle":
        draw.polygon(_polygon(cx, cy, r, 3, shape.rotation % 30 - 15), **kw)
    elif shape.kind == "star":
        draw.polygon(_polygon(cx, cy, r, 5, shape.rotation % 72, inner=0.42), **kw)
    elif shape.kind == "hexagon":
        draw.polygon(_polygon(cx, cy, r, 6, shape.rotation % 60), **kw)
    elif shape.kind == "cross":
        t = r * 0.33
        draw.rectangle((cx - r, cy - t, cx + r, cy + t), fill=fill)
        draw.rectangle((cx - t, cy - r, cx + t, cy + r), fill=fill)
    elif shape.kind == "heart":
        lobe = r * 0.55
        draw.ellipse((cx - 2 * lobe, cy - r, cx, cy - r + 2 * lobe), fill=fill)
        draw.ellipse((cx, cy - r, cx + 2 * lobe, cy - r + 2 * lobe), fill=fill)
        draw.polygon(
            [(cx - 2 * lobe + 1, cy - r + lobe * 1.2), (cx + 2 * lobe - 1, cy - r + lobe * 1.2), (cx, cy + r)],
            fill=fill,
        )
    elif shape.kind == "stripes":
        bars = 6
        for i in range(bars):
            colour = fill if i % 2 == 0 else (250, 250, 250)
            step = 2 * r / bars
            if shape.detail == "horizontal":
                draw.rectangle((cx - r, cy - r + i * step, cx + r, cy - r + (i + 1) * step), fill=colour)
            else:
                draw.rectangle((cx - r + i * step, cy - r, cx - r + (i + 1) * step, cy + r), fill=colour)
    elif shape.kind == "polka_dots":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=(250, 250, 250))
        dot = r / 6
        for i in range(4):
            for j in range(4):
                x, y = cx - r + (i + 0.5) * r / 2, cy - r + (j + 0.5) * r / 2
                draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=fill)
    elif shape.kind == "glyph":
        _draw_glyph(draw, cx, cy, r, fill, shape.detail)


def _draw_glyph(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colour: tuple, symbol: str) -> None:
    """A character's mark: white disc, thick coloured ring, a coloured symbol inside."""
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(250, 250, 250), outline=colour, width=max(3, int(r * 0.22)))
    s = r * 0.4
    if symbol == "dot":
        draw.ellipse((cx - s, cy - s, cx + s, cy + s), fill=colour)
    elif symbol == "cross":
        t = s * 0.35
        draw.rectangle((cx - s, cy - t, cx + s, cy + t), fill=colour)
        draw.rectangle((cx - t, cy - s, cx + t, cy + s), fill=colour)
    elif symbol == "diamond":
        draw.polygon([(cx, cy - s), (cx + s, cy), (cx, cy + s), (cx - s, cy)], fill=colour)
    else:  # bar
        draw.rectangle((cx - s, cy - s * 0.3, cx + s, cy + s * 0.3), fill=colour)


def encode(image: Image.Image, ext: str) -> bytes:
    """JPEG or PNG bytes; fixed encoder settings so the same image gives the same bytes."""
    buffer = io.BytesIO()
    if ext == "png":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@dataclass(slots=True)
class Rendition:
    """Encoded bytes of one file and their md5."""

    data: bytes
    md5: str
    width: int
    height: int


class ImageCache:
    """Draws files on first use and keeps them; thread-safe (the server answers requests in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._files: dict[tuple, Rendition] = {}

    def _get(self, key: tuple, make) -> Rendition:
        found = self._files.get(key)
        if found is not None:
            return found
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            found = self._files.get(key)
            if found is None:
                found = make()
                self._files[key] = found
        return found

    def original(self, post: Post) -> Rendition:
        """The post's original file (a duplicate post shares the bytes of its original; a planted re-upload,
        :class:`acg2vec.sample_site.planted.ReuploadPost`, has its own file: the picture changed)."""
        kind = getattr(post, "reupload", None)
        key = ("reupload", post.id, kind) if kind else ("original", id(post.drawing))

        def make() -> Rendition:
            image = reupload_image(post) if kind else render(post.drawing)
            data = encode(image, "jpg" if kind else post.ext)
            return Rendition(data, hashlib.md5(data).hexdigest(), image.width, image.height)

        return self._get(key, make)

    def sample(self, post: Post) -> Rendition:
        """The sample rendition: at most SAMPLE_MAX_WIDTH wide, always JPEG."""
        key = ("sample", id(post.drawing))

        def make() -> Rendition:
            image = Image.open(io.BytesIO(self.original(post).data)).convert("RGB")
            w, h = sample_size(post.width, post.height)
            data = encode(image.resize((w, h), Image.Resampling.BILINEAR), "jpg")
            return Rendition(data, hashlib.md5(data).hexdigest(), w, h)

        return self._get(key, make)

    def thumbnail(self, post: Post) -> Rendition:
        key = ("thumbnail", id(post.drawing))

        def make() -> Rendition:
            image = Image.open(io.BytesIO(self.original(post).data)).convert("RGB")
            image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            data = encode(image, "jpg")
            return Rendition(data, hashlib.md5(data).hexdigest(), image.width, image.height)

        return self._get(key, make)


def reupload_image(post: Post) -> Image.Image:
    """The picture of a planted re-upload: its drawing rendered, then changed as its ``reupload`` kind says."""
    from acg2vec.sample_site.reuploads import reupload

    seed = f"reupload:{post.id}:{post.drawing.noise_seed}"
    return reupload(render(post.drawing), post.reupload, random.Random(seed))


def reupload_size(post: Post) -> tuple[int, int]:
    """The width and height of a planted re-upload's file."""
    image = reupload_image(post)
    return image.width, image.height


def has_sample(width: int, height: int) -> bool:
    return width > SAMPLE_MAX_WIDTH


def sample_size(width: int, height: int) -> tuple[int, int]:
    if not has_sample(width, height):
        return width, height
    return SAMPLE_MAX_WIDTH, max(1, round(height * SAMPLE_MAX_WIDTH / width))


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    scale = min(THUMBNAIL_SIZE / width, THUMBNAIL_SIZE / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def contact_sheet(posts: list[Post], path: str, *, images: ImageCache | None = None, columns: int = 4) -> str:
    """A PNG grid of posts with their general and character tags under each picture, to check tags by eye."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = images or ImageCache()
    rows = max(1, -(-len(posts) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 3.2, rows * 3.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, post in zip(axes.flat, posts, strict=False):
        picture = Image.open(io.BytesIO(images.original(post).data)).convert("RGB")
        ax.imshow(picture)
        words = post.general_tags + post.character_tags
        lines = [" ".join(words[i : i + 3]) for i in range(0, len(words), 3)]
        ax.set_title(f"#{post.id} {post.rating}\n" + "\n".join(lines), fontsize=6.5, loc="left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
