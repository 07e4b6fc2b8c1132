"""Helpers for preference optimization (notebook 12b): preference rows in TRL's format, win rates, and text
features for a small Bradley-Terry reward model.

The lesson itself (building pairs from the course's classifier, the Bradley-Terry loss, the DPO loss and its
equality with TRL's) stays in the notebook; this module holds the bookkeeping it measures with, each input
checked so a mistake names itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from course_utils.post_training import chat_messages
from course_utils.validation import require_positive_int, require_str_list


def preference_rows(prompts: Sequence[str], texts: Sequence[str], pairs: Sequence[tuple[int, int]], group_size: int,
                    system: str | None = None) -> list[dict[str, Any]]:
    """TRL's conversational preference rows ``{"prompt", "chosen", "rejected"}`` from sampled completions.

    ``texts`` holds ``group_size`` completions of each prompt in turn (``texts[i]`` answers
    ``prompts[i // group_size]``); each pair ``(chosen, rejected)`` indexes ``texts``, and both must answer the same
    prompt. ``system``: the system message put before every prompt (see
    :func:`course_utils.post_training.chat_messages`).
    """
    prompts = require_str_list("prompts", prompts, example="['Reply to this tweet ...']", what="texts")
    group_size = require_positive_int("group_size", group_size, example="4 (completions per prompt)")
    if len(texts) != len(prompts) * group_size:
        raise ValueError(f"{len(texts)} completions for {len(prompts)} prompts of {group_size} completions each: "
                         f"expected {len(prompts) * group_size}")
    rows = []
    for chosen, rejected in pairs:
        if not (0 <= chosen < len(texts) and 0 <= rejected < len(texts)):
            raise ValueError(f"pair ({chosen}, {rejected}) points outside the {len(texts)} completions")
        if chosen // group_size != rejected // group_size:
            raise ValueError(f"pair ({chosen}, {rejected}) mixes two prompts: a preference compares two answers "
                             "to the SAME prompt")
        if chosen == rejected:
            raise ValueError(f"pair ({chosen}, {rejected}) compares a completion with itself")
        rows.append({"prompt": chat_messages(prompts[chosen // group_size], system),
                     "chosen": [{"role": "assistant", "content": texts[chosen]}],
                     "rejected": [{"role": "assistant", "content": texts[rejected]}]})
    return rows


def win_rate(rewards: Sequence[float], baseline_rewards: Sequence[float]) -> float:
    """Share of positions where ``rewards`` beat ``baseline_rewards`` (a tie counts one half): 0.5 = no better.

    Position ``i`` of both lists must answer the same prompt (e.g. the i-th sample of each held-out prompt).
    """
    a = torch.as_tensor(list(rewards), dtype=torch.float64)
    b = torch.as_tensor(list(baseline_rewards), dtype=torch.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"win_rate needs two non-empty lists of the same length, got {len(a)} and {len(b)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("win_rate got a non-finite reward")
    return float(((a > b).double() + 0.5 * (a == b).double()).mean())


@torch.no_grad()
def sentence_features(texts: Sequence[str], model: Any, tokenizer: Any, batch_size: int = 64,
                      max_length: int = 64) -> torch.Tensor:
    """Mean-pooled last hidden states of an encoder (padding left out), one row per text: [N, hidden], on CPU.

    A frozen sentence encoder turns each completion into a feature vector; a linear Bradley-Terry reward model
    on top of it is then trained from preference pairs alone.
    """
    texts = [str(t) for t in texts]
    batch_size = require_positive_int("batch_size", batch_size, example="64")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for first in range(0, len(texts), batch_size):
            batch = tokenizer(texts[first : first + batch_size], truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt").to(device)
            hidden = model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"][..., None].float()
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).cpu())
    finally:
        model.train(was_training)
    hidden_size = getattr(model.config, "hidden_size", 0)
    return torch.cat(out) if out else torch.zeros(0, hidden_size)
