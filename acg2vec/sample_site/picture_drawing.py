"""Draw a picture of the picture world (:mod:`acg2vec.sample_site.pictures`) as a JPEG.

Drawn at ``SUPER`` times the asked size and downscaled, so edges are anti-aliased as in illustrations. Every
random choice comes from the picture's own seed, so the same picture always gives the same bytes.
"""

from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageDraw

from acg2vec.sample_site.pictures import COLOURS, SKIN, Artist, Figure, Picture, PictureWorld, Series
from acg2vec.sample_site.reuploads import reupload

SUPER = 2  # draw at 2x and downscale: anti-aliased edges, as illustrations have


def _shift(rgb, p: Picture) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, (c + s) * p.brightness))) for c, s in zip(rgb, p.palette_shift, strict=True))


def draw_picture(p: Picture, world: PictureWorld, size: int) -> bytes:
    """The post's JPEG at ``size`` x ``size`` px: background, clutter, figures, an animal, occluders (a re-upload:
    then re-encoded, resized, cropped or recoloured as its ``reupload`` says)."""
    artists, series, _ = world
    artist = artists[p.artist]
    rng = random.Random(p.seed)
    side = size * SUPER
    bg = _shift(COLOURS[p.background], p)
    image = Image.new("RGB", (side, side), bg)
    draw = ImageDraw.Draw(image)
    if p.background_kind == "gradient_background":
        for y in range(side):
            t = y / side
            draw.line([(0, y), (side, y)], fill=tuple(int(c * (1 - 0.55 * t) + 255 * 0.0 * t) for c in bg))
    elif p.background_kind == "striped_background":
        other = tuple(min(255, c + 60) if sum(bg) < 380 else max(0, c - 60) for c in bg)
        stripe = side // 8
        for i in range(0, side, 2 * stripe):
            draw.rectangle((i, 0, i + stripe, side), fill=other)
    # Clutter behind the figures: shapes that are no tag.
    for _ in range(p.clutter):
        _blob(draw, rng, side, p, small=True)
    n = len(p.figures)
    slots = {1: [0.5], 2: [0.3, 0.7], 3: [0.2, 0.5, 0.8]}[n]
    for f, x in zip(p.figures, slots, strict=True):
        scale = rng.uniform(0.8, 1.05) * (1.0 if n == 1 else 0.78 if n == 2 else 0.62)
        cx = (x + rng.uniform(-0.06, 0.06)) * side
        cy = rng.uniform(0.52, 0.6) * side
        layer = _figure(f, artist, series, p, side, scale)
        layer = layer.rotate(rng.uniform(-20, 20), resample=Image.Resampling.BICUBIC, center=(side / 2, side / 2))
        image.paste(layer, (int(cx - side / 2), int(cy - side / 2)), layer)
    if p.animal:
        _animal(draw, rng, p.animal, side, artist, p)
    for _ in range(p.occluders):
        _blob(draw, rng, side, p, small=False)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    if p.reupload:  # a near-duplicate upload: the original's picture changed, at the same size as every example
        image = reupload(image, p.reupload, random.Random(f"{p.seed}:{p.id}:reupload"), keep_size=True)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=p.jpeg_quality)
    return buffer.getvalue()


def _blob(draw, rng, side, p, *, small: bool) -> None:
    r = side * (rng.uniform(0.04, 0.08) if small else rng.uniform(0.07, 0.12))
    x, y = rng.uniform(0, side), rng.uniform(0, side)
    colour = _shift((rng.randrange(256), rng.randrange(256), rng.randrange(256)), p)
    k = rng.randint(4, 7)
    pts = [
        (x + r * rng.uniform(0.6, 1.0) * math.cos(2 * math.pi * i / k), y + r * rng.uniform(0.6, 1.0) * math.sin(2 * math.pi * i / k))
        for i in range(k)
    ]  # fmt: skip
    draw.polygon(pts, fill=colour)


def _col(name: str, p: Picture) -> tuple[int, int, int, int]:
    return _shift(COLOURS[name], p) + (255,)


def _shade(rgb, k: float = 0.7) -> tuple[int, int, int, int]:
    return tuple(int(v * k) for v in rgb[:3]) + (255,)


def _figure(f: Figure, artist: Artist, series: list[Series], p: Picture, side: int, scale: float):
    """One figure on a transparent layer the size of the picture, centred (rotated and pasted by the caller)."""
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    c = side / 2
    u = side * 0.36 * scale  # figure unit: head radius is 0.32 u
    ow = max(0, int(artist.outline * scale))
    oc = artist.outline_colour + (255,)
    _dress(d, f, artist, p, c, u, ow, oc)
    hr = 0.32 * u
    hy = c - 0.05 * u - hr * 0.95
    hair = _head(d, f, artist, p, c, hr, hy, ow, oc)
    _accessory(d, f.accessory, c, hr, hy, hair)
    _held(d, f.held, c, u)
    return layer


