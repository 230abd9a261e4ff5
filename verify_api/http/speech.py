"""Spoken answers for browsers without a voice: the citizen page's text as a WAV file.

The citizen page reads its verdict aloud with the browser's own speech synthesis where the
browser has a voice for the page's language; many phones and desktop Linux browsers have
none for Mandarin. For those the page plays this audio, made by ``espeak-ng`` (a Debian
package) on the server. The text holds the holder's name, so nothing of it is logged, and
the answer is never cached by intermediaries.
"""

from __future__ import annotations

import shutil
import struct
import subprocess

__all__ = ["SpeechUnavailable", "synthesize"]

# espeak-ng voices: Mandarin (its "latin as English" variant, for the certificate numbers) and
# English. Rate in words per minute: slower than the default 175, for elderly listeners.
_VOICES = {"zh": "cmn", "en": "en"}
_RATE = "140"
_TIMEOUT_S = 10.0
_MAX_TEXT = 2000
_MAX_WAV = 16 * 1024 * 1024


class SpeechUnavailable(Exception):
    """The audio cannot be made here; the message says why (never the text)."""


def synthesize(text: str, lang: str) -> bytes:
    """WAV audio of ``text`` spoken in ``lang`` ("zh" or "en").

    :raises SpeechUnavailable: espeak-ng is missing, failed or took too long.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechUnavailable("espeak-ng is not installed on the server")
    try:
        # A fixed argument list; the text goes in on stdin, never through a shell.
        done = subprocess.run(  # noqa: S603
            [exe, "-v", _VOICES[lang], "-s", _RATE, "--stdout"],
            input=text[:_MAX_TEXT].encode("utf-8"),
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SpeechUnavailable("speech synthesis took too long") from None
    wav = done.stdout
    if done.returncode != 0 or len(wav) < 44 or not wav.startswith(b"RIFF"):
        raise SpeechUnavailable(f"speech synthesis failed (exit {done.returncode})")
    if len(wav) > _MAX_WAV:
        raise SpeechUnavailable("the spoken answer is too long")
    return _with_sizes(wav)


def _with_sizes(wav: bytes) -> bytes:
    """espeak-ng streaming to stdout cannot seek back, so it leaves the RIFF and data sizes
    at a placeholder; some players then refuse the file or never show its length."""
    data = wav.find(b"data", 12)
    if data < 0:
        return wav
    out = bytearray(wav)
    out[4:8] = struct.pack("<I", len(wav) - 8)
    out[data + 4 : data + 8] = struct.pack("<I", len(wav) - data - 8)
    return bytes(out)
