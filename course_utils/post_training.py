"""Checks and helpers for post-training (notebook 12): LoRA targets, chat-format data, rewards, samples, KL.

Post-training fails quietly when its inputs are wrong: PEFT ignores a misspelt target module as long as
another one matches, a tokenizer without a chat template renders conversations as bare text, and a reward
function that returns NaN or one reward too few lets an RL trainer optimise garbage. The functions here turn
each of those into an error that names the problem and the fix. The lesson itself (LoRA, SFT, GRPO) stays in
the notebook; this module holds what it checks and measures with.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from course_utils.validation import (
    require_bool,
    require_int,
    require_positive_int,
    require_positive_number,
    require_seed,
    require_str,
    require_str_list,
)

ALL_LINEAR = "all-linear"  # PEFT's shorthand: every linear layer except the output head


class RewardError(ValueError):
    """A reward function returned something an RL trainer must not train on (wrong length, NaN, None)."""


# ------------------------------------------------------------------------------------------------- LoRA
def linear_layer_names(model: torch.nn.Module) -> list[str]:
    """Short names (the last part of the module path) of the ``nn.Linear`` layers of ``model``, sorted."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def require_target_modules(model: torch.nn.Module, target_modules: str | Sequence[str]) -> str | list[str]:
    """Return ``target_modules`` if every name in it picks at least one linear layer of ``model``; else raise.

    PEFT matches a name against the end of each module path ("query" picks ``...attention.self.query``) and
    raises only when *no* name matches: ``["query", "valeu"]`` silently adapts the queries alone. Here each
    name must pick a ``nn.Linear`` layer. ``"all-linear"`` (every linear layer but the output head) is
    accepted as it is; any other single string is read, as PEFT reads it, as a regular expression that must
    match at least one full module path of a linear layer.
    """
    linear = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    available = linear_layer_names(model)
    if not linear:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer: LoRA (as used here) has nothing to adapt")
    if isinstance(target_modules, str):
        if target_modules == ALL_LINEAR:
            return target_modules
        if not any(re.fullmatch(target_modules, name) for name in linear):
            raise ValueError(
                f"the LoRA target pattern {target_modules!r} matches no linear layer of {type(model).__name__}; "
                f"its linear layers are named {available}: pass a list of those names, or {ALL_LINEAR!r}"
            )
        return target_modules
    names = list(target_modules)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"target_modules must be non-empty names of linear layers such as {available[:3]}: {names}")
    all_modules = dict(model.named_modules())
    missing, not_linear = [], []
    for wanted in names:
        hits = [p for p in all_modules if p == wanted or p.endswith("." + wanted)]
        if not hits:
            missing.append(wanted)
        elif not any(isinstance(all_modules[p], torch.nn.Linear) for p in hits):
            not_linear.append(f"{wanted} ({type(all_modules[hits[0]]).__name__})")
    if missing or not_linear:
        problems = []
        if missing:
            problems.append(f"no module named {missing}")
        if not_linear:
            problems.append(f"not a linear layer: {not_linear}")
        raise ValueError(
            f"bad LoRA target_modules for {type(model).__name__}: {'; '.join(problems)}. "
            f"Its linear layers are named {available}: pick from those, or use {ALL_LINEAR!r}"
        )
    return names


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameters of ``model``."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def folder_megabytes(folder: str | Path) -> float:
    """Size on disk of every file under ``folder``, in MB (2**20 bytes)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder at {folder}: save the model there first (save_pretrained)")
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


# ------------------------------------------------------------------------------------------ chat data
def require_chat_template(tokenizer: Any) -> str:
    """The tokenizer's chat template; a clear error if it has none (SFT would train on unformatted text)."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise ValueError(
            f"the tokenizer {type(tokenizer).__name__} (from {getattr(tokenizer, 'name_or_path', '?')!r}) has no "
            "chat template: conversations would be rendered without the role markers the model was trained "
            "with. Load the tokenizer of the instruct model, or set tokenizer.chat_template first"
        )
    return template


