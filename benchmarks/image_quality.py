"""Learnability benchmark: do the image trainers learn what the pictures show? A world with a known ceiling.

A generator draws illustrations whose tags are visible in the picture — figures with hair and eye colours,
accessories, held items, animals, backgrounds, one to three figures — under the nuisances real illustrations
have (position, scale, rotation, partial occlusion, clutter, palette shifts, JPEG quality). Characters are fixed
combinations of visible attributes, copyrights are style families (an emblem and a dress palette the series'
characters share), artists are drawing styles (outline width and colour, shading). Tag frequencies are
long-tailed (Zipf-like), about 10 % of visible general tags are missing from a post and a few posts carry a
wrong tag; ratings and popularity follow visible content plus noise. The generator knows which tags it drew,
so the report states the ceiling: an oracle that outputs exactly the drawn tags, scored against the noisy labels.

It writes ``acg_illustrations/<size>`` datasets in the exact TFDS format the trainers read (one shared
validation and test split, training splits of growing size), then, for each size, trains DeepDanbooru (small),
alt-i2v (small), deepix (from that DeepDanbooru, with its illust2vec) on CPU and evaluates each on the test split
beside its baseline: tag frequency for taggers, majority class / mean for deepix's heads, colour histograms and
random vectors for illust2vec retrieval (relevant = shares a character or copyright tag; backgrounds, clutter and
palette shifts randomise the colours of every picture). It prints a table, writes ``results.json``, a markdown
note and a learning-curve plot.

Run (serialised with other benchmarks on a shared machine):

    nohup flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/image_quality.py \
        --sizes 2000 5000 20000 --out /tmp/image-quality > /tmp/image-quality.log 2>&1 &

(about 50 minutes on 2 quiet cores; at 20,000 posts each model trains in about 15 minutes)
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("image_quality")

# ------------------------------------------------------------------------------------------------ the world

COLOURS = {
    "black": (25, 25, 30),
    "brown": (120, 70, 35),
    "blonde": (245, 215, 90),
    "blue": (40, 80, 220),
    "red": (210, 30, 40),
    "pink": (245, 140, 190),
    "white": (245, 245, 245),
    "green": (40, 160, 70),
    "purple": (130, 50, 180),
    "orange": (245, 140, 30),
    "yellow": (240, 225, 40),
    "grey": (128, 128, 128),
}
HAIR = ("black", "brown", "blonde", "blue", "red", "pink", "white", "green", "purple", "orange")
EYES = ("blue", "red", "green", "brown", "yellow", "purple")
ACCESSORIES = ("hat", "glasses", "animal_ears", "ribbon", "halo", "horns")
HELD = ("sword", "staff", "flower", "book")
ANIMALS = ("cat", "bird", "fish")
BACKGROUNDS = ("white", "black", "blue", "green", "yellow", "pink", "grey", "orange")
BACKGROUND_KINDS = ("simple_background", "gradient_background", "striped_background")
DRESS = ("red", "blue", "green", "purple", "orange", "black", "white", "pink")
EMBLEMS = ("star", "diamond", "circle", "cross", "triangle", "heart")
SKIN = (250, 220, 195)
RATINGS = ("general", "sensitive", "questionable", "explicit")


def zipf(n: int, s: float = 1.0) -> list[float]:
    return [1 / (k + 1) ** s for k in range(n)]


@dataclass(slots=True, frozen=True)
class Artist:
    tag: str
    outline: int  # outline width in drawing pixels (drawn at SUPER x, then downscaled)
    outline_colour: tuple[int, int, int]
    shading: str  # flat / cel / hatch


@dataclass(slots=True, frozen=True)
class Series:
    tag: str
    emblem: str
    emblem_colour: str
    dress: tuple[str, str]  # the series' dress palette


@dataclass(slots=True, frozen=True)
class CharacterDesign:
    tag: str
    series: int
    hair: str
    eyes: str
    accessory: str | None
    held: str | None
    dress: str


@dataclass(slots=True)
class Figure:
    hair: str
    eyes: str
    accessory: str | None
    held: str | None
    dress: str
    emblem: tuple[str, str] | None = None  # (shape, colour) of a series' emblem
    character: int | None = None


@dataclass(slots=True)
class Picture:
    """Everything one picture draws, and the post's labels (noisy) beside the drawn truth."""

    id: int
    figures: list[Figure]
    background: str
    background_kind: str
    animal: str | None
    artist: int
    clutter: int
    occluders: int
    palette_shift: tuple[int, int, int]
    brightness: float
    jpeg_quality: int
    seed: int
    visible: dict[str, str] = field(default_factory=dict)  # tag -> category, what the picture shows
    labels: dict[str, str] = field(default_factory=dict)  # tag -> category, what the post says (noisy)
    rating: str = "general"
    rating_clean: str = "general"
    score: int = 0
    score_clean: float = 0.0
    views: int = -1
    bookmarks: int = -1


