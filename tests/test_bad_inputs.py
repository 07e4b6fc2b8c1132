"""Bad input never gives a silent wrong answer: one table of bad arguments to the public functions of course_utils.

Each row is a function, the argument under test, a bad value and a fragment of the expected message; the other
arguments are valid. Every row must raise (TypeError/ValueError, or the named course_utils error) from course_utils'
own code, not from a library three frames down, with a message that names the argument (or what it is about),
shows the value and contains the fragment (usually the fix). Every case is cheap: functions that need a corpus,
a model or a subprocess check their arguments before loading or starting anything, so no row loads one.

Rows marked ``# silent`` returned a wrong result without a word before (an empty split, an integer mask added to
the attention scores, a notebook run in the wrong mode ...). ``tests/test_properties.py`` adds property-based
tests of the split and batching helpers.
"""

from __future__ import annotations

import importlib
import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch

from course_utils.errors import UnknownNameError

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"
BAD = object()  # where the bad value goes in ``args`` (positional arguments), when it is not a keyword


class _Modules(dict):
    """``attention`` -> course_utils.attention, ``checks_nb01`` -> course_utils.practice.checks.nb01,
    imported on first use
    (so collecting this file imports nothing heavy, and each row imports only its own module)."""

    def __missing__(self, name: str) -> Any:
        if name in PRACTICE:
            return importlib.import_module(f"course_utils.practice.{PRACTICE[name]}")
        return importlib.import_module("course_utils.practice." + name.replace("checks_nb", "checks.nb", 1)
                                       if name.startswith("checks_nb") else f"course_utils.{name}")


# table name -> module of course_utils.practice (the practice loop's subpackage)
PRACTICE = {"grading": "grading", "reveal": "reveal", "timelimit": "timelimit", "student": "student",
            "checks_python": "checks.nb00"}


@dataclass(frozen=True)
class File:
    """A notebook file the ``notebooks`` fixture writes (runner rows): replaced by its path when the row runs."""

    name: str


@dataclass
class Bad:
    """One bad input: ``target`` (an expression over course_utils modules) called with ``args`` and ``kwargs``, and
    ``argument=value`` (or ``value`` in place of ``BAD`` in ``args``)."""

    target: str
    argument: str
    value: Any
    fragment: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: tuple = ()
    error: type[BaseException] | tuple[type[BaseException], ...] = (TypeError, ValueError)
    names: str | None = None  # what the message names, when not the argument itself
    shows: bool = True  # the message shows the value (checked for numbers, text, None)

    @property
    def module(self) -> str:
        return self.target.split(".")[0].split("(")[0]

    def id(self) -> str:
        shown = repr(self.value) if isinstance(self.value, (int, float, str, type(None))) else type(self.value).__name__
        return f"{self.target.split('(')[0]}-{self.argument}={shown[:30]}"


Q = torch.zeros(1, 2, 3, 4)  # [batch, heads, positions, d_k]
IMAGES = torch.full((2, 28, 28), 200, dtype=torch.uint8)
CANVAS = {"images": IMAGES, "labels": torch.tensor([0, 1]), "n_canvases": 2}
TINY_TRANSLATOR = ("translation.TranslationModel(translation.TranslationConfig(vocab_size=100, d_model=8, n_heads=2, "
                   "encoder_layers=1, decoder_layers=1, d_ff=16, max_positions=20)).generate")
GENERATE = {"input_ids": torch.tensor([[1, 5, 2]])}
SDPA = {"query": Q, "key": Q, "value": Q}
SAMPLE = {"model": None, "tokenizer": None, "prompts": ["hello"]}
LAUNCH = {"script": "absent.py", "nproc": 1}
SETTINGS = {}  # classifier_settings: every default is valid


def _near_miss_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("def f(x):\n    ### Begin Solution\n    return x\n    ### END SOLUTION"))
    return nb


