"""Hub references inside a checkpoint, resolved to local directories before anything loads.

A VLA checkpoint names other models by Hugging Face Hub id: SmolVLA's ``vlm_model_name``
(the backbone's config and processor) in ``config.json``, and the tokenizer of its
``tokenizer_processor`` step (pi0/pi0.5: ``google/paligemma-3b-pt-224``) in
``policy_preprocessor.json``. A robot is often offline, so every such reference must be a
local directory, a model already in the Hugging Face cache, or mapped to a local directory
with ``hub_paths`` (``ID=DIR`` entries). Anything else fails here, naming the id, where the
checkpoint names it and the parameter to set, instead of a download attempt deep in
transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CONFIG_KEYS = ("vlm_model_name",)  # config.json fields that name a hub model
PREPROCESSOR_FILE = "policy_preprocessor.json"
CACHE_MARKERS = ("config.json", "tokenizer_config.json", "tokenizer.json")


class HubReferenceError(ValueError):
    """A checkpoint names a hub model that is neither local nor cached, or hub_paths is malformed."""


@dataclass(frozen=True)
class HubRef:
    ref: str  # hub id (or path) as the checkpoint stores it
    file: str  # checkpoint file that names it
    key: str  # field in that file
    step: str = ""  # processor step's registry name (policy_preprocessor.json), "" for config.json

    @property
    def where(self) -> str:
        return f"{self.file}: {self.step + '.' if self.step else ''}{self.key}"


def parse_hub_paths(entries: list[str]) -> dict[str, str]:
    """``["hub/id=/local/dir", ...]`` -> {hub id: local dir}."""
    paths: dict[str, str] = {}
    for entry in entries:
        ref, sep, path = entry.partition("=")
        if not sep or not ref.strip() or not path.strip():
            raise HubReferenceError(
                f"hub_paths entry {entry!r} is not ID=DIR (e.g. HuggingFaceTB/SmolVLM2=/models/vlm)"
            )
        paths[ref.strip()] = path.strip()
    return paths


def find_hub_refs(checkpoint: Path) -> list[HubRef]:
    """Every hub reference of a pretrained_model directory (config fields, tokenizer steps)."""
    refs = []
    config = json.loads((checkpoint / "config.json").read_text())
    refs += [HubRef(config[key], "config.json", key) for key in CONFIG_KEYS if config.get(key)]
    preprocessor = checkpoint / PREPROCESSOR_FILE
    if preprocessor.is_file():
        for step in json.loads(preprocessor.read_text()).get("steps", []):
            for key, value in (step.get("config") or {}).items():
                if key.endswith("tokenizer_name") and isinstance(value, str) and value:
                    refs.append(HubRef(value, PREPROCESSOR_FILE, key, step.get("registry_name", "")))
    return refs


def is_cached(ref: str) -> bool:
    """The hub model ``ref`` is in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in CACHE_MARKERS:
        try:
            if isinstance(try_to_load_from_cache(ref, filename), str):
                return True
        except ValueError:  # not a valid repo id (e.g. a path from another machine)
            return False
    return False


def resolve_hub_refs(refs: list[HubRef], hub_paths: dict[str, str]) -> dict[HubRef, str]:
    """Each reference -> the local directory or cached id to load it from; raises naming every
    reference that cannot be loaded offline."""
    resolved, missing = {}, {}
    for ref in refs:
        if ref.ref in hub_paths:
            path = Path(hub_paths[ref.ref]).expanduser()
            if not path.is_dir():
                missing[ref.ref] = f"hub_paths maps {ref.ref!r} to {path}, which is not a directory"
                continue
            resolved[ref] = str(path.resolve())
        elif Path(ref.ref).expanduser().is_dir() or is_cached(ref.ref):
            resolved[ref] = ref.ref
        else:
            where = ", ".join(r.where for r in refs if r.ref == ref.ref)
            get = (
                "copy that directory here"
                if ref.ref.startswith(("/", ".", "~"))
                else (f"download it on a machine with network (hf download {ref.ref} --local-dir DIR), copy DIR here")
            )
            missing[ref.ref] = (
                f"{ref.ref!r} ({where}) is neither a local directory nor in the Hugging Face cache: "
                f"{get} and set the parameter hub_paths:=['{ref.ref}=DIR']"
            )
    unused = set(hub_paths) - {ref.ref for ref in refs}
    if unused:
        known = sorted({ref.ref for ref in refs}) or "none"
        missing[""] = f"hub_paths names {sorted(unused)}, which the checkpoint does not use (it uses: {known})"
    if missing:
        raise HubReferenceError("cannot load the checkpoint offline: " + "; ".join(missing.values()))
    return resolved