def make_world(seed: int = 0, *, characters: int = 24, series: int = 6, artists: int = 12):
    rng = random.Random(f"{seed}:world")
    artist_list = []
    outline_colours = ((0, 0, 0), (90, 50, 20), (20, 30, 110))
    for i in range(artists):
        artist_list.append(
            Artist(
                f"artist_{i:02d}",
                outline=(0, 2, 4, 6)[i % 4],
                outline_colour=outline_colours[(i // 4) % 3],
                shading=("flat", "cel", "hatch")[(i // 4) % 3 if i % 4 else i % 3],
            )
        )
    series_list = [
        Series(
            f"series_{chr(97 + i)}",
            EMBLEMS[i % len(EMBLEMS)],
            rng.choice(("yellow", "white", "red", "blue")),
            (DRESS[(2 * i) % len(DRESS)], DRESS[(2 * i + 1) % len(DRESS)]),
        )  # fmt: skip
        for i in range(series)
    ]
    used = set()
    designs = []
    for i in range(characters):
        s = i % series
        while True:
            design = (
                rng.choice(HAIR),
                rng.choice(EYES),
                rng.choice((*ACCESSORIES, None)),
                rng.choice((*HELD, None, None)),
                rng.choice(series_list[s].dress),
            )
            if design[:3] not in used:
                used.add(design[:3])
                break
        designs.append(CharacterDesign(f"character_{i:02d}_({series_list[s].tag})", s, *design))
    return artist_list, series_list, designs


def make_picture(post_id: int, seed: int, world) -> Picture:
    artists, series, designs = world
    rng = random.Random(f"{seed}:{post_id}")
    n_figures = rng.choices((1, 2, 3), weights=(65, 25, 10))[0]
    figures = []
    chosen_chars: set[int] = set()
    for _ in range(n_figures):
        if rng.random() < 0.55:
            c = rng.choices(range(len(designs)), weights=zipf(len(designs), 0.9))[0]
            if c in chosen_chars:
                c = None
        else:
            c = None
        if c is not None:
            chosen_chars.add(c)
            d = designs[c]
            s = series[d.series]
            figures.append(Figure(d.hair, d.eyes, d.accessory, d.held, d.dress, (s.emblem, s.emblem_colour), c))
        else:
            figures.append(
                Figure(
                    rng.choices(HAIR, weights=zipf(len(HAIR)))[0],
                    rng.choices(EYES, weights=zipf(len(EYES)))[0],
                    rng.choices((*ACCESSORIES, None), weights=(*zipf(len(ACCESSORIES), 1.2), 3.0))[0],
                    rng.choices((*HELD, None), weights=(*zipf(len(HELD), 1.2), 4.0))[0],
                    rng.choice(DRESS),
                )
            )
    picture = Picture(
        id=post_id,
        figures=figures,
        background=rng.choices(BACKGROUNDS, weights=zipf(len(BACKGROUNDS), 0.8))[0],
        background_kind=rng.choices(BACKGROUND_KINDS, weights=(6, 2, 1))[0],
        animal=rng.choices((*ANIMALS, None), weights=(1.0, 0.5, 0.3, 5.0))[0],
        artist=rng.choices(range(len(artists)), weights=zipf(len(artists), 0.7))[0],
        clutter=rng.choice((0, 0, 1, 2, 3)),
        occluders=rng.choices((0, 1, 2), weights=(70, 22, 8))[0],
        palette_shift=tuple(rng.randint(-18, 18) for _ in range(3)),
        brightness=rng.uniform(0.88, 1.12),
        jpeg_quality=rng.randint(45, 95),
        seed=rng.randrange(1 << 30),
    )
    _label(picture, rng, world)
    return picture


def _label(p: Picture, rng: random.Random, world) -> None:
    artists, series, designs = world
    vis: dict[str, str] = {}
    n = len(p.figures)
    vis[{1: "1girl", 2: "2girls"}.get(n, "multiple_girls")] = "general"
    if n == 1:
        vis["solo"] = "general"
    for f in p.figures:
        vis[f"{f.hair}_hair"] = "general"
        vis[f"{f.eyes}_eyes"] = "general"
        if f.accessory:
            vis[f.accessory] = "general"
        if f.held:
            vis[f"holding_{f.held}"] = "general"
        if f.character is not None:
            d = designs[f.character]
            vis[d.tag] = "character"
            vis[series[d.series].tag] = "copyright"
    if p.animal:
        vis[p.animal] = "general"
    vis[f"{p.background}_background"] = "general"
    vis[p.background_kind] = "general"
    vis[artists[p.artist].tag] = "artist"
    p.visible = dict(vis)
    # Booru label noise: ~10 % of visible general tags missing, a few posts with a wrong general tag.
    labels = {t: c for t, c in vis.items() if c != "general" or rng.random() >= 0.10}
    if rng.random() < 0.05:
        wrong = rng.choice(GENERAL_VOCAB)
        labels.setdefault(wrong, "general")
    p.labels = labels
    # Rating and popularity: visible content plus noise.
    latent = (
        1.4 * any(f.held == "sword" for f in p.figures)
        + 1.0 * any(f.accessory == "horns" for f in p.figures)
        + 0.8 * (p.background == "black")
        + 0.5 * (n >= 2)
        - 0.8 * any(f.accessory == "halo" for f in p.figures)
        - 0.6 * any(f.held == "flower" for f in p.figures)
    )
    p.rating_clean = _rating(latent)
    p.rating = _rating(latent + rng.gauss(0, 0.35))
    char_pop = sum(1.0 / (1 + f.character) ** 0.5 for f in p.figures if f.character is not None)
    p.score_clean = (
        1.5
        + 0.35 * n
        + 0.9 * char_pop
        + 0.5 * (p.animal is not None)
        + 0.3 * (p.background_kind != "simple_background")
    )
    log_score = p.score_clean + rng.gauss(0, 0.35)
    p.score = int(round(math.exp(log_score)))
    if rng.random() < 0.5:
        p.views = int(round(math.exp(log_score + 3.4 + rng.gauss(0, 0.2))))
        p.bookmarks = int(round(math.exp(log_score + 1.0 + rng.gauss(0, 0.2))))


def _rating(latent: float) -> str:
    return RATINGS[0 if latent < 0.7 else 1 if latent < 1.4 else 2 if latent < 2.1 else 3]


GENERAL_VOCAB = sorted(
    {f"{c}_hair" for c in HAIR}
    | {f"{c}_eyes" for c in EYES}
    | set(ACCESSORIES)
    | {f"holding_{h}" for h in HELD}
    | set(ANIMALS)
    | {f"{c}_background" for c in BACKGROUNDS}
    | set(BACKGROUND_KINDS)
    | {"1girl", "2girls", "multiple_girls", "solo"}
)

# ------------------------------------------------------------------------------------------------ drawing

SUPER = 2  # draw at 2x and downscale: anti-aliased edges, as illustrations have
_RENDERED: dict[tuple[int, int], bytes] = {}  # (post id, size) -> JPEG: every picture is drawn once per run


def _shift(rgb, p: Picture) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, (c + s) * p.brightness))) for c, s in zip(rgb, p.palette_shift, strict=True))


