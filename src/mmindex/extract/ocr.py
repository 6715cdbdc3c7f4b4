"""Figure text: the words printed in an item's images, read by Debian's ``tesseract`` (OCR).

Optional (setting ``ocr``, off by default). Each image is decoded with PIL, re-encoded as PNG and
piped to a real ``tesseract stdin stdout -l <ocr_languages> --psm 6`` process, one per image,
with a wall-clock limit (``ocr_timeout_s``) and one OpenMP thread (``OMP_THREAD_LIMIT=1``: the
pipeline runs several images side by side instead; tesseract's own threads only fight over the
same cores). Its output is whitespace-normalised and cut at :data:`MAX_CHARS` characters.

What is whose fault:

- tesseract not installed, or a language pack missing: the system's. :meth:`Ocr.check` runs at
  plan time and fails the run at once with the ``apt-get install`` line (a ``ConfigError``);
  quarantining every image item for it would only hide the cause.
- an image PIL cannot decode: ``corrupt_media``; tesseract exiting non-zero or running past the
  timeout: ``ocr_failed``. Both are the item's: it is quarantined, the run goes on.

tesseract dies with the thread that started it (``PR_SET_PDEATHSIG``, set by ``setpriv`` or a
``prctl`` before exec): killing the worker, even with SIGKILL, leaves no OCR process behind.
"""

from __future__ import annotations

import ctypes
import functools
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from mmindex.errors import ConfigError, ItemError

MAX_CHARS = 20_000  # per image: a page of dense text is ~3-5k; longer output is noise
# page segmentation "one uniform block of text": tesseract's default (3, automatic layout) read
# nothing at all from 4 of 6 rendered one- and two-line Korean images (NanumGothic 20/28/40 px),
# 6 read all six (one word wrong at 40 px)
PSM = 6
INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-kor tesseract-ocr-eng"
LANGUAGES = re.compile(r"[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*")
_SPACE = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class Ocr:
    """A tesseract configuration; :meth:`read` OCRs one encoded image."""

    languages: str = "kor+eng"
    timeout_s: float = 60.0
    binary: str = "tesseract"

    def __post_init__(self) -> None:
        if not LANGUAGES.fullmatch(self.languages):
            raise ConfigError(f"ocr_languages={self.languages!r}: not tesseract language codes. "
                              "Help: e.g. 'kor+eng' (see `tesseract --list-langs`).")

    def check(self) -> str:
        """Fail fast when tesseract or a language is missing; returns tesseract's version.

        Raises:
            ConfigError: tesseract is not on PATH, or ``languages`` names one it does not have.
        """
        version, have = _installed(self.binary)
        missing = [x for x in self.languages.split("+") if x not in have]
        if missing:
            raise ConfigError(
                f"ocr is on but tesseract ({version}) has no language data for "
                f"{', '.join(missing)} (it has {', '.join(sorted(have)) or 'none'}). "
                f"Help: {INSTALL_HINT} (Debian: tesseract-ocr-<code>), or set ocr_languages.")
        return version

    def fingerprint(self) -> dict[str, str | int]:
        """What changes the OCR text: hashed into every item, so changing it re-embeds."""
        return {"engine": self.check(), "languages": self.languages, "psm": PSM}

    def read(self, data: bytes, ref: str = "image", item_id: str | None = None) -> str:
        """The text tesseract finds in one encoded image ("" when it finds none).

        Raises:
            ItemError: ``corrupt_media`` (PIL cannot decode it) or ``ocr_failed`` (tesseract
                failed or ran past ``timeout_s``).
            ConfigError: tesseract disappeared since :meth:`check`.
        """
        png = _as_png(data, ref, item_id)
        cmd = [self.binary, "stdin", "stdout", "-l", self.languages, "--psm", str(PSM)]
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        cmd, preexec = _dying_with_parent(cmd)
        try:
            out = subprocess.run(cmd, input=png, capture_output=True, timeout=self.timeout_s,
                                 env=env, check=False, preexec_fn=preexec)
        except FileNotFoundError:
            raise ConfigError(f"ocr is on but {self.binary!r} is not installed here. "
                              f"Help: {INSTALL_HINT}, or set ocr = false.") from None
        except subprocess.TimeoutExpired:  # run() has killed the process
            raise ItemError("ocr_failed", f"{ref}: tesseract took longer than ocr_timeout_s="
                            f"{self.timeout_s:g} s", item_id) from None
        if out.returncode != 0:
            why = out.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise ItemError("ocr_failed", f"{ref}: tesseract exited with {out.returncode} "
                            f"({why[0][:200]})", item_id)
        return normalise(out.stdout.decode("utf-8", "replace"))


