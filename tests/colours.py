"""Colour arithmetic for tests of the palette: WCAG 2 contrast, CIE Lab distance, and how a
colour looks with a colour-vision deficiency (Machado, Oliveira & Fernandes 2009, severity
1.0, applied to linear sRGB as DaltonLens does)."""

from __future__ import annotations

import math

RGB = tuple[float, float, float]

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
DARK_PAGE: RGB = (18, 18, 18)  # Chromium's dark Canvas

_DEFICIENCIES = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}
VISIONS = ("normal", *_DEFICIENCIES)


def rgb(hex_colour: str) -> RGB:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def _linear(channel: float) -> float:
    channel /= 255
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def _encoded(value: float) -> float:
    value = min(max(value, 0.0), 1.0)
    return 255 * (12.92 * value if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055)


def luminance(colour: RGB) -> float:
    r, g, b = map(_linear, colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG 2's contrast ratio, 1 to 21."""
    lighter, darker = sorted((luminance(a), luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def seen_with(vision: str, colour: RGB) -> RGB:
    if vision == "normal":
        return colour
    linear = [_linear(c) for c in colour]
    return tuple(
        _encoded(sum(m * c for m, c in zip(row, linear, strict=True))) for row in _DEFICIENCIES[vision]
    )


def _lab(colour: RGB) -> tuple[float, float, float]:
    r, g, b = map(_linear, colour)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def distance(a: RGB, b: RGB) -> float:
    """CIE76 ΔE: about 2.3 is just noticeable; 20 and more, different colours at a glance."""
    return math.dist(_lab(a), _lab(b))