def render(p: Picture, world, size: int) -> bytes:
    """The post's JPEG at ``size`` px (drawn once, then served from the run's cache)."""
    key = (p.id, size)
    if key not in _RENDERED:
        _RENDERED[key] = _render(p, world, size)
    return _RENDERED[key]


def _render(p: Picture, world, size: int) -> bytes:
    from PIL import Image, ImageDraw

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


def _figure(f: Figure, artist: Artist, series, p: Picture, side: int, scale: float):
    """One figure on a transparent layer the size of the picture, centred (rotated and pasted by the caller)."""
    from PIL import Image, ImageDraw

    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    c = side / 2
    u = side * 0.36 * scale  # figure unit: head radius is 0.32 u
    ow = max(0, int(artist.outline * scale))
    oc = artist.outline_colour + (255,)

    def col(name):
        return _shift(COLOURS[name], p) + (255,)

    def shade(rgb, k=0.7):
        return tuple(int(v * k) for v in rgb[:3]) + (255,)

    # Body: a dress (trapezoid) below the head.
    top, bottom = c - 0.05 * u, c + 1.05 * u
    body = [(c - 0.35 * u, top), (c + 0.35 * u, top), (c + 0.6 * u, bottom), (c - 0.6 * u, bottom)]
    d.polygon(body, fill=col(f.dress), outline=oc if ow else None, width=ow)
    if artist.shading == "cel":
        d.polygon([(c, top), (c + 0.35 * u, top), (c + 0.6 * u, bottom), (c, bottom)], fill=shade(col(f.dress)))
    elif artist.shading == "hatch":
        for i in range(6):
            y = top + (i + 0.5) * (bottom - top) / 6
            d.line([(c - 0.3 * u, y), (c + 0.3 * u, y)], fill=shade(col(f.dress), 0.6), width=max(1, int(0.02 * u)))
    if f.emblem:
        _emblem(d, f.emblem[0], col(f.emblem[1]), c, c + 0.45 * u, 0.16 * u)
    # Head and hair.
    hr = 0.32 * u
    hy = c - 0.05 * u - hr * 0.95
    d.ellipse((c - hr, hy - hr, c + hr, hy + hr), fill=SKIN + (255,), outline=oc if ow else None, width=ow)
    hair = col(f.hair)
    d.pieslice((c - hr * 1.08, hy - hr * 1.12, c + hr * 1.08, hy + hr * 0.9), 180, 360, fill=hair)
    d.rectangle((c - hr * 1.08, hy - hr * 0.1, c - hr * 0.75, hy + hr * 1.2), fill=hair)
    d.rectangle((c + hr * 0.75, hy - hr * 0.1, c + hr * 1.08, hy + hr * 1.2), fill=hair)
    if artist.shading != "flat":
        d.pieslice((c, hy - hr * 1.12, c + hr * 1.08, hy + hr * 0.9), 270, 360, fill=shade(hair, 0.8))
    # Eyes: big, as drawn in illustrations.
    er = hr * 0.24
    for sx in (-0.42, 0.42):
        ex, ey = c + sx * hr, hy + hr * 0.25
        d.ellipse((ex - er, ey - er * 1.3, ex + er, ey + er * 1.3), fill=col(f.eyes), outline=(20, 20, 20, 255))
    acc = f.accessory
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
    # Held item at the right hand.
    hx, hy2 = c + 0.62 * u, c + 0.45 * u
    if f.held == "sword":
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
    elif f.held == "staff":
        d.line([(hx, hy2 + 0.5 * u), (hx, hy2 - 0.8 * u)], fill=(120, 70, 20, 255), width=max(3, int(0.06 * u)))
        d.ellipse((hx - 0.13 * u, hy2 - 1.0 * u, hx + 0.13 * u, hy2 - 0.74 * u), fill=(60, 200, 255, 255))
    elif f.held == "flower":
        for k in range(5):
            a = 2 * math.pi * k / 5
            px, py = hx + 0.1 * u * math.cos(a), hy2 - 0.25 * u + 0.1 * u * math.sin(a)
            d.ellipse((px - 0.07 * u, py - 0.07 * u, px + 0.07 * u, py + 0.07 * u), fill=(255, 120, 200, 255))
        d.ellipse((hx - 0.05 * u, hy2 - 0.3 * u, hx + 0.05 * u, hy2 - 0.2 * u), fill=(255, 230, 0, 255))
    elif f.held == "book":
        d.rectangle(
            (hx - 0.15 * u, hy2 - 0.2 * u, hx + 0.15 * u, hy2 + 0.2 * u),
            fill=(40, 90, 60, 255),
            outline=(240, 240, 220, 255),
            width=3,
        )
    return layer


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