def chat_messages(question: str, system: str | None = None) -> list[dict[str, str]]:
    """The user turn ``question`` as chat messages, after a system message when ``system`` is a string.

    ``system=None`` leaves the system turn to the chat template, which may insert a default one (SmolLM2's adds
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face": 16 tokens in every sequence);
    ``system=""`` gives an empty system turn instead.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"the question of a chat example must be non-empty text, got {question!r}")
    if system is not None and not isinstance(system, str):
        raise ValueError(f"system must be text (or None for the template's default), got {type(system).__name__}")
    head = [] if system is None else [{"role": "system", "content": system}]
    return [*head, {"role": "user", "content": question}]


def chat_example(question: str, answer: str, system: str | None = None) -> dict[str, list[dict[str, str]]]:
    """One prompt-completion example in conversational form, as TRL's ``SFTTrainer`` takes it.

    With this form ``SFTTrainer`` applies the chat template and, by default (``completion_only_loss``),
    computes the loss on the assistant's answer only. ``system``: see :func:`chat_messages`.
    """
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"the answer of a chat example must be non-empty text, got {answer!r}")
    return {
        "prompt": chat_messages(question, system),
        "completion": [{"role": "assistant", "content": answer}],
    }


def parse_sentiment(answer: str, labels: Sequence[str] = ("negative", "positive")) -> str | None:
    """The first of ``labels`` named as a word in ``answer`` (case-insensitive), or None if none is."""
    require_str("answer", answer)
    labels = require_str_list("labels", labels, example="('negative', 'positive')")
    pattern = r"\b(" + "|".join(re.escape(label) for label in labels) + r")\b"
    found = re.search(pattern, answer, flags=re.IGNORECASE)
    return found.group(1).lower() if found else None


# ---------------------------------------------------------------------------------------------- rewards
def completion_text(completion: Any) -> str:
    """Text of one completion as a TRL trainer passes it: a string, or a list of chat messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and all(isinstance(m, dict) and "content" in m for m in completion):
        return "".join(str(m["content"]) for m in completion)
    raise TypeError(f"a completion must be a string or a list of chat messages, got {type(completion).__name__}")