PR_SET_PDEATHSIG = 1


def _dying_with_parent(cmd: list[str]) -> tuple[list[str], Any]:
    """``cmd`` and a ``preexec_fn`` such that the child gets SIGKILL when the thread that
    started it dies: through util-linux's ``setpriv --pdeathsig`` where it is (Debian always has
    it; nothing then runs in the forked child, and no at-fork hook: LanceDB warns on every
    fork), else a ``preexec_fn`` calling ``prctl``."""
    setpriv = _setpriv()
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--", *cmd], None
    return cmd, _dies_with_parent()


@functools.cache
def _setpriv() -> str | None:
    found = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if found is None:
        return None
    try:
        usage = subprocess.run([found, "--help"], capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return found if b"--pdeathsig" in usage else None


def _dies_with_parent() -> Any:
    """A ``preexec_fn`` that makes the child get SIGKILL when the thread that started it dies
    (Linux ``prctl(PR_SET_PDEATHSIG)``); None elsewhere. A tesseract started by a process that
    was killed kept running (seen 150 s later). The child only calls into libc."""
    prctl, parent = _prctl(), os.getpid()
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


@functools.cache
def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes, prctl.restype = [ctypes.c_int, ctypes.c_ulong], ctypes.c_int
    return prctl


def normalise(text: str) -> str:
    """One space between words, one newline between lines, no blank lines, at most MAX_CHARS."""
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)[:MAX_CHARS]


def with_ocr_text(text: str, ocr_texts: list[str]) -> str:
    """The text a model reads: the item's text, then each image's OCR text, blank-line apart."""
    return "\n\n".join(t for t in (text, *ocr_texts) if t.strip())


def _as_png(data: bytes, ref: str, item_id: str | None) -> bytes:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode not in ("1", "L", "RGB"):
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            if img.mode == "RGBA":  # transparent pixels on white, as a page prints them
                page = Image.new("RGB", img.size, "white")
                page.paste(img, mask=img.getchannel("A"))
                img = page
            buf = io.BytesIO()
            img.save(buf, format="PNG", compress_level=1)
            return buf.getvalue()
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError on broken data
        raise ItemError("corrupt_media", f"{ref}: cannot decode the image for OCR ({exc})",
                        item_id) from None


@functools.cache
def _installed(binary: str) -> tuple[str, frozenset[str]]:
    """tesseract's version line and its languages (asked once per process)."""
    if shutil.which(binary) is None:
        raise ConfigError(f"ocr is on but {binary!r} is not installed here. "
                          f"Help: {INSTALL_HINT}, or set ocr = false.")
    try:
        ver = subprocess.run([binary, "--version"], capture_output=True, timeout=30, check=True)
        langs = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=30,
                               check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"ocr is on but {binary!r} does not run ({exc}). "
                          f"Help: {INSTALL_HINT}, or set ocr = false.") from None
    first = (ver.stdout or ver.stderr).decode("utf-8", "replace").strip().splitlines()
    names = langs.stdout.decode("utf-8", "replace").splitlines()[1:]  # after "List of ..."
    return (first[0] if first else binary), frozenset(n.strip() for n in names if n.strip())