# ------------------------------------------------------------------------------------------------ datasets


def write_split(version_dir: Path, split: str, pictures: list[Picture], world, size: int, features) -> int:
    import tensorflow as tf

    path = version_dir / f"acg_illustrations-{split}.tfrecord-00000-of-00001"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for p in pictures:
            by_cat: dict[str, list[str]] = {"general": [], "character": [], "copyright": [], "artist": []}
            for tag, cat in p.labels.items():
                by_cat[cat].append(tag)
            example = {
                "id": p.id,
                "md5": f"{p.id:032x}",
                "image": tf.io.decode_jpeg(render(p, world, size)).numpy(),
                "tags": sorted(by_cat["general"]),
                "characters": sorted(by_cat["character"]),
                "copyrights": sorted(by_cat["copyright"]),
                "artists": sorted(by_cat["artist"]),
                "rating": p.rating,
                "score": p.score,
                "pixiv_id": p.id if p.views >= 0 else -1,
                "pixiv_views": p.views,
                "pixiv_bookmarks": p.bookmarks,
                "pixiv_likes": -1,
                "pixiv_sanity_level": -1,
            }
            writer.write(features.serialize_example(example))
    return path.stat().st_size


def write_dataset(data_dir: Path, *, train: list[Picture], val: list[Picture], test: list[Picture], world,
                  size: int, min_images: int = 10) -> Path:  # fmt: skip
    """``data_dir/acg_illustrations/<size>/1.0.0`` in the TFDS format; the vocabulary from the training labels."""
    import tensorflow_datasets as tfds

    from acg2vec.datasets.acg_illustrations.schema import features_for_size

    version_dir = data_dir / "acg_illustrations" / str(size) / "1.0.0"
    version_dir.mkdir(parents=True, exist_ok=True)
    features = features_for_size(size)
    infos = []
    for split, pictures in (("train", train), ("validation", val), ("test", test)):
        nbytes = write_split(version_dir, split, pictures, world, size, features)
        infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[len(pictures)], num_bytes=nbytes))
    tfds.folder_dataset.write_metadata(
        data_dir=str(version_dir), features=features, split_infos=infos, version="1.0.0", check_data=False
    )
    counts: Counter = Counter()
    cats: dict[str, str] = {}
    for p in train:
        for tag, cat in p.labels.items():
            counts[tag] += 1
            cats[tag] = cat
    with open(version_dir / "selected_tags.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tag_id", "name", "category", "count"])
        kept = sorted((t for t, n in counts.items() if n >= min_images), key=lambda t: (-counts[t], t))
        for i, tag in enumerate(kept):
            w.writerow([i, tag, cats[tag], counts[tag]])
    return version_dir


