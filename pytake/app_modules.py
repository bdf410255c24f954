"""The modules apps contribute by convention: ``listeners``, ``tasks``, ``demo``, websocket routes."""

from __future__ import annotations

import importlib
from types import ModuleType

from django.apps import apps


def import_if_present(name: str) -> ModuleType | None:
    """Import ``name``, or ``None`` when that module does not exist.

    An import error raised inside the module (a missing dependency, a typo) still raises.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None


def app_submodules(submodule: str) -> list[ModuleType]:
    """Every installed app's ``<app>.<submodule>`` that exists, in ``INSTALLED_APPS`` order."""
    found = (import_if_present(f"{config.name}.{submodule}") for config in apps.get_app_configs())
    return [module for module in found if module is not None]
