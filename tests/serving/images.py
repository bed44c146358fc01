"""Awkward uploads for the server's tests: the odd-image zoo of ``tests/test_imaging.py``."""

from tests.test_imaging import animated_gif, cmyk_jpeg, grey16_png, palette_png, png_bomb, truncated_jpeg

__all__ = ["animated_gif", "cmyk_jpeg", "grey16_png", "palette_png", "png_bomb", "truncated_jpeg"]