# ------------------------------------------------------------------------------------------------ evaluation


def oracle_ceiling(test: list[Picture], data_dir: Path) -> dict:
    """Scores of an oracle that outputs exactly the drawn tags, against the noisy labels: the ceiling."""
    from acg2vec.evaluation.image_data import read_tag_info
    from acg2vec.evaluation.tagging_metrics import tagging_metrics

    version_dir = data_dir / "acg_illustrations"
    folder = next(version_dir.glob("*/1.0.0"))
    info = read_tag_info(str(folder))
    col = {t: i for i, t in enumerate(info.names)}
    y_true = np.zeros((len(test), len(info.names)), bool)
    y_score = np.zeros((len(test), len(info.names)), np.float32)
    for r, p in enumerate(test):
        for t in p.labels:
            if t in col:
                y_true[r, col[t]] = True
        for t in p.visible:
            if t in col:
                y_score[r, col[t]] = 1.0
    m = tagging_metrics(y_true, y_score, info, thresholds=np.full(len(info.names), 0.5))
    rating_acc = float(np.mean([p.rating == p.rating_clean for p in test]))
    from scipy.stats import spearmanr

    rho = float(spearmanr([p.score_clean for p in test], [p.score for p in test]).statistic)
    return {
        "micro_f1_at_p_eq_r": m["overall"]["model"]["micro_f1_at_p_eq_r"],
        "macro_map": m["overall"]["model"]["macro_map"],
        "rating_accuracy": rating_acc,
        "score_spearman": rho,
    }


def deepix_heads(model_dir: str, test: list[Picture], world, size: int) -> dict:
    import tensorflow as tf
    from scipy.stats import spearmanr

    loaded = tf.saved_model.load(model_dir)
    heads = loaded.signatures["heads"]
    ratings, pops = [], []
    for start in range(0, len(test), 64):
        chunk = [render(p, world, size) for p in test[start : start + 64]]
        out = heads(image_bytes=tf.constant(chunk))
        ratings.append(out["rating"].numpy())
        pops.append(out["popularity"].numpy())
    rating_pred = np.concatenate(ratings).argmax(axis=1)
    score_pred = np.concatenate(pops)[:, 0]
    truth = np.array([RATINGS.index(p.rating) for p in test])
    majority = Counter(truth.tolist()).most_common(1)[0][0]
    scores = np.array([p.score for p in test], dtype=np.float64)
    return {
        "rating_accuracy": float(np.mean(rating_pred == truth)),
        "rating_majority_baseline": float(np.mean(truth == majority)),
        "score_spearman": float(spearmanr(score_pred, scores).statistic),
        "score_mean_baseline_spearman": 0.0,  # a constant prediction ranks nothing
    }