def _dress(d, f: Figure, artist: Artist, p: Picture, c: float, u: float, ow: int, oc) -> None:
    """The body: a dress (trapezoid) below the head, shaded as the artist shades, with the series' emblem."""
    top, bottom = c - 0.05 * u, c + 1.05 * u
    body = [(c - 0.35 * u, top), (c + 0.35 * u, top), (c + 0.6 * u, bottom), (c - 0.6 * u, bottom)]
    d.polygon(body, fill=_col(f.dress, p), outline=oc if ow else None, width=ow)
    if artist.shading == "cel":
        d.polygon([(c, top), (c + 0.35 * u, top), (c + 0.6 * u, bottom), (c, bottom)], fill=_shade(_col(f.dress, p)))
    elif artist.shading == "hatch":
        for i in range(6):
            y = top + (i + 0.5) * (bottom - top) / 6
            d.line(
                [(c - 0.3 * u, y), (c + 0.3 * u, y)], fill=_shade(_col(f.dress, p), 0.6), width=max(1, int(0.02 * u))
            )
    if f.emblem:
        _emblem(d, f.emblem[0], _col(f.emblem[1], p), c, c + 0.45 * u, 0.16 * u)


def _head(d, f: Figure, artist: Artist, p: Picture, c: float, hr: float, hy: float, ow: int, oc):
    """Head, hair and eyes (big, as drawn in illustrations); returns the hair colour."""
    d.ellipse((c - hr, hy - hr, c + hr, hy + hr), fill=SKIN + (255,), outline=oc if ow else None, width=ow)
    hair = _col(f.hair, p)
    d.pieslice((c - hr * 1.08, hy - hr * 1.12, c + hr * 1.08, hy + hr * 0.9), 180, 360, fill=hair)
    d.rectangle((c - hr * 1.08, hy - hr * 0.1, c - hr * 0.75, hy + hr * 1.2), fill=hair)
    d.rectangle((c + hr * 0.75, hy - hr * 0.1, c + hr * 1.08, hy + hr * 1.2), fill=hair)
    if artist.shading != "flat":
        d.pieslice((c, hy - hr * 1.12, c + hr * 1.08, hy + hr * 0.9), 270, 360, fill=_shade(hair, 0.8))
    er = hr * 0.24
    for sx in (-0.42, 0.42):
        ex, ey = c + sx * hr, hy + hr * 0.25
        d.ellipse((ex - er, ey - er * 1.3, ex + er, ey + er * 1.3), fill=_col(f.eyes, p), outline=(20, 20, 20, 255))
    return hair


def _accessory(d, acc: str | None, c: float, hr: float, hy: float, hair) -> None:
    er = hr * 0.24  # the eye radius, for the glasses
    if acc == "hat":
        d.rectangle((c - hr * 1.35, hy - hr * 0.95, c + hr * 1.35, hy - hr * 0.75), fill=(30, 30, 30, 255))
        d.rectangle((c - hr * 0.8, hy - hr * 1.7, c + hr * 0.8, hy - hr * 0.9), fill=(30, 30, 30, 255))
    elif acc == "glasses":
        for sx in (-0.42, 0.42):
            ex, ey = c + sx * hr, hy + hr * 0.25
            d.ellipse((ex - er * 1.7, ey - er * 1.7, ex + er * 1.7, ey + er * 1.7), outline=(10, 10, 10, 255),
                      width=max(2, int(er * 0.5)))  # fmt: skip
        d.line([(c - 0.2 * hr, hy + hr * 0.25), (c + 0.2 * hr, hy + hr * 0.25)], fill=(10, 10, 10, 255), width=3)
    elif acc == "animal_ears":
        for sx in (-1, 1):
            d.polygon([(c + sx * hr * 0.3, hy - hr * 0.8), (c + sx * hr * 1.0, hy - hr * 0.5),
                       (c + sx * hr * 0.85, hy - hr * 1.7)], fill=hair)  # fmt: skip
            d.polygon([(c + sx * hr * 0.5, hy - hr * 0.8), (c + sx * hr * 0.85, hy - hr * 0.65),
                       (c + sx * hr * 0.8, hy - hr * 1.35)], fill=(250, 160, 180, 255))  # fmt: skip
    elif acc == "ribbon":
        rx, ry = c + hr * 0.9, hy - hr * 0.8
        d.polygon([(rx, ry), (rx - hr * 0.6, ry - hr * 0.4), (rx - hr * 0.6, ry + hr * 0.4)], fill=(230, 20, 60, 255))
        d.polygon([(rx, ry), (rx + hr * 0.6, ry - hr * 0.4), (rx + hr * 0.6, ry + hr * 0.4)], fill=(230, 20, 60, 255))
    elif acc == "halo":
        d.ellipse((c - hr * 0.8, hy - hr * 1.75, c + hr * 0.8, hy - hr * 1.3), outline=(255, 230, 60, 255),
                  width=max(3, int(hr * 0.16)))  # fmt: skip
    elif acc == "horns":
        for sx in (-1, 1):
            d.polygon([(c + sx * hr * 0.35, hy - hr * 0.85), (c + sx * hr * 0.75, hy - hr * 0.75),
                       (c + sx * hr * 0.75, hy - hr * 1.75)], fill=(90, 80, 80, 255))  # fmt: skip


