"""The picture world: illustrations whose tags are what the picture shows, with a known ceiling.

Figures with hair and eye colours, accessories, held items, animals, backgrounds, one to three figures, under the
nuisances real illustrations have (position, scale, rotation, partial occlusion, clutter, palette shifts, JPEG
quality). Characters are fixed combinations of visible attributes, copyrights are style families (an emblem and
a dress palette the series' characters share), artists are drawing styles (outline width and colour, shading).
Tag frequencies are long-tailed (Zipf-like), about 10 % of visible general tags are missing from a post and a
few posts carry a wrong tag (both rates are arguments of :func:`make_picture`; the truth is
:attr:`Picture.missing_tags` and :attr:`Picture.wrong_tags`), and :func:`make_reupload` plants near-duplicate
uploads (re-encoded, resized, cropped or recoloured: :mod:`acg2vec.sample_site.reuploads`); ratings and popularity follow visible content plus noise. Each :class:`Picture`
keeps what it draws (``visible``, ``rating_clean``, ``score_clean``) beside its noisy labels, so a benchmark can
score an oracle. ``picture_drawing.draw_picture`` renders one as a JPEG.

The learnability benchmark (``benchmarks/image_quality.py``) trains on this world. It is a second world beside
``world.py`` on purpose: the sample site's posts are shapes on a grid whose every pixel is a tag (so a crawl and a
build can be checked exactly), these are figures whose tags must be learned through nuisance.

    world = make_world(seed=0)
    pictures = [make_picture(post_id, seed=0, world=world) for post_id in range(1, 101)]
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import NamedTuple

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
    duplicate_of: int | None = None  # a re-upload: the id of the picture it copies
    reupload: str | None = None  # and how it was changed (a kind of acg2vec.sample_site.reuploads)

    @property
    def missing_tags(self) -> set[str]:
        """Visible general tags the post's labels lack (the planted missing tags)."""
        return {t for t, c in self.visible.items() if c == "general" and t not in self.labels}

    @property
    def wrong_tags(self) -> set[str]:
        """Labels the picture does not show (the planted wrong tags)."""
        return {t for t in self.labels if t not in self.visible}


class PictureWorld(NamedTuple):
    """The fixed cast of a world: drawing styles, series and character designs (unpacks as a 3-tuple)."""

    artists: list[Artist]
    series: list[Series]
    designs: list[CharacterDesign]


def make_world(seed: int = 0, *, characters: int = 24, series: int = 6, artists: int = 12) -> PictureWorld:
    """The world's cast; the same for the same arguments."""
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
    return PictureWorld(artist_list, series_list, designs)


def make_picture(
    post_id: int, seed: int, world: PictureWorld, *, missing_rate: float = 0.10, wrong_rate: float = 0.05
) -> Picture:
    """Post ``post_id``'s picture and labels; the same for the same id, seed, world and rates.

    ``missing_rate``: the chance that a visible general tag is missing from the labels; ``wrong_rate``: the chance
    that the post carries one general tag it does not show."""
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
    _label(picture, rng, world, missing_rate, wrong_rate)
    return picture


def make_reupload(original: Picture, post_id: int, kind: str) -> Picture:
    """Post ``post_id``: ``original`` uploaded again as a re-upload of ``kind`` (the same drawing and labels; the
    drawing changes it when it is drawn, see :func:`acg2vec.sample_site.picture_drawing.draw_picture`)."""
    from acg2vec.sample_site.reuploads import REUPLOAD_KINDS

    if kind not in REUPLOAD_KINDS:
        raise ValueError(f"unknown re-upload kind {kind!r}; expected one of {REUPLOAD_KINDS}")
    copy = replace(original, id=post_id, duplicate_of=original.id, reupload=kind)
    copy.visible, copy.labels = dict(original.visible), dict(original.labels)
    return copy


def _label(p: Picture, rng: random.Random, world: PictureWorld, missing_rate: float, wrong_rate: float) -> None:
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
    labels = {t: c for t, c in vis.items() if c != "general" or rng.random() >= missing_rate}
    if rng.random() < wrong_rate:
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