def retrieval(i2v_dir: str, data_dir: Path, test: list[Picture], seed: int) -> dict:
    """mAP@10 / precision@10 where relevant = shares a character or copyright tag; queries: such images."""
    from acg2vec.evaluation.image_data import read_images
    from acg2vec.evaluation.image_retrieval import colour_histograms, retrieval_at_k
    from acg2vec.trainers.image.image_model import load_image_model

    records = read_images(str(data_dir / "acg_illustrations"), split="test")
    keys = [{t for t in labels if t.startswith(("character_", "series_"))} for labels in records.labels]
    keep = np.array([bool(k) for k in keys])
    keys = [k for k, ok in zip(keys, keep, strict=True) if ok]
    images = [b for b, ok in zip(records.images, keep, strict=True) if ok]
    n = len(images)
    rel = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(n):
            rel[i, j] = i != j and bool(keys[i] & keys[j])
    model = load_image_model(i2v_dir)
    vectors = np.concatenate([model.embed(images[s : s + 64]) for s in range(0, n, 64)])
    hist, _ = colour_histograms(images, bins=8)
    rand = np.random.default_rng(seed).normal(size=(n, 64)).astype(np.float32)
    out = {"queries": n, "relevant_share": float(rel.sum() / max(n * (n - 1), 1))}
    for name, vec in (("illust2vec", vectors), ("colour histogram", hist), ("random", rand)):
        r = retrieval_at_k(vec, rel, k=10)
        out[name] = {"map_at_10": r["map_at_k"], "precision_at_10": r["precision_at_k"]}
    return out


# ------------------------------------------------------------------------------------------------ training


def train_model(name: str, data_dir: Path, models_dir: Path, *, size: int, epochs: int, batch: int,
                options: dict, lr: float, extra: dict | None = None) -> dict:  # fmt: skip
    from acg2vec.trainers.image.train import TrainConfig, train

    model_dir = models_dir / name
    shutil.rmtree(model_dir, ignore_errors=True)
    config = TrainConfig(
        model=name if name != "alt_i2v" else "alt_i2v",
        data_dir=str(data_dir),
        dataset=f"acg_illustrations/{size}",
        model_dir=str(model_dir),
        image_size=size,
        batch_size=batch,
        epochs=epochs,
        learning_rate=lr,
        top_tags=None,
        patience=epochs,
        crop_scale=(1.0, 1.0),
        colour_jitter=0.0,
        deterministic=True,
        model_options=options,
        illust2vec_dir=str(models_dir / "illust2vec") if name == "deepix" else None,
        **(extra or {}),
    )
    start = time.perf_counter()
    result = train(config)
    m = result.metrics
    return {
        "train_seconds": time.perf_counter() - start,
        # deepix's total loss adds its rating and popularity heads; its tag loss is the one to compare.
        "final_loss": m["history"].get("tags_loss", m["history"]["loss"])[-1],
        "constant_predictor_loss": m["constant_predictor_loss"],
        "val_macro_map": m.get("val_macro_map"),
    }


