"""Checkers for notebook 12 (post-training): a LoRA linear layer, merging its update into the weight, the labels
of a completion-only loss, the loss of a causal LM (a find-the-bug exercise: the one-token shift) and GRPO's
group-relative advantages. Every case is a tiny random tensor or an
``nn.Linear`` built here: no pretrained model is loaded."""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
from torch import nn

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import (
    CheckResult,
    exercise,
    fail,
    require_callable,
    require_class,
    run_check,
    show,
    tensor_problem,
)

IGNORE = -100  # the label that PyTorch's cross-entropy (and every Hugging Face model) leaves out of the loss


# --- Exercise 1: a LoRA linear layer --------------------------------------------------------------------------
def _lora_parts(layer: nn.Module, base: nn.Linear, r: int, case: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's ``A`` [r, in] and ``B`` [out, r]; fail with a hint when they are missing or misshapen."""
    want = {"A": (r, base.in_features), "B": (base.out_features, r)}
    parts: dict[str, nn.Parameter] = {}
    for name, shape in want.items():
        got = getattr(layer, name, None)
        if not isinstance(got, nn.Parameter) or tuple(got.shape) != shape:
            what = show(got, 80) if not isinstance(got, torch.Tensor) else f"{type(got).__name__} {tuple(got.shape)}"
            raise fail(case, f"self.{name}: an nn.Parameter of shape {shape}", what,
                       "A is [r, in_features] (it reads x), B is [out_features, r] (it writes the output); "
                       "wrap them in nn.Parameter so they are trained")
        parts[name] = got
    return parts["A"], parts["B"]


def _lora_cases(cls: Callable, trials: int, rng: random.Random, gen: torch.Generator,
                current: dict[str, str]) -> None:
    """The cases of :func:`check_lora_linear` (run under ``fork_rng``: they seed the global RNG)."""
    for trial in range(trials):
        n_in, n_out, r = rng.randint(2, 12), rng.randint(2, 12), rng.randint(1, 4)
        while n_in == n_out:
            n_out = rng.randint(2, 12)
        alpha = rng.choice([1.0, 2.0 * r, 16.0, 5.0])
        torch.manual_seed(rng.randrange(2**31))
        base = nn.Linear(n_in, n_out, bias=trial % 3 != 2)
        w0 = base.weight.detach().clone()
        case = current["case"] = f"LoRALinear(nn.Linear({n_in}, {n_out}, bias={base.bias is not None}), r={r}, " \
                                 f"alpha={alpha})"
        layer = cls(base, r, alpha)
        if not isinstance(layer, nn.Module):
            raise fail(case, "an nn.Module", type(layer).__name__, "subclass nn.Module and call super().__init__()")
        A, B = _lora_parts(layer, base, r, case)
        trainable = {id(p) for p in layer.parameters() if p.requires_grad}
        if trainable != {id(A), id(B)}:
            base_trainable = any(p.requires_grad for p in base.parameters())
            raise fail(case, "exactly 2 trainable tensors: A and B",
                       f"{len(trainable)} trainable tensor(s)" + (", the base layer's among them" * base_trainable),
                       "freeze the base layer (p.requires_grad_(False) for its parameters): LoRA trains A and B "
                       "only" if base_trainable else "register A and B as nn.Parameter (requires_grad=True)")
        shape = (rng.randint(1, 4), n_in) if trial % 2 else (rng.randint(1, 3), rng.randint(1, 3), n_in)
        x = torch.randn(*shape, generator=gen)
        case = current["case"] = f"{case}, then layer(x) with x of shape {shape}"
        with torch.no_grad():
            start_want, start_got = base(x), layer(x.clone())
        if problem := tensor_problem(start_got, start_want, atol=1e-5):
            hint = ("B must start at zero (nn.Parameter(torch.zeros(out_features, r))): the adapted layer then "
                    "starts exactly at the pretrained one") if bool(B.detach().abs().sum() > 0) else (
                    "the output is base(x) + (alpha / r) * x @ A.T @ B.T")
            raise fail(f"{case} (right after construction)", start_want, start_got,
                       f"{problem}; {hint}")
        if not bool(A.detach().abs().sum() > 0):
            raise fail(case, "A random (not all zeros)", show(A.detach(), 80),
                       "with A = 0 and B = 0 both gradients are zero and the adapter never learns: "
                       "initialise A randomly, e.g. torch.randn(r, in_features) / r ** 0.5")
        with torch.no_grad():
            B.copy_(torch.randn(B.shape, generator=gen))
            A.copy_(torch.randn(A.shape, generator=gen))
            want = base(x) + (alpha / r) * (x @ A.T) @ B.T
            got = layer(x.clone())
        if problem := tensor_problem(got, want, atol=1e-4, rtol=1e-4):
            hint = "base(x) + (alpha / r) * x @ A.T @ B.T (the scale is alpha divided by r)"
            if isinstance(got, torch.Tensor) and got.shape == want.shape:
                for wrong, why in (((r / alpha), "the scale is alpha / r, not r / alpha"),
                                   (1.0, "the update is scaled by alpha / r"),
                                   (alpha, "the scale is alpha / r, not alpha")):
                    if torch.allclose(got, base(x) + wrong * (x @ A.T) @ B.T, atol=1e-4) and wrong != alpha / r:
                        hint = why
                        break
            raise fail(f"{case}, after A and B were set to random values", want, got,
                       f"{problem}; {hint}")
        if not torch.equal(base.weight.detach(), w0):
            raise fail(case, "the base weight unchanged", "it was modified", "never write into the frozen weight")


@exercise("12", "lora_linear")
def check_lora_linear(cls: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``LoRALinear(base, r, alpha)``: an ``nn.Module`` that keeps ``base`` (an ``nn.Linear``) frozen and
    adds ``(alpha / r) * B A x``, with trainable ``self.A`` ``[r, in_features]`` (random) and ``self.B``
    ``[out_features, r]`` (zeros), so that at the start it gives exactly ``base(x)``."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_class(cls, "check_lora_linear(LoRALinear)")
        with torch.random.fork_rng(devices=[]):  # the layers and the learner's A draw from a forked global RNG
            _lora_cases(cls, trials, rng, gen, current)

    return run_check("lora_linear", trials, body)


# --- Exercise 2: merge the update into the weight ---------------------------------------------------------------
@exercise("12", "merge_lora")
def check_merge_lora(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``merge_lora(weight, A, B, alpha)``: a new weight ``weight + (alpha / r) * B @ A`` (``r`` is
    ``A.shape[0]``) with which a plain linear layer gives the adapted layer's output; ``weight`` is left as is."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_merge_lora(merge_lora)")
        for _ in range(trials):
            n_in, n_out, r = rng.randint(2, 10), rng.randint(2, 10), rng.randint(1, 4)
            while n_in == n_out:
                n_out = rng.randint(2, 10)
            alpha = rng.choice([1.0, 2.0 * r, 16.0, 3.0])
            weight = torch.randn(n_out, n_in, generator=gen)
            A, B = torch.randn(r, n_in, generator=gen), torch.randn(n_out, r, generator=gen)
            case = current["case"] = (f"merge_lora(weight {tuple(weight.shape)}, A {tuple(A.shape)}, "
                                      f"B {tuple(B.shape)}, alpha={alpha})")
            original = weight.clone()
            want = weight + (alpha / r) * B @ A
            got = fn(weight, A.clone(), B.clone(), alpha)
            if not torch.equal(weight, original):
                raise fail(case, "weight unchanged, a new tensor returned", "your function changed weight in place",
                           "weight + ... makes a new tensor; weight += ... (or .add_) overwrites the base weight")
            if problem := tensor_problem(got, want, atol=1e-4, rtol=1e-4):
                hint = "W + (alpha / r) * B @ A: B [out, r] @ A [r, in] has the weight's shape [out, in]"
                if isinstance(got, torch.Tensor) and got.shape == want.shape:
                    if torch.allclose(got, weight + alpha * B @ A, atol=1e-4):
                        hint = "divide alpha by the rank r = A.shape[0]"
                    elif torch.allclose(got, (alpha / r) * B @ A, atol=1e-4):
                        hint = "the merged weight is the base weight PLUS the update"
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("merge_lora", trials, body)


# --- Exercise 3: labels for a completion-only loss --------------------------------------------------------------
@exercise("12", "completion_labels")
def check_completion_labels(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``completion_labels(input_ids, attention_mask, prompt_lengths)``: a copy of ``input_ids`` [B, T]
    (right-padded) with -100 on the first ``prompt_lengths[b]`` tokens of row ``b`` and on padding
    (``attention_mask == 0``), so the loss sees only the answer tokens; ``input_ids`` is left as is."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_completion_labels(completion_labels)")
        for trial in range(trials):
            batch = rng.randint(1, 4)
            lengths = [rng.randint(2, 9) for _ in range(batch)]
            prompts = [rng.randint(1, n - 1) for n in lengths]
            width = max(lengths) + (trial % 2)
            ids = torch.randint(1, 50, (batch, width), generator=gen)
            mask = torch.zeros(batch, width, dtype=torch.long)
            for b, n in enumerate(lengths):
                mask[b, :n] = 1
            ids = ids * mask  # pad id 0 after each row's end
            prompt_lengths = torch.tensor(prompts)
            case = current["case"] = (f"completion_labels(input_ids={ids.tolist()}, attention_mask={mask.tolist()}, "
                                      f"prompt_lengths={prompts})")
            positions = torch.arange(width)[None, :]
            want = ids.masked_fill((positions < prompt_lengths[:, None]) | (mask == 0), IGNORE)
            original = ids.clone()
            got = fn(ids, mask.clone(), prompt_lengths.clone())
            if not torch.equal(ids, original):
                raise fail(case, "input_ids unchanged, new labels returned", "your function changed input_ids",
                           "start from input_ids.clone(): the model still needs the real ids as its input")
            if problem := tensor_problem(got, want):
                hint = "-100 where position < prompt_lengths[b] or attention_mask == 0; the rest is input_ids"
                if isinstance(got, torch.Tensor) and got.shape == want.shape:
                    if torch.equal(got.long(), ids.masked_fill(positions < prompt_lengths[:, None], IGNORE)):
                        hint = "padding must be ignored too: -100 where attention_mask == 0"
                    elif torch.equal(got.long(), ids.masked_fill((positions <= prompt_lengths[:, None]) | (mask == 0),
                                                                 IGNORE)):
                        hint = "off by one: the answer starts AT position prompt_lengths[b] (< not <=)"
                    elif bool((got == 0).any()) and not bool((got == IGNORE).any()):
                        hint = "mask with -100 (the ignore_index of cross-entropy), not 0: 0 is a real token id"
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("completion_labels", trials, body)


# --- Exercise 5: GRPO's group-relative advantages ---------------------------------------------------------------
@exercise("12", "group_advantages")
def check_group_advantages(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``group_advantages(rewards, group_size)``: ``rewards`` [N] holds consecutive groups of
    ``group_size`` completions of the same prompt; return each reward minus its group's mean, divided by its
    group's standard deviation (``torch.std``, as TRL) plus a small epsilon (TRL: 1e-4), so that a group whose
    rewards are all equal gets advantages 0, not NaN."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_group_advantages(group_advantages)")
        for trial in range(trials):
            groups, size = rng.randint(2, 4), rng.randint(2, 5)
            rewards = torch.rand(groups, size, generator=gen)
            rewards[rng.randrange(groups)] += rng.choice([1.0, 3.0])  # groups differ in level: the mean is per group
            if trial % 2:
                rewards[rng.randrange(groups)] = round(rng.random(), 2)  # every completion scored the same
            rewards = rewards.flatten()
            case = current["case"] = f"group_advantages(rewards={[round(v, 3) for v in rewards.tolist()]}, " \
                                     f"group_size={size})"
            grouped = rewards.view(-1, size)
            want = ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-4)).flatten()
            got = fn(rewards.clone(), size)
            if isinstance(got, torch.Tensor) and not bool(torch.isfinite(got).all()):
                raise fail(case, want, got, "a group whose rewards are all equal has std 0: add a small "
                           "epsilon to the std (TRL uses 1e-4), its advantages are then 0")
            if problem := tensor_problem(got, want, atol=2e-3, rtol=2e-3):
                hint = "per group: (r - mean) / (std + 1e-4), with rewards.view(-1, group_size) and dim=1"
                if isinstance(got, torch.Tensor) and got.shape == want.shape:
                    population = ((grouped - grouped.mean(1, keepdim=True))
                                  / (grouped.std(1, keepdim=True, unbiased=False) + 1e-4)).flatten()
                    whole = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
                    if torch.allclose(got.double(), population.double(), atol=2e-3):
                        hint = "torch.std's default (n - 1 in the denominator, as TRL) is expected, not unbiased=False"
                    elif torch.allclose(got.double(), whole.double(), atol=2e-3):
                        hint = "normalise within each group of group_size, not over the whole batch"
                    elif torch.allclose(got.double(), (grouped - grouped.mean(1, keepdim=True)).flatten().double(),
                                        atol=2e-3):
                        hint = "divide by the group's std (+ epsilon) too"
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("group_advantages", trials, body)


# --- Exercise 4 (find the bug): the loss of a causal language model ---------------------------------------------
def _lm_loss_case(rng: random.Random, gen: torch.Generator, confident: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits [B, T, V] and labels [B, T]: -100 on a prompt prefix and on right padding. ``confident``:
    the logit at position t puts almost all probability on token t + 1 (a model that predicts perfectly)."""
    batch, length, vocab = rng.randint(2, 3), rng.randint(5, 9), rng.randint(5, 11)
    ids = torch.randint(0, vocab, (batch, length), generator=gen)
    labels = ids.clone()
    for b in range(batch):
        prompt, pad = rng.randint(1, length - 3), rng.randint(0, 2)
        labels[b, :prompt] = IGNORE
        if pad:
            labels[b, length - pad :] = IGNORE
    logits = torch.randn(batch, length, vocab, generator=gen)
    if confident:
        logits[:, :-1].scatter_(-1, ids[:, 1:, None], 12.0)
    return logits, labels


@exercise("12", "causal_lm_loss")
def check_causal_lm_loss(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``causal_lm_loss(logits, labels)``: ``logits`` [B, T, V] from a causal LM, ``labels`` [B, T] with -100
    on the tokens that are not trained on. The logit at position t predicts token t + 1, so the loss compares
    ``logits[:, :-1]`` with ``labels[:, 1:]``; it is one mean of the cross-entropy over every label that is not
    -100 in the batch (as ``model(..., labels=labels).loss`` of a Hugging Face causal LM), a scalar tensor that
    stays connected to ``logits``."""
    rng, gen = random_sources(seed)

    def ce(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                           ignore_index=IGNORE, reduction=reduction)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_causal_lm_loss(causal_lm_loss)")
        for trial in range(trials):
            logits, labels = _lm_loss_case(rng, gen, confident=trial % 2 == 0)
            case = current["case"] = (f"causal_lm_loss(logits of shape {tuple(logits.shape)}"
                                      f"{' (each position sure of the NEXT token)' if trial % 2 == 0 else ''}, "
                                      f"labels={labels.tolist()})")
            want = ce(logits[:, :-1], labels[:, 1:])
            leaf = logits.clone().requires_grad_(True)
            got = fn(leaf, labels.clone())
            if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.requires_grad:
                raise fail(case, f"a scalar tensor connected to logits: {want.item():.4f}", show(got),
                           "keep the loss a tensor computed from logits (no .item(), no torch.tensor(...)): the "
                           "trainer calls backward() on it")
            if isinstance(got, torch.Tensor) and got.dim() == 1 and got.numel() == 1:
                got = got.reshape(())
            if problem := tensor_problem(got, want, atol=1e-4, rtol=1e-4):
                hint = ("compare logits[:, :-1] with labels[:, 1:] and average the cross-entropy over every label "
                        "that is not -100")
                if isinstance(got, torch.Tensor) and got.numel() == 1:
                    value = got.detach().double().reshape(())
                    per_row = torch.stack([ce(logits[b : b + 1, :-1], labels[b : b + 1, 1:])
                                           for b in range(len(labels))]).mean()
                    wrong = {
                        "off by one: the logit at position t predicts token t + 1, so position t must be scored "
                        "against labels[:, t + 1]: compare logits[:, :-1] with labels[:, 1:]": ce(logits, labels),
                        "shifted the wrong way: logits[:, :-1] (positions 0 .. T-2) predict labels[:, 1:] "
                        "(tokens 1 .. T-1)": ce(logits[:, 1:], labels[:, :-1]),
                        "one mean over every trained token of the batch, not a mean of per-sequence means": per_row,
                        "the mean over the trained tokens, not their sum": ce(logits[:, :-1], labels[:, 1:], "sum"),
                    }
                    for text, candidate in wrong.items():
                        if torch.allclose(value, candidate.double(), atol=1e-4, rtol=1e-4):
                            hint = text
                            break
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("causal_lm_loss", trials, body)
