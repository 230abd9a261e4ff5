"""`python -m certificates.render`: find the certificate fonts and convert what needs it.

Run at install time so that the first certificate does not wait for the one-off conversion
of the Song faces (about a minute); prints the font files the renderer will use.
"""

from __future__ import annotations

from .fonts import FontSet

if __name__ == "__main__":
    for font in FontSet.discover().all_fonts():
        print(font.path)