def tagger_figures(model_dir: str, data_dir: Path) -> dict:
    from acg2vec.evaluation.tagger import evaluate_tagger

    m = evaluate_tagger(model_dir, str(data_dir / "acg_illustrations"), None, split="test")
    out = {}
    for who in ("model", "baseline"):
        o = m["overall"][who]
        out[who] = {"micro_f1_at_p_eq_r": o["micro_f1_at_p_eq_r"], "macro_map": o["macro_map"]}
    out["per_category"] = {
        c: {w: {"micro_f1_at_p_eq_r": g[w]["micro_f1_at_p_eq_r"], "macro_map": g[w]["macro_map"]} for w in ("model", "baseline")}
        for c, g in m["per_category"].items()
    }  # fmt: skip
    out["test_images"] = m["images"]
    return out


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 20000], help="training posts")
    parser.add_argument("--val", type=int, default=400)
    parser.add_argument("--test", type=int, default=800)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the taggers at every size")
    parser.add_argument("--deepix-epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", nargs="+", default=["deepdanbooru", "alt_i2v", "deepix"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/image-quality")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULTS_JSON",
        help="Only combine the results.json of earlier runs (same world and test split, other sizes) into one "
        "report and plot under --out.",
    )
    args = parser.parse_args()
    if args.merge:
        merged = merge_results([json.loads(Path(p).read_text()) for p in args.merge])
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "results.json").write_text(json.dumps(merged, indent=2, default=float))
        plot(merged, Path(args.out) / "learning_curve.png")
        (Path(args.out) / "report.md").write_text(report(merged))
        print(report(merged))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("tensorflow", "absl", "acg2vec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    world = make_world(args.seed)
    # One validation and test set for every size, drawn from their own id ranges, so the curve compares like with like.
    val = [make_picture(10_000_000 + i, args.seed, world) for i in range(args.val)]
    test = [make_picture(20_000_000 + i, args.seed, world) for i in range(args.test)]
    pool = [make_picture(i + 1, args.seed, world) for i in range(max(args.sizes))]
    results: dict = {"args": vars(args), "load_at_start": os.getloadavg(), "sizes": {}}
    size = args.image_size
    dd_options = {"version": "v4", "width": 1 / 4, "depth": 0.05, "bn_momentum": 0.9, "head_batch_norm": False}
    for n in sorted(args.sizes):
        t0 = time.perf_counter()
        data_dir = out / f"n{n}" / "datasets"
        shutil.rmtree(data_dir, ignore_errors=True)
        write_dataset(data_dir, train=pool[:n], val=val, test=test, world=world, size=size)
        row: dict = {"write_seconds": time.perf_counter() - t0}
        if "ceiling" not in results:
            results["ceiling"] = oracle_ceiling(test, data_dir)
            results["test_split"] = _split_stats(test)
            log.info("ceiling %s", results["ceiling"])
        models_dir = out / f"n{n}" / "models"
        if "deepdanbooru" in args.models or "deepix" in args.models:
            row["deepdanbooru"] = train_model("deepdanbooru", data_dir, models_dir, size=size, epochs=args.epochs,
                                              batch=args.batch_size, options=dd_options, lr=3e-3)  # fmt: skip
            row["deepdanbooru"].update(tagger_figures(str(models_dir / "deepdanbooru"), data_dir))
            log.info("n=%d deepdanbooru %s", n, _brief(row["deepdanbooru"]))
        if "alt_i2v" in args.models:
            row["alt_i2v"] = train_model("alt_i2v", data_dir, models_dir, size=size, epochs=args.epochs,
                                         batch=args.batch_size, options={"width": 1 / 8, "hidden": 256}, lr=3e-3)  # fmt: skip
            row["alt_i2v"].update(tagger_figures(str(models_dir / "alt_i2v"), data_dir))
            log.info("n=%d alt_i2v %s", n, _brief(row["alt_i2v"]))
        if "deepix" in args.models:
            options = {
                "init_from": str(models_dir / "deepdanbooru" / "model.keras"),
                "encoder_layer": _last_activation(models_dir / "deepdanbooru" / "model.keras"),
                "head_filters": 64,
                "encoder_learning_rate": 3e-4,
            }
            row["deepix"] = train_model("deepix", data_dir, models_dir, size=size, epochs=args.deepix_epochs,
                                        batch=args.batch_size, options=options, lr=3e-3)  # fmt: skip
            row["deepix"].update(tagger_figures(str(models_dir / "deepix"), data_dir))
            # An evaluation that fails is reported, not allowed to end the run: the other figures still count.
            row["deepix"]["heads"] = _guarded(deepix_heads, str(models_dir / "deepix"), test, world, size)
            row["illust2vec"] = _guarded(retrieval, str(models_dir / "illust2vec"), data_dir, test, args.seed)
            log.info("n=%d deepix %s heads %s", n, _brief(row["deepix"]), row["deepix"]["heads"])
            log.info("n=%d illust2vec %s", n, row["illust2vec"])
        row["seconds"] = time.perf_counter() - t0
        row["load"] = os.getloadavg()
        results["sizes"][n] = row
        (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    plot(results, out / "learning_curve.png")
    (out / "report.md").write_text(report(results))
    print(report(results))


def merge_results(runs: list[dict]) -> dict:
    """One results dict from runs of the same world and test split at different sizes (the first run's header)."""
    # The ceiling is scored over the vocabulary of the run's smallest size; the largest run's covers most tags.
    largest = max(runs, key=lambda r: max(int(n) for n in r["sizes"]))
    merged = {**largest, "sizes": {}, "runs": [r["args"] for r in runs]}
    merged["ceilings_by_run"] = {str(min(int(n) for n in r["sizes"])): r["ceiling"] for r in runs}
    for run in runs:
        if run["test_split"]["images"] != largest["test_split"]["images"]:
            raise SystemExit("the runs to merge have different test splits.")
        merged["sizes"].update({str(n): row for n, row in run["sizes"].items()})
    return merged


def _guarded(fn, *args) -> dict:
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - the benchmark reports the failure and goes on
        log.exception("%s failed", fn.__name__)
        return {"error": f"{type(err).__name__}: {err}"}


def _split_stats(test: list[Picture]) -> dict:
    counts = Counter(t for p in test for t in p.labels)
    return {"images": len(test), "positives_per_tag_median": float(np.median(list(counts.values()))),
            "positives_per_tag_min": min(counts.values()), "tags": len(counts)}  # fmt: skip


def _last_activation(keras_file: Path) -> str:
    """The deepix cut: the last activation of the trunk before the tag head (the deepest shared features)."""
    import keras

    model = keras.models.load_model(str(keras_file), compile=False)
    names = [layer.name for layer in model.layers if layer.name.startswith("activation")]
    return names[-1]


def _brief(row: dict) -> str:
    m, b = row["model"], row["baseline"]
    return (
        f"micro-F1@P=R {m['micro_f1_at_p_eq_r']:.3f} (baseline {b['micro_f1_at_p_eq_r']:.3f}), "
        f"macro mAP {m['macro_map']:.3f} (baseline {b['macro_map']:.3f}), loss {row['final_loss']:.3f} "
        f"(constant {row['constant_predictor_loss']:.3f}), {row['train_seconds']:.0f} s"
    )


def _size_ticks(ax, sizes: list[int]) -> None:
    """One labelled tick per measured size on the log axis, none in between."""
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(n) for n in results["sizes"])
    rows = [results["sizes"][n] if n in results["sizes"] else results["sizes"][str(n)] for n in sizes]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for key, ax, title in (
        ("micro_f1_at_p_eq_r", axes[0], "tagger micro-F1 @P=R"),
        ("macro_map", axes[1], "macro mAP"),
    ):
        for model in ("deepdanbooru", "alt_i2v", "deepix"):
            ys = [r[model]["model"][key] for r in rows if model in r]
            if ys:
                ax.plot(sizes[: len(ys)], ys, marker="o", label=model)
        base = [r["deepdanbooru"]["baseline"][key] for r in rows if "deepdanbooru" in r]
        ax.plot(sizes[: len(base)], base, "k--", label="tag frequency")
        ax.axhline(results["ceiling"][key], color="grey", linestyle=":", label="ceiling (oracle)")
        ax.set(title=title, xlabel="training posts", xscale="log")
        _size_ticks(ax, sizes)
        ax.legend(fontsize=7)
    ax = axes[2]
    for name in ("illust2vec", "colour histogram", "random"):
        ys = [r["illust2vec"][name]["map_at_10"] for r in rows if name in r.get("illust2vec", {})]
        if ys:
            ax.plot(sizes[: len(ys)], ys, marker="o", label=name)
    ax.set(title="retrieval mAP@10 (same character / copyright)", xlabel="training posts", xscale="log")
    _size_ticks(ax, sizes)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(results: dict) -> str:
    c = results["ceiling"]
    lines = [
        "# Image learnability benchmark",
        "",
        f"Test split: {results['test_split']}. Ceiling (oracle of drawn tags vs noisy labels): micro-F1@P=R "
        f"{c['micro_f1_at_p_eq_r']:.3f}, macro mAP {c['macro_map']:.3f}, rating accuracy {c['rating_accuracy']:.3f}, "
        f"score Spearman {c['score_spearman']:.3f}.",
        "",
        "| posts | model | micro-F1@P=R (baseline) | macro mAP (baseline) | character mAP (baseline) | copyright mAP (baseline) | artist mAP (baseline) | final loss (constant) | train s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, row in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        for model in ("deepdanbooru", "alt_i2v", "deepix"):
            if model not in row:
                continue
            r = row[model]
            cats = r["per_category"]

            def cat(name, cats=cats):
                g = cats.get(name)
                return f"{g['model']['macro_map']:.3f} ({g['baseline']['macro_map']:.3f})" if g else "-"

            lines.append(
                f"| {n} | {model} | {r['model']['micro_f1_at_p_eq_r']:.3f} ({r['baseline']['micro_f1_at_p_eq_r']:.3f}) "
                f"| {r['model']['macro_map']:.3f} ({r['baseline']['macro_map']:.3f}) | {cat('character')} "
                f"| {cat('copyright')} | {cat('artist')} | {r['final_loss']:.3f} ({r['constant_predictor_loss']:.3f}) "
                f"| {r['train_seconds']:.0f} |"
            )
    lines += [
        "",
        "Final loss: the mean tag BCE on training batches (deepix rows measured before it was split out "
        "report the sum of its three heads' losses), beside the constant predictor's.",
    ]
    lines += ["", "| posts | deepix rating acc (majority) | score Spearman (mean: 0) | illust2vec mAP@10 | colour hist | random |",
              "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for n, row in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        if "deepix" not in row:
            continue
        h, i = row["deepix"]["heads"], row["illust2vec"]
        if "error" in h or "error" in i:
            lines.append(f"| {n} | {h.get('error', '')} | | {i.get('error', '')} | | |")
            continue
        lines.append(
            f"| {n} | {h['rating_accuracy']:.3f} ({h['rating_majority_baseline']:.3f}) | {h['score_spearman']:.3f} "
            f"| {i['illust2vec']['map_at_10']:.3f} | {i['colour histogram']['map_at_10']:.3f} | {i['random']['map_at_10']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
