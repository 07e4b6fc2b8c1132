"""The BPE tokenizer of notebook 09, and the cached English-Spanish tokenizer notebook 10 uses.

Notebook 09 assembles this tokenizer piece by piece (normalizer, pre-tokenizer, model, trainer,
post-processor, decoder) and explains each choice; :func:`train_bpe_tokenizer` is the same recipe in one
function. :func:`translation_tokenizer_path` trains it on the training split of
``course_utils.data.bible_pairs`` (English and Spanish together, one shared vocabulary) once, saves it with
``save_pretrained`` into the cache and returns the folder, so notebook 10 works even if notebook 09 was skipped.

The recipe:

- normalizer: NFKC (compatibility characters such as ligatures and full-width letters become plain ones),
  then lowercase (optional); accents are kept (``strip_accents=True`` removes them);
- pre-tokenizer: Metaspace (spaces become ``▁`` and start each word) then punctuation split off;
- model: BPE with an unknown token, so characters never seen in training become ``<unk>`` instead of
  vanishing (a byte-level tokenizer would never need ``<unk>``);
- special tokens ``<pad>`` (id 0), ``<s>`` (1), ``</s>`` (2), ``<unk>`` (3);
- post-processor: ``<s> ... </s>`` around every encoded text;
- decoder: Metaspace, so ``decode`` turns ``▁`` back into spaces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from course_utils.cache import cached
from course_utils.validation import require_bool, require_int, require_positive_int, require_seed

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3 in this order
TRANSLATION_CACHE = "tokenizer-bible-en-es"
TRANSLATION_RECIPE = 1  # bump when the recipe changes what it produces


def _require_vocab_size(vocab_size: int) -> int:
    return require_int("vocab_size", vocab_size, minimum=100, example="8000 (at least 100: alphabet + special tokens)")


def build_bpe_tokenizer(lowercase: bool = True, strip_accents: bool = False) -> Any:
    """An untrained ``tokenizers.Tokenizer`` with every part of the recipe in place (see the module docstring)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    steps: list[normalizers.Normalizer] = [normalizers.NFKC()]
    if strip_accents:
        steps += [normalizers.NFD(), normalizers.StripAccents()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation(behavior="isolated")]
    )
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = TemplateProcessing(
        single=f"{BOS} $A {EOS}",
        pair=f"{BOS} $A {EOS} $B:1 {EOS}:1",
        special_tokens=[(BOS, SPECIAL_TOKENS.index(BOS)), (EOS, SPECIAL_TOKENS.index(EOS))],
    )
    return tokenizer


def train_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    min_frequency: int = 2,
    lowercase: bool = True,
    strip_accents: bool = False,
) -> Any:
    """Train the course's BPE tokenizer on ``texts`` (an iterable of strings) and return a ``tokenizers.Tokenizer``.

    The same steps as notebook 09: :func:`build_bpe_tokenizer`, then a ``BpeTrainer`` with the special
    tokens first (so ``<pad>`` is id 0) and ``vocab_size`` tokens at most.
    """
    from tokenizers.trainers import BpeTrainer

    vocab_size = _require_vocab_size(vocab_size)
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings (e.g. a list of sentences), not a single string")
    min_frequency = require_positive_int("min_frequency", min_frequency, example="2")
    lowercase, strip_accents = require_bool("lowercase", lowercase), require_bool("strip_accents", strip_accents)
    texts = list(texts)
    if not texts or not any(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("texts is empty: give the tokenizer some sentences to learn from")
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts must all be strings, found {type(bad).__name__} {bad!r}")
    tokenizer = build_bpe_tokenizer(lowercase=lowercase, strip_accents=strip_accents)
    trainer = BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tokenizer


def wrap_for_transformers(tokenizer: Any, model_max_length: int = 512) -> Any:
    """Wrap a ``tokenizers.Tokenizer`` of this recipe as a ``PreTrainedTokenizerFast`` with its special tokens."""
    from transformers import PreTrainedTokenizerFast

    model_max_length = require_positive_int("model_max_length", model_max_length, example="512")
    vocab = tokenizer.get_vocab()
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"the tokenizer lacks the special tokens {missing}; train it with train_bpe_tokenizer")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        model_max_length=model_max_length,
    )


def _entry_ok(folder: Path) -> bool:
    """A usable saved tokenizer: readable JSON files describing a BPE model."""
    try:
        config = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        return config["model"]["type"] == "BPE" and (folder / "tokenizer_config.json").is_file()
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return False


def translation_tokenizer_path(
    rebuild: bool = False,
    vocab_size: int = 8000,
    seed: int = 0,
    max_pairs: int | None = None,
    min_frequency: int = 2,
    lowercase: bool = True,
) -> Path:
    """Folder of the English-Spanish BPE tokenizer (``PreTrainedTokenizerFast.from_pretrained`` loads it).

    Trained with :func:`train_bpe_tokenizer` on both languages of the training split of
    ``bible_pairs(seed=seed)`` (the first ``max_pairs`` pairs if given), once; later calls return the cached
    folder in milliseconds. Every argument is part of the cache key (:func:`course_utils.cache.cached`).
    """
    vocab_size = _require_vocab_size(vocab_size)
    if max_pairs is not None:
        max_pairs = require_positive_int("max_pairs", max_pairs, example="5000 (or None for all pairs)")
    min_frequency = require_positive_int("min_frequency", min_frequency, example="2")
    lowercase, rebuild = require_bool("lowercase", lowercase), require_bool("rebuild", rebuild)
    settings = {
        "vocab_size": vocab_size,
        "seed": require_seed("seed", seed),
        "max_pairs": max_pairs,
        "min_frequency": min_frequency,
        "lowercase": lowercase,
    }

    def build(folder: Path) -> None:
        from course_utils.data import bible_pairs

        train = bible_pairs(seed=seed)["train"]
        if max_pairs is not None:
            train = train.select(range(min(max_pairs, len(train))))
        tokenizer = train_bpe_tokenizer(
            list(train["en"]) + list(train["es"]), vocab_size, min_frequency=min_frequency, lowercase=lowercase
        )
        wrap_for_transformers(tokenizer).save_pretrained(folder)

    return cached(
        TRANSLATION_CACHE, settings, build, _entry_ok, recipe=TRANSLATION_RECIPE, sub="tokenizers",
        rebuild=rebuild, about="training BPE on the English-Spanish verses, about 10 s",
    )