def require_rewards(rewards: Any, expected: int, name: str = "reward function") -> list[float]:
    """Return ``rewards`` as floats if there is one finite reward per completion; else raise ``RewardError``."""
    expected = require_int("expected", expected, minimum=0, example="len(completions)")
    if isinstance(rewards, torch.Tensor):
        rewards = rewards.detach().cpu().flatten().tolist()
    try:
        values = list(rewards)
    except TypeError:
        raise RewardError(f"the {name} returned {type(rewards).__name__}, not a list of rewards") from None
    if len(values) != expected:
        raise RewardError(
            f"the {name} returned {len(values)} rewards for {expected} completions: it must return exactly one "
            "reward per completion, in order"
        )
    bad = [i for i, v in enumerate(values) if not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad:
        shown = ", ".join(f"#{i}={values[i]!r}" for i in bad[:5])
        raise RewardError(
            f"the {name} returned {len(bad)} non-finite or missing reward(s) ({shown}): training on them would "
            "optimise garbage. Fix the reward function (e.g. guard divisions, handle empty completions)"
        )
    return [float(v) for v in values]


def checked_reward(func: Callable[..., Any]) -> Callable[..., list[float]]:
    """Wrap a TRL-style reward function (``prompts``, ``completions``, ...) so bad output raises ``RewardError``.

    TRL checks the length itself but turns ``None`` into NaN and only warns; a NaN then poisons the
    advantages of its whole group. The wrapper keeps the function's ``__name__`` (TRL logs rewards by it).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return require_rewards(func(*args, completions=completions, **kwargs), len(completions), func.__name__)

    return wrapper


class SentimentReward:
    """Reward = P(positive) that the course's sentiment classifier gives each completion (0 to 1).

    ``classifier_dir`` is a folder from :func:`course_utils.classifier.sentiment_classifier_path`. Call it
    the way TRL calls reward functions, ``reward(prompts=..., completions=...)``, or score plain texts with
    :meth:`scores`. Only the completion is scored, never the prompt.
    """

    __name__ = "positive_sentiment"  # TRL names the logged reward after the function

    def __init__(self, classifier_dir: str | Path, device: str | torch.device = "cpu", batch_size: int = 32,
                 max_length: int = 64) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        batch_size = require_positive_int("batch_size", batch_size, example="32")  # checked before loading anything
        max_length = require_positive_int("max_length", max_length, example="64")
        self.tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).to(device).eval()
        label2id = {k.lower(): v for k, v in self.model.config.label2id.items()}
        if "positive" not in label2id:
            raise ValueError(f"the classifier in {classifier_dir} has no 'positive' label (labels: {list(label2id)})")
        self.positive = label2id["positive"]
        self.device, self.batch_size, self.max_length = torch.device(device), batch_size, max_length

    @torch.no_grad()
    def scores(self, texts: Sequence[str]) -> list[float]:
        """P(positive) for each text, in batches."""
        out: list[float] = []
        for first in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(list(texts[first : first + self.batch_size]), truncation=True,
                                   max_length=self.max_length, padding=True, return_tensors="pt").to(self.device)
            out += torch.softmax(self.model(**batch).logits.float(), dim=-1)[:, self.positive].tolist()
        return out

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 **kwargs: Any) -> list[float]:
        """One reward per completion (TRL's calling convention; other keyword arguments are ignored)."""
        texts = [completion_text(c) for c in completions]
        return require_rewards(self.scores(texts), len(texts), self.__name__)


# ---------------------------------------------------------------------------------- samples and KL
@dataclass
class Samples:
    """Sampled completions: ``texts[i]`` answers ``prompts[i // n]``; the token tensors allow re-scoring them."""

    prompts: list[str]
    texts: list[str]
    sequences: torch.Tensor  # [B, prompt + completion] token ids (prompts left-padded)
    attention_mask: torch.Tensor  # 1 on real tokens
    completion_mask: torch.Tensor  # 1 on completion tokens up to and including the end-of-turn token
    n: int  # samples per prompt


@torch.no_grad()
def sample_completions(model: Any, tokenizer: Any, prompts: Sequence[str], n: int = 1, max_new_tokens: int = 24,
                       seed: int = 0, do_sample: bool = True, temperature: float = 1.0,
                       system: str | None = None) -> Samples:
    """Generate ``n`` completions per chat prompt (user turn) with a fixed seed; the caller's RNG is untouched.

    All ``len(prompts) * n`` completions are generated in one batch (prompts left-padded). ``system``: the
    system message put before every prompt (see :func:`chat_messages`).
    """
    prompts = require_str_list("prompts", prompts, example="['Write a short review.']", what="texts")
    n = require_positive_int("n", n, example="4 (completions per prompt)")
    max_new_tokens = require_positive_int("max_new_tokens", max_new_tokens, example="24")
    seed = require_seed("seed", seed)
    do_sample = require_bool("do_sample", do_sample)
    temperature = require_positive_number("temperature", temperature, example="1.0")
    require_chat_template(tokenizer)
    texts = [tokenizer.apply_chat_template(chat_messages(p, system), tokenize=False, add_generation_prompt=True)
             for p in prompts for _ in range(n)]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # generation continues at the right edge
    try:
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:  # the caller's tokenizer and model leave as they came, also after an error
        tokenizer.padding_side = side
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if do_sample \
                else {"do_sample": False}
            out = model.generate(input_ids=batch["input_ids"].to(device),
                                 attention_mask=batch["attention_mask"].to(device),
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 use_cache=True,  # a Trainer leaves model.config.use_cache=False after training
                                 **sampling)
    finally:
        model.train(was_training)
    width = batch["input_ids"].shape[1]
    completion = out[:, width:]
    eos = torch.tensor([tokenizer.eos_token_id], device=completion.device)
    after_eos = torch.cumsum(torch.isin(completion, eos).int(), dim=1) - torch.isin(completion, eos).int()
    completion_mask = (after_eos == 0).long()  # keep tokens up to and including the first end-of-turn token
    attention_mask = torch.cat([batch["attention_mask"], completion_mask], dim=1)
    decoded = tokenizer.batch_decode(completion * completion_mask + tokenizer.pad_token_id * (1 - completion_mask),
                                     skip_special_tokens=True)
    return Samples(list(prompts), [t.strip() for t in decoded], out, attention_mask,
                   torch.cat([torch.zeros_like(batch["attention_mask"]), completion_mask], dim=1), n)


@torch.no_grad()
def completion_logprob(model: Any, samples: Samples) -> torch.Tensor:
    """log p(completion | prompt) under ``model`` for each sample: the sum over its completion tokens."""
    device = next(model.parameters()).device
    ids, mask = samples.sequences.to(device), samples.attention_mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    token_logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (token_logp * samples.completion_mask[:, 1:].to(device)).sum(dim=1).cpu()
