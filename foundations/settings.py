"""The two settings every expensive page runs in: ``default`` (the build, on two CPU cores) and ``full``.

Lesson 11, "The data block API" (lessons/11_data_block), introduces them with Imagenette: the build
trains small models on 64-pixel images for a few epochs, so that every page executes in minutes on
a laptop; ``FOUNDATIONS_SETTING=full`` runs the same pages with the course's sizes (128 pixels, the
course's models and epochs) to reproduce its numbers on a GPU. Both are the same code: a page asks
:func:`by_setting` for each number that differs.
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["SETTINGS", "SETTING_ENV", "by_setting", "current_setting"]

SETTING_ENV = "FOUNDATIONS_SETTING"
"""The environment variable that chooses the setting: unset, empty or ``default``, or ``full``.
Derived in Lesson 11, "The data block API" (lessons/11_data_block)."""

SETTINGS: tuple[str, ...] = ("default", "full")
"""The settings, the build's first. Derived in Lesson 11, "The data block API" (lessons/11_data_block)."""

T = TypeVar("T")


def current_setting() -> str:
    """``"default"`` or ``"full"``, from ``$FOUNDATIONS_SETTING`` (unset or empty: ``"default"``).

    Any other value raises ``ValueError`` naming the two accepted ones, so that a typo such as
    ``FOUNDATIONS_SETTING=ful`` never quietly runs the small setting.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    value = os.environ.get(SETTING_ENV, "").strip()
    if value == "":
        return "default"
    if value not in SETTINGS:
        raise ValueError(f"{SETTING_ENV}: expected 'default' or 'full' (or unset), got {value!r}")
    return value


def by_setting(default: T, full: T) -> T:
    """``default`` in the default setting, ``full`` in the full one (see :func:`current_setting`).

    >>> by_setting(default=64, full=128) in (64, 128)
    True

    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    return full if current_setting() == "full" else default