ROWS: list[Bad] = [
    # --- attention ---------------------------------------------------------------------------------------------
    Bad("attention.scaled_dot_product_attention", "mask", torch.ones(1, 1, 1, 3, dtype=torch.long), "mask.bool()",
        SDPA),  # silent: a 0/1 integer mask was added to the scores
    Bad("attention.scaled_dot_product_attention", "query", [[0.0]], "torch.Tensor", {"key": Q, "value": Q}),
    Bad("attention.scaled_dot_product_attention", "query", torch.zeros(4), "at least 2 dimensions",
        {"key": Q, "value": Q}),
    Bad("attention.scaled_dot_product_attention", "dropout_p", 1.5, "fraction in [0, 1)", SDPA),
    Bad("attention.scaled_dot_product_attention", "dropout_p", 10, "a percentage? divide it by 100", SDPA),
    Bad("attention.scaled_dot_product_attention", "dropout_p", "0.1", "no quotes", SDPA),
    Bad("attention.padding_mask", "attention_mask", torch.ones(3, dtype=torch.long), "[batch, length]"),
    Bad("attention.padding_mask", "attention_mask", torch.tensor([[5, 7, 2]]), "only 1 (token) and 0 (pad)"),
    Bad("attention.causal_mask", "queries", 0, ">= 1"),
    Bad("attention.causal_mask", "queries", 2.5, "an int"),
    Bad("attention.causal_mask", "keys", 1, "queries <= keys", {"queries": 3}),
    Bad("attention.MultiHeadAttention", "d_model", "64", "an int", {"n_heads": 2}),
    Bad("attention.MultiHeadAttention", "n_heads", 3, "multiple of n_heads", {"d_model": 8}),
    Bad("attention.MultiHeadAttention", "dropout", -0.1, "fraction in [0, 1)", {"d_model": 8, "n_heads": 2}),
    Bad("attention.MultiHeadAttention(8, 2).forward", "mask", torch.ones(1, 3, dtype=torch.long), "mask.bool()",
        {"x": torch.zeros(1, 3, 8)}),
    Bad("attention.MultiHeadAttention(8, 2).forward", "x", torch.zeros(3, 8), "x must be [batch, length, 8]"),
    Bad("attention.KVCache().update", "layer_idx", -1, ">= 0", {"keys": Q, "values": Q}),
    # --- transformer_blocks ------------------------------------------------------------------------------------
    Bad("transformer_blocks.sinusoidal_positions", "d_model", 7, "even", {"length": 4}),
    Bad("transformer_blocks.sinusoidal_positions", "length", -1, ">= 0", {"d_model": 8}),
    Bad("transformer_blocks.sinusoidal_positions", "length", 3.0, "write 3", {"d_model": 8}),
    Bad("transformer_blocks.LearnedPositions", "max_positions", 0, ">= 1", {"d_model": 8}),
    Bad("transformer_blocks.FeedForward", "activation", "tanh", "gelu, relu", {"d_model": 8, "d_ff": 16},
        error=UnknownNameError),
    Bad("transformer_blocks.FeedForward", "dropout", 1.0, "fraction in [0, 1)", {"d_model": 8, "d_ff": 16}),
    Bad("transformer_blocks.EncoderBlock", "n_heads", 3, "multiple of n_heads", {"d_model": 8, "d_ff": 16}),
    # --- batching ----------------------------------------------------------------------------------------------
    Bad("batching.TokenBudgetBatchSampler", "max_tokens", 0, ">= 1", {"lengths": [3, 4]}),
    Bad("batching.TokenBudgetBatchSampler", "max_tokens", "4096", "an int", {"lengths": [3, 4]}),
    Bad("batching.TokenBudgetBatchSampler", "lengths", [3, 0], "positive token counts", {"max_tokens": 10},
        shows=False),
    Bad("batching.TokenBudgetBatchSampler", "lengths", [2.5, 3.0], "whole numbers", {"max_tokens": 10}, shows=False),
    Bad("batching.TokenBudgetBatchSampler", "lengths", [], "non-empty", {"max_tokens": 10}),
    Bad("batching.TokenBudgetBatchSampler", "seed", -1, "seed must be", {"lengths": [3], "max_tokens": 10}),
    Bad("batching.TokenBudgetBatchSampler", "shuffle", "yes", "True or False", {"lengths": [3], "max_tokens": 10}),
    Bad("batching.TokenBudgetBatchSampler([3, 4], 10).set_epoch", "epoch", -1, ">= 0"),
    Bad("batching.Seq2SeqCollator", "pad_id", -1, ">= 0", {"start_id": 1}),
    Bad("batching.Seq2SeqCollator(0, 1)", "rows", [{"input_ids": [1, 2]}], "'labels'", names="row", shows=False),
    Bad("batching.TokenBudgetTrainer", "max_tokens", 0, ">= 1"),
    # --- translation -------------------------------------------------------------------------------------------
    Bad("translation.TranslationConfig", "vocab_size", 0, ">= 1"),
    Bad("translation.TranslationConfig", "d_model", "256", "an int"),
    Bad("translation.TranslationConfig", "dropout", 1.0, "fraction in [0, 1)"),
    Bad("translation.TranslationConfig", "pad_token_id", -1, "between 0 and 7999"),
    Bad("translation.TranslationConfig", "eos_token_id", 8000, "between 0 and 7999"),
    Bad("translation.require_token_ids", "ids", torch.ones(1, 3), "integer", {"config": None, "what": "ids"}),
    Bad("translation.require_token_ids", "ids", torch.ones(3, dtype=torch.long), "unsqueeze(0)",
        {"config": None, "what": "ids"}),
    Bad("translation.shift_right", "labels", [[5, 2]], "torch.Tensor", {"start": 1, "pad": 0}),
    Bad(TINY_TRANSLATOR, "num_beams", 0, ">= 1", GENERATE),
    Bad(TINY_TRANSLATOR, "max_new_tokens", -1, ">= 1", GENERATE),
    # --- tokenizer ---------------------------------------------------------------------------------------------
    Bad("tokenizer.train_bpe_tokenizer", "vocab_size", 10, "at least 100", {"texts": ["a b"]}),
    Bad("tokenizer.train_bpe_tokenizer", "vocab_size", 1.5, "an int", {"texts": ["a b"]}),
    Bad("tokenizer.train_bpe_tokenizer", "min_frequency", 0, ">= 1", {"texts": ["a b"]}),
    Bad("tokenizer.train_bpe_tokenizer", "texts", "one long string", "not a single string", shows=False),
    Bad("tokenizer.translation_tokenizer_path", "vocab_size", 5, "at least 100"),  # before any corpus is read
    Bad("tokenizer.translation_tokenizer_path", "max_pairs", 0, ">= 1"),
    Bad("tokenizer.translation_tokenizer_path", "seed", "0", "seed must be an int"),
    Bad("tokenizer.wrap_for_transformers", "model_max_length", 0, ">= 1", {"tokenizer": None}),
    # --- training ----------------------------------------------------------------------------------------------
    Bad("training.confusion_matrix", "preds", torch.tensor([0.2, 0.9]), "argmax",
        {"targets": torch.tensor([0, 1]), "num_classes": 2}),  # silent: floats were truncated to class 0
    Bad("training.confusion_matrix", "num_classes", 0, ">= 1",
        {"targets": torch.tensor([0, 1]), "preds": torch.tensor([0, 1])}),
    Bad("training.confusion_matrix", "num_classes", 2.0, "write 2",
        {"targets": torch.tensor([0, 1]), "preds": torch.tensor([0, 1])}),
    Bad("training.confusion_matrix", "targets", [0, 1], "torch.Tensor", {"preds": torch.tensor([0, 1]),
                                                                        "num_classes": 2}),
    Bad("training.confusion_matrix", "num_classes", 2, "is num_classes=2 right",
        {"targets": torch.tensor([0, 5]), "preds": torch.tensor([0, 1])}),
    Bad("training.fit", "epochs", 0, ">= 1", {"model": None, "train_loader": [], "val_loader": [], "loss_fn": None,
                                             "optimizer": None, "device": "cpu"}),
    Bad("training.fit", "epochs", "3", "an int", {"model": None, "train_loader": [], "val_loader": [],
                                                 "loss_fn": None, "optimizer": None, "device": "cpu"}),
    Bad("training.fit", "train_loader", [], "training loader yielded no examples",
        {"model": torch.nn.Linear(2, 2), "val_loader": [], "loss_fn": torch.nn.functional.cross_entropy,
         "optimizer": None, "device": "cpu", "epochs": 1, "progress": False},
        names="training loader", shows=False),  # silent: trained nothing and reported loss 0.0
    Bad("training.evaluate", "loader", [], "evaluation loader yielded no examples",
        {"model": torch.nn.Linear(2, 2), "loss_fn": torch.nn.functional.cross_entropy, "device": "cpu"},
        shows=False),
    # --- loaders -----------------------------------------------------------------------------------------------
    Bad("loaders.ImageDataset", "images", torch.zeros(2, 4, 4, dtype=torch.int64), "torch.uint8",
        {"labels": torch.zeros(2)}),
    Bad("loaders.ImageDataset", "images", [[0, 1]], "torch.Tensor", {"labels": torch.zeros(1)}),
    Bad("loaders.ImageDataset", "labels", torch.zeros(3), "2 images but 3 labels",
        {"images": torch.zeros(2, 4, 4, dtype=torch.uint8)}, names="labels"),
    Bad("loaders.ImageDataset", "transform", "normalize", "transform must be a function",
        {"images": torch.zeros(2, 4, 4, dtype=torch.uint8), "labels": torch.zeros(2)}),
    Bad("loaders.PadCollate", "pad_id", -1, ">= 0"),
    Bad("loaders.PadCollate", "pad_id", "0", "an int"),
    Bad("loaders.SequenceDataset", "sequences", [[1], []], "must not be empty", {"labels": [0, 1]}),
    # --- outcomes ----------------------------------------------------------------------------------------------
    Bad("outcomes.expect", "at_least", math.nan, "finite", {"name": "acc", "value": 0.1}),  # silent: passed anything
    Bad("outcomes.expect", "at_most", math.inf, "finite", {"name": "loss", "value": 0.1}),
    Bad("outcomes.expect", "at_least", "0.9", "a number", {"name": "acc", "value": 0.95}),
    Bad("outcomes.expect", "at_most", 0.1, "swap them", {"name": "acc", "value": 0.5, "at_least": 0.9}),
    Bad("outcomes.expect", "value", "0.93", "must be a number", {"name": "acc", "at_least": 0.9}),
    Bad("outcomes.expect", "value", torch.ones(3), "one number", {"name": "acc", "at_least": 0.9}),
    Bad("outcomes.expect", "name", "", "non-empty", {"value": 0.5, "at_least": 0.1}),
    # --- distributed (all refused before torchrun starts, and before the script is looked for) -----------------
    Bad("distributed.launch", "threads_per_process", -3, ">= 1", LAUNCH),  # silent: started with a buried warning
    Bad("distributed.launch", "threads_per_process", 1.5, "an int", LAUNCH),
    Bad("distributed.launch", "timeout", 0, "> 0", LAUNCH),
    Bad("distributed.launch", "timeout", math.nan, "finite", LAUNCH),
    Bad("distributed.launch", "nproc", 0, ">= 1", {"script": "absent.py"}),
    Bad("distributed.launch", "port", 80, "between 1024 and 65535", LAUNCH),
    Bad("distributed.launch", "env", {"EPOCHS": 2}, "map names to strings", LAUNCH),
    Bad("distributed.launch", "args", "--epochs 2", "list of the script's arguments", LAUNCH),
    Bad("distributed.launch", "cwd", "/no/such/folder", "is not a folder", LAUNCH, error=FileNotFoundError),
    Bad("distributed.rank_lines", "rank", -1, ">= 0", {"output": ""}),
    Bad("distributed.port_in_use", "port", 70000, "between 0 and 65535"),
    # --- surnames (refused before faker's lists are read) ------------------------------------------------------
    Bad("surnames.surnames", "test_fraction", 0.5, "leaves nothing for training",
        {"val_fraction": 0.6}),  # silent: empty validation split, train and test shared 8,527 names
    Bad("surnames.surnames", "languages", [], "is empty"),  # silent: three empty splits
    Bad("surnames.surnames", "languages", "Greek", "list of names"),
    Bad("surnames.surnames", "languages", ["Klingon"], "unknown language 'Klingon'", names="language",
        error=UnknownNameError),
    Bad("surnames.surnames", "val_fraction", "0.15", "no quotes"),
    Bad("surnames.surnames", "min_names", 0, ">= 3"),
    Bad("surnames.surnames", "seed", -1, "seed must be"),
    # --- bible (refused before the verses are read) ------------------------------------------------------------
    Bad("bible.english_text", "max_chars", -1, ">= 1"),  # silent: dropped the last character
    Bad("bible.english_text", "max_chars", 2.5, "an int"),
    Bad("bible.bible_pairs", "test_fraction", 0.5, "leaves nothing for training", {"val_fraction": 0.6}),
    Bad("bible.bible_pairs", "test_fraction", "0.05", "no quotes"),
    Bad("bible.bible_pairs", "min_ratio", 0, "> 0"),
    Bad("bible.bible_pairs", "min_ratio", 3.0, "swap them"),
    Bad("bible.bible_pairs", "max_chars", -5, ">= 1"),
    Bad("bible.bible_pairs", "seed", 2**40, "seed must be"),
    Bad("bible.fetch_deb", "timeout", 0, "> 0", {"source": None}),
    # --- tweets (refused before the corpus is read) ------------------------------------------------------------
    Bad("tweets.sentiment_tweets", "view", "five_star", "binary, three_class", error=UnknownNameError),
    Bad("tweets.sentiment_tweets", "min_confidence", 2, "fraction in [0, 1]"),
    Bad("tweets.sentiment_tweets", "min_confidence", "high", "fraction"),
    Bad("tweets.sentiment_tweets", "test_fraction", 0.5, "leaves nothing for training", {"val_fraction": 0.5}),
    Bad("tweets.sentiment_tweets", "limit", 3, ">= 10"),
    Bad("tweets.sentiment_tweets", "limit", 10.5, "an int"),
    Bad("tweets.sentiment_tweets", "seed", "0", "seed must be an int"),
    Bad("tweets.clean_tweet", "text", None, "text must be a string"),
    # --- data (refused before the arrays are loaded) -----------------------------------------------------------
    Bad("data.mnist_digits", "test_fraction", 1.5, "fraction in (0, 1)"),
    Bad("data.mnist_digits", "test_fraction", 20, "percentage"),
    Bad("data.mnist_digits", "seed", "0", "seed must be an int"),
    Bad("data.digits_8x8", "test_fraction", 0, "fraction in (0, 1)"),
    # --- splits ------------------------------------------------------------------------------------------------
    Bad("splits.split_indices", "fractions", 0.5, "leaves nothing", args=(10, 0, 0.6, BAD)),
    Bad("splits.split_indices", "fractions", 0.01, "a part would be empty", args=(10, 0, BAD)),
    Bad("splits.split_indices", "fractions", "0.2", "no quotes", args=(10, 0, BAD)),
    Bad("splits.split_indices", "n", -1, ">= 0", {"seed": 0}, args=()),
    Bad("splits.split_indices", "seed", 1.5, "an int", {"n": 10}),
    # --- text --------------------------------------------------------------------------------------------------
    Bad("text.CharVocab.build", "min_count", 0, ">= 1", {"texts": ["ab"]}),
    Bad("text.CharVocab.build", "min_count", 1.5, "an int", {"texts": ["ab"]}),
    Bad("text.CharVocab", "chars", ["ab"], "single character", names="character", shows=False),
    Bad("text.CharVocab", "unk_char", 1, "unk_char must be a string", {"chars": ["a"]}),
    Bad("text.CharVocab", "lowercase", "yes", "True or False", {"chars": ["a"]}),
    Bad("text.CharVocab(['a']).decode", "ids", [7], "outside the vocabulary", names="vocabulary", shows=False),
    # --- vision ------------------------------------------------------------------------------------------------
    Bad("vision.segmentation_classes", "num_digit_classes", 0, ">= 1"),
    Bad("vision.compose_canvases", "n_canvases", 2.5, "an int", CANVAS),
    Bad("vision.compose_canvases", "threshold", 300, "between 1 and 255", CANVAS),
    Bad("vision.compose_canvases", "digits_per_canvas", (3, 2), "1 <= min <= max", CANVAS, shows=False),
    Bad("vision.compose_canvases", "digits_per_canvas", 3, "a pair (min, max)", CANVAS),
    Bad("vision.compose_canvases", "labels", torch.tensor([0.0, 1.0]), "labels.long()", CANVAS),
    Bad("vision.compose_canvases", "max_tries", 0, ">= 1", CANVAS),
    # --- finetune ----------------------------------------------------------------------------------------------
    Bad("finetune.LengthGroupedBatchSampler", "batch_size", 0, ">= 1",
        {"lengths": [3, 4], "generator": torch.Generator()}),
    Bad("finetune.LengthGroupedBatchSampler", "generator", 0, "torch.Generator", {"lengths": [3], "batch_size": 2}),
    Bad("finetune.optimizer_and_schedule", "warmup_fraction", 1.0, "fraction in [0, 1)",
        {"model": None, "total_steps": 10, "learning_rate": 1e-3}),
    Bad("finetune.optimizer_and_schedule", "learning_rate", 0, "> 0", {"model": None, "total_steps": 10}),
    Bad("finetune.optimizer_and_schedule", "total_steps", 0, ">= 1", {"model": None, "learning_rate": 1e-3}),
    Bad("finetune.sequence_classifier", "labels", ["only"], "at least 2 different labels", {"encoder": "x"},
        shows=False),
    Bad("finetune.sequence_classifier", "labels", "negative,positive", "list of names", {"encoder": "x"}),
    Bad("finetune.tokenize_splits", "max_length", 1, ">= 2", {"splits": None, "tokenizer": None}),
    Bad("finetune.make_loaders", "batch_size", 0, ">= 1", {"encoded": {"train": None}, "collator": None,
                                                          "generator": torch.Generator()}),
    Bad("finetune.scores", "preds", [], "non-empty", {"labels": []}, shows=False),
    Bad("finetune.fine_tune", "epochs", 0, ">= 1", {"model": None, "train_loader": [], "val_loader": [],
                                                   "device": "cpu", "learning_rate": 1e-3}),
    Bad("finetune.fine_tune", "max_grad_norm", -1, "> 0", {"model": None, "train_loader": [], "val_loader": [],
                                                          "device": "cpu", "epochs": 1, "learning_rate": 1e-3}),
    # --- classifier (refused before the encoder is looked for) -------------------------------------------------
    Bad("classifier.classifier_settings", "n_examples", 5, ">= 20"),
    Bad("classifier.classifier_settings", "steps", 0, ">= 1"),
    Bad("classifier.classifier_settings", "learning_rate", 0, "> 0"),
    Bad("classifier.classifier_settings", "warmup_fraction", 1.5, "fraction in [0, 1)"),
    Bad("classifier.classifier_settings", "batch_size", "16", "an int"),
    Bad("classifier.sentiment_classifier_path", "seed", -1, "seed must be"),
    # --- post_training -----------------------------------------------------------------------------------------
    Bad("post_training.chat_messages", "question", "", "question", shows=False),
    Bad("post_training.chat_messages", "system", 3, "system must be text", {"question": "hi"}, shows=False),
    Bad("post_training.chat_example", "answer", " ", "answer of a chat example", {"question": "hi"}),
    Bad("post_training.parse_sentiment", "answer", None, "answer must be a string"),
    Bad("post_training.parse_sentiment", "labels", "positive", "list of names", {"answer": "positive!"}),
    Bad("post_training.require_rewards", "expected", -1, ">= 0", {"rewards": []}),
    Bad("post_training.completion_text", "completion", 3, "a string or a list of chat messages", shows=False),
    Bad("post_training.sample_completions", "n", 0, ">= 1", SAMPLE),
    Bad("post_training.sample_completions", "temperature", 0, "> 0", SAMPLE),
    Bad("post_training.sample_completions", "prompts", "hello", "list of texts", {"model": None, "tokenizer": None}),
    Bad("post_training.SentimentReward", "batch_size", 0, ">= 1", {"classifier_dir": "absent"}),
    Bad("post_training.require_target_modules", "target_modules", ["valeu"], "no module named ['valeu']",
        {"model": torch.nn.Sequential(torch.nn.Linear(2, 2))}, shows=False),
    # --- plotting (refused before a figure is made) ------------------------------------------------------------
    Bad("plotting.show_images", "ncols", 0, ">= 1", {"images": torch.zeros(2, 4, 4)}),
    Bad("plotting.show_images", "images", torch.zeros(4, 4), "images[None]"),
    Bad("plotting.plot_confusion_matrix", "labels", "ab", "list of names", {"matrix": torch.eye(2)}),
    Bad("plotting.plot_history", "history", [0.5, 0.4], "history must be a dict", shows=False),
    Bad("plotting.plot_history", "keys", "train_loss", "list of names", {"history": {"train_loss": [1.0]}}),
    Bad("plotting.plot_heatmap", "matrix", torch.zeros(2, 2, 2), "2-D matrix"),
    # --- cache -------------------------------------------------------------------------------------------------
    Bad("cache.cache_key", "recipe", 0, ">= 1", {"settings": {}}),
    Bad("cache.cache_key", "settings", [("a", 1)], "settings must be a dict", {"recipe": 1}, shows=False),
    Bad("cache.cached", "name", "../escape", "plain folder name", {"settings": {}, "build": print}),
    Bad("cache.cached", "build", 3, "build must be a function", {"name": "thing", "settings": {}}),
    Bad("cache.cached", "rebuild", "yes", "True or False", {"name": "thing", "settings": {}, "build": print}),
    Bad("cache.run_dir", "prefix", "", "non-empty"),
    # --- grading, timelimit, checkers and reveal ---------------------------------------------------------------
    Bad("grading.run_check", "trials", 0, ">= 1", {"exercise": "x", "body": print}),
    Bad("grading.run_check", "trials", 2.5, "an int", {"exercise": "x", "body": print}),
    Bad("grading.run_check", "time_limit", 0, "> 0", {"exercise": "x", "trials": 1, "body": print}),
    Bad("grading.run_check", "time_limit", math.nan, "finite", {"exercise": "x", "trials": 1, "body": print}),
    Bad("grading.check", "name", "broadcast_shape", "<notebook>.<exercise>", {"candidate": len}),
    Bad("grading.exercises_of", "notebook", "99", "no checkers for notebook", error=KeyError),
    Bad("timelimit.call_with_time_limit", "seconds", 0, "> 0", {"fn": print}),  # silent: set no limit at all
    Bad("timelimit.call_with_time_limit", "seconds", -1, "> 0", {"fn": print}),
    Bad("timelimit.call_with_time_limit", "seconds", "20", "no quotes", {"fn": print}),
    Bad("timelimit.call_with_time_limit", "seconds", None, "a number", {"fn": print}),
    Bad("checks_python.check_batches", "trials", 0, ">= 1", {"batches": print}),
    Bad("checks_python.check_batches", "seed", "0", "seed must be an int", {"batches": print}),
    Bad("checks_nb01.check_broadcast_shape", "seed", 1.5, "seed must be an int", {"fn": print}),
    Bad("checks_nb01.check_windows_view", "trials", 0, ">= 1", {"fn": print}),
    Bad("reveal.reveal", "tolerance", -1, ">= 0", {"prediction": 1, "answer": 1}),
    Bad("reveal.reveal", "tolerance", "0.1", "no quotes", {"prediction": 1, "answer": 1}),
    Bad("reveal.reveal", "what", 3, "what must be a string", {"prediction": 1, "answer": 1}),
    # --- runner (notebook files from the fixture below; refused before papermill starts) ------------------------
    Bad("runner.run_notebook", "notebook", File("untagged"), "no cell is tagged 'parameters'", {"out_dir": File("out"),
        "smoke": True}, names="parameters", shows=False),  # silent: ran in default mode, reported ok
    Bad("runner.run_notebook", "notebook", File("override"), "sets SMOKE again", {"out_dir": File("out"),
        "smoke": True}, names="SMOKE", shows=False),  # silent: the same, a later cell undid the injection
    Bad("runner.run_notebook", "smoke", "yes", "True (tiny sizes)", {"notebook": File("ok"), "out_dir": File("out")}),
    Bad("runner.run_notebook", "timeout", 0, "> 0", {"notebook": File("ok"), "out_dir": File("out"), "smoke": True}),
    Bad("runner.run_notebook", "threads", 0, ">= 1", {"notebook": File("ok"), "out_dir": File("out"), "smoke": True}),
    Bad("runner.run_notebook", "seed", -1, "seed must be", {"notebook": File("ok"), "out_dir": File("out"),
                                                           "smoke": True}),
    Bad("runner.run_all", "jobs", 0, ">= 1", {"notebooks": [], "out_dir": File("out"), "smoke": True}),
    Bad("runner.run_all", "notebooks", [File("override")], "sets SMOKE again", {"out_dir": File("out"),
        "smoke": True}, names="SMOKE", shows=False),
    # --- student -----------------------------------------------------------------------------------------------
    Bad("student.hide_solutions", "source", "def f():\n    ### Begin Solution\n    return 1\n    ### End Solution\n",
        "'### Begin Solution' looks like a solution marker", names="marker", shows=False),  # silent: solution kept
    Bad("student.hide_solutions", "source", "## BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
        "not exactly '### BEGIN SOLUTION'", names="marker", shows=False),
    Bad("student.hide_solutions", "source", "x = 1\n### END SOLUTION\n", "without a ### BEGIN SOLUTION",
        names="SOLUTION", shows=False),
    Bad("student.hide_solutions", "source", None, "source must be a cell's text"),
    Bad("student.student_edition", "nb", _near_miss_notebook(), "looks like a solution marker", names="cell 1",
        shows=False),
    # --- cpu, hf, bench, assets --------------------------------------------------------------------------------
    Bad("cpu.threads_for", "jobs", 0, ">= 1"),
    Bad("cpu.threads_for", "workers", -1, ">= 0"),
    Bad("cpu.thread_env", "threads", 0, ">= 1"),
    Bad("hf.quiet_transformers", "datasets", "yes", "True or False"),
    Bad("bench.machine_speed", "seconds", 0, "> 0"),  # refused before a child process starts
    Bad("assets.causal_lm_path", "rebuild", "yes", "True or False"),  # refused before the GGUF file is looked for
    # --- environment (its checks were already clear; kept here so they stay so) --------------------------------
    Bad("environment.seed_everything", "seed", "0", "seed must be an int"),
    Bad("environment.smoke_mode", "value", "maybe", "use 1/0, true/false", names="smoke mode"),
    Bad("environment.get_device", "prefer", "tpu", "unknown device 'tpu'", names="device", error=UnknownNameError),
]


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny notebooks for the runner rows: a good one, one with no parameters tag, one that resets SMOKE later."""
    folder = tmp_path_factory.mktemp("bad-input-notebooks")

    def write(name: str, cells: list[tuple[str, bool]]) -> Path:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for source, tagged in cells:
            nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]} if tagged else {}))
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    return {
        "ok": write("ok", [("SMOKE = None\nSEED = 0", True), ("SMOKE = bool(SMOKE)", False)]),
        "untagged": write("untagged", [("SMOKE = False\nSEED = 0", False), ("print(SMOKE)", False)]),
        "override": write("override", [("SEED = 0", True), ("SMOKE = False  # set in the wrong cell", False)]),
        "out": folder / "out",
    }


def _resolve(value: Any, files: dict[str, Path]) -> Any:
    if isinstance(value, File):
        return files[value.name]
    if isinstance(value, list):
        return [_resolve(v, files) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, files) for k, v in value.items()}
    return value


def _shown(value: Any, message: str) -> bool:
    """The message shows ``value`` (numbers in any usual spelling, text quoted or not)."""
    if isinstance(value, float):
        return any(text in message for text in (str(value), f"{value:g}", repr(value)))
    return str(value) in message or repr(value) in message


@pytest.mark.parametrize("row", ROWS, ids=[row.id() for row in ROWS])
def test_bad_input_fails_clearly_in_our_code(row: Bad, notebooks: dict[str, Path]) -> None:
    target = eval(row.target, {"torch": torch}, _Modules())  # our own table of expressions
    value = _resolve(row.value, notebooks)
    kwargs = _resolve(row.kwargs, notebooks)
    if any(a is BAD for a in row.args):
        args = tuple(value if a is BAD else a for a in row.args)
    else:
        args, kwargs = row.args, {**kwargs, row.argument: value}
    with pytest.raises(row.error) as caught:
        target(*args, **kwargs)
    message = str(caught.value)
    assert row.fragment in message, f"{row.fragment!r} missing from: {message}"
    assert (row.names or row.argument) in message, f"the message does not name {row.names or row.argument!r}: {message}"
    if row.shows and (isinstance(row.value, (int, float, str)) or row.value is None):
        assert _shown(row.value, message), f"the message does not show the value {row.value!r}: {message}"
    raised_in = traceback.extract_tb(caught.tb)[-1].filename
    assert raised_in.startswith(str(PACKAGE)), f"raised in {raised_in}, not by course_utils: {message}"


def test_every_module_that_takes_user_input_has_rows() -> None:
    """The table covers the public modules (not the infrastructure others own: lock, doctor, canary ...)."""
    covered = {row.module.replace("checks_nb01", "checks") for row in ROWS}
    wanted = {
        "assets", "attention", "batching", "bench", "bible", "cache", "checks", "checks_python", "classifier", "cpu",
        "data", "distributed", "environment", "finetune", "grading", "hf", "loaders", "outcomes", "plotting",
        "post_training", "reveal", "runner", "splits", "student", "surnames", "text", "timelimit", "tokenizer",
        "training", "transformer_blocks", "translation", "tweets", "vision",
    }
    assert wanted <= covered, sorted(wanted - covered)
    assert len(ROWS) >= 100


# --- legitimate inputs that used to give a wrong answer: now handled, and documented ---------------------------
def test_float_images_in_0_1_are_not_divided_by_255_again() -> None:
    from course_utils.loaders import ImageDataset

    floats = torch.full((2, 3, 3), 0.5)
    image, _ = ImageDataset(floats, torch.tensor([0, 1]))[0]
    assert image.dtype == torch.float32 and torch.allclose(image, torch.full((1, 3, 3), 0.5))
    image, _ = ImageDataset((floats * 255).to(torch.uint8), torch.tensor([0, 1]))[0]
    assert torch.allclose(image, torch.full((1, 3, 3), 127 / 255))


def test_numpy_numbers_are_accepted_where_python_ones_are() -> None:
    from course_utils.attention import causal_mask
    from course_utils.splits import split_indices
    from course_utils.training import confusion_matrix
    from course_utils.validation import require_fraction, require_positive_int, require_seed

    assert require_positive_int("n", np.int64(3)) == 3 and type(require_positive_int("n", np.int32(3))) is int
    assert require_fraction("f", np.float32(0.25)) == 0.25 and require_seed("seed", np.uint8(7)) == 7
    assert causal_mask(np.int64(2)).shape == (2, 2)
    assert [len(p) for p in split_indices(np.int64(10), np.int64(0), np.float64(0.2))] == [8, 2]
    assert confusion_matrix(torch.tensor([0, 1]), torch.tensor([1, 1]), np.int64(2)).sum() == 2


def test_an_integer_mask_turned_into_booleans_masks_as_it_should() -> None:
    from course_utils.attention import scaled_dot_product_attention

    q = torch.randn(1, 2, 4)
    tokens = torch.tensor([[1, 0]])  # the second key is padding
    _, weights = scaled_dot_product_attention(q, q, q, tokens.bool()[:, None, :])
    assert torch.all(weights[..., 1] == 0)
