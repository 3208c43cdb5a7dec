"""Fitted models on disk: skops files (no arbitrary code runs on load) beside a JSON model card."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.metadata import version

import skops.io as sio
from upath import UPath

from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.storage import atomically, write_bytes

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
"""Types from these packages may be loaded from a model file; anything else is refused."""


@dataclass
class SavedModel:
    """A fitted estimator and its card: features, classes, metrics, provenance."""

    model: object
    card: dict = field(default_factory=dict)


LIBRARIES = ("scikit-learn", "skops", "numpy", "pandas")
"""The libraries every model card names the versions of."""


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The installed versions of `LIBRARIES` and of `extra` (the card's own model's libraries)."""
    return {name: version(name) for name in (*LIBRARIES, *extra)}


def card_path(path: UPath) -> UPath:
    return path.with_suffix(".json")


def save_model(saved: SavedModel, path: UPath) -> None:
    """Write `<name>.skops` and `<name>.json`, each atomically."""
    atomically(path, lambda local: sio.dump(saved.model, local))
    card = {**saved.card, "library_versions": library_versions()}
    write_bytes(json.dumps(card, indent=2, default=str).encode(), card_path(path))


def load_model(path: UPath) -> SavedModel:
    """Load a model saved by `save_model`, refusing types outside `TRUSTED_PREFIXES`."""
    if not path.exists():
        raise InputError(path, "no saved model; materialise it first (rfm-pipeline run)")
    data = path.read_bytes()
    untrusted = sio.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise InputError(path, "the model file holds types that are not trusted", values=refused)
    model = sio.loads(data, trusted=untrusted)
    card = json.loads(card_path(path).read_text()) if card_path(path).exists() else {}
    return SavedModel(model, card)