def _held(d, held: str | None, c: float, u: float) -> None:
    """The held item, at the right hand."""
    hx, hy2 = c + 0.62 * u, c + 0.45 * u
    if held == "sword":
        d.line(
            [(hx, hy2 + 0.15 * u), (hx + 0.15 * u, hy2 - 0.9 * u)],
            fill=(200, 205, 215, 255),
            width=max(3, int(0.08 * u)),
        )
        d.line(
            [(hx - 0.12 * u, hy2), (hx + 0.14 * u, hy2 + 0.03 * u)],
            fill=(120, 70, 20, 255),
            width=max(3, int(0.06 * u)),
        )
    elif held == "staff":
        d.line([(hx, hy2 + 0.5 * u), (hx, hy2 - 0.8 * u)], fill=(120, 70, 20, 255), width=max(3, int(0.06 * u)))
        d.ellipse((hx - 0.13 * u, hy2 - 1.0 * u, hx + 0.13 * u, hy2 - 0.74 * u), fill=(60, 200, 255, 255))
    elif held == "flower":
        for k in range(5):
            a = 2 * math.pi * k / 5
            px, py = hx + 0.1 * u * math.cos(a), hy2 - 0.25 * u + 0.1 * u * math.sin(a)
            d.ellipse((px - 0.07 * u, py - 0.07 * u, px + 0.07 * u, py + 0.07 * u), fill=(255, 120, 200, 255))
        d.ellipse((hx - 0.05 * u, hy2 - 0.3 * u, hx + 0.05 * u, hy2 - 0.2 * u), fill=(255, 230, 0, 255))
    elif held == "book":
        d.rectangle(
            (hx - 0.15 * u, hy2 - 0.2 * u, hx + 0.15 * u, hy2 + 0.2 * u),
            fill=(40, 90, 60, 255),
            outline=(240, 240, 220, 255),
            width=3,
        )


def _emblem(d, shape: str, colour, x: float, y: float, r: float) -> None:
    if shape == "circle":
        d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    elif shape == "diamond":
        d.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=colour)
    elif shape == "triangle":
        d.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour)
    elif shape == "cross":
        t = r * 0.35
        d.rectangle((x - r, y - t, x + r, y + t), fill=colour)
        d.rectangle((x - t, y - r, x + t, y + r), fill=colour)
    elif shape == "heart":
        d.ellipse((x - r, y - r, x, y), fill=colour)
        d.ellipse((x, y - r, x + r, y), fill=colour)
        d.polygon([(x - r, y - r / 2), (x + r, y - r / 2), (x, y + r)], fill=colour)
    else:  # star
        pts = []
        for i in range(10):
            rr = r if i % 2 == 0 else r * 0.45
            a = -math.pi / 2 + math.pi * i / 5
            pts.append((x + rr * math.cos(a), y + rr * math.sin(a)))
        d.polygon(pts, fill=colour)


def _animal(d, rng, kind: str, side: int, artist: Artist, p: Picture) -> None:
    r = side * rng.uniform(0.07, 0.1)
    x = rng.choice((rng.uniform(0.08, 0.2), rng.uniform(0.8, 0.92))) * side
    y = rng.uniform(0.72, 0.88) * side
    ow = artist.outline // 2
    oc = artist.outline_colour
    if kind == "cat":
        colour = _shift((240, 150, 50), p)
        d.ellipse((x - r, y - r * 0.7, x + r, y + r * 0.7), fill=colour, outline=oc if ow else None, width=ow)
        hx = x + r * 0.9
        d.ellipse((hx - r * 0.5, y - r * 1.1, hx + r * 0.5, y - r * 0.1), fill=colour)
        d.polygon([(hx - r * 0.45, y - r * 0.8), (hx - r * 0.2, y - r * 1.5), (hx, y - r * 0.9)], fill=colour)
        d.polygon([(hx + r * 0.45, y - r * 0.8), (hx + r * 0.2, y - r * 1.5), (hx, y - r * 0.9)], fill=colour)
    elif kind == "bird":
        colour = _shift((80, 170, 230), p)
        d.ellipse(
            (x - r * 0.8, y - r * 0.5, x + r * 0.8, y + r * 0.5), fill=colour, outline=oc if ow else None, width=ow
        )
        d.polygon([(x, y), (x - r * 0.6, y - r * 1.0), (x + r * 0.3, y - r * 0.2)], fill=_shift((40, 110, 190), p))
        d.polygon([(x + r * 0.8, y - r * 0.1), (x + r * 1.3, y), (x + r * 0.8, y + r * 0.15)], fill=(250, 180, 0))
    else:  # fish
        colour = _shift((250, 110, 80), p)
        d.ellipse((x - r, y - r * 0.45, x + r * 0.6, y + r * 0.45), fill=colour, outline=oc if ow else None, width=ow)
        d.polygon([(x + r * 0.5, y), (x + r * 1.2, y - r * 0.5), (x + r * 1.2, y + r * 0.5)], fill=colour)
