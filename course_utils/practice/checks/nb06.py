"""Checkers for notebook 06 (pretrained models): mean pooling under an attention mask, a cosine-similarity
top-k search, the next-token distribution after temperature and top-k, greedy decoding, and perplexity (a
find-the-bug: the logits scored against the wrong tokens).

No pretrained model is loaded: greedy decoding and perplexity are checked on tiny random causal language models
that answer like a Hugging Face one (``model(input_ids).logits``, shape ``[batch, tokens, vocabulary]``). The checkers
never touch the global random state: the tiny models are built under ``torch.random.fork_rng``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


def _close(got: object, other: torch.Tensor) -> bool:
    """``got`` is a tensor of ``other``'s shape and values (a quiet test behind a hint)."""
    return (isinstance(got, torch.Tensor) and got.shape == other.shape
            and bool(torch.allclose(got.double(), other.double(), atol=1e-5, equal_nan=True)))


# --- Exercise 1: mean pooling with the attention mask ---------------------------------------------------------
@exercise("06", "mean_pool")
def check_mean_pool(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``mean_pool(hidden, attention_mask)`` -> ``[B, H]``: for each sequence the mean of the token vectors
    ``hidden[b, t]`` over its real tokens (``attention_mask[b, t] == 1``), padding left out. ``hidden`` is
    ``[B, T, H]`` floats, ``attention_mask`` ``[B, T]`` ints as a tokenizer returns them (padding on the right,
    and sometimes on the left as decoder tokenizers do)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_mean_pool(mean_pool)")
        for trial in range(trials):
            batch, length, size = rng.randint(2, 4), rng.randint(3, 7), rng.randint(2, 5)
            lengths = [rng.randint(1, length) for _ in range(batch)]
            lengths[rng.randrange(batch)] = length - 1 if trial % 4 == 0 else length  # trial 0: all rows padded
            left = trial % 3 == 2
            mask = torch.tensor([[int((t >= length - n) if left else (t < n)) for t in range(length)] for n in lengths])
            hidden = torch.randn(batch, length, size, generator=gen)
            side = "left" if left else "right"
            case = current["case"] = (f"mean_pool(hidden of shape {(batch, length, size)}, attention_mask="
                                      f"{mask.tolist()}) (padding on the {side})")
            real = mask.unsqueeze(-1).double()
            total = (hidden.double() * real).sum(dim=1)
            want = total / real.sum(dim=1)
            got = fn(hidden.clone(), mask.clone())
            if problem := tensor_problem(got, want, atol=1e-5):
                hint = "(hidden * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)"
                if _close(got, hidden.double().mean(dim=1)):
                    hint = "the padding is averaged in: weigh each token by its mask, divide by the real tokens"
                elif _close(got, total / length):
                    hint = "divide by the number of REAL tokens of each row, mask.sum(dim=1), not by T"
                elif _close(got, total):
                    hint = "that is the sum of the real tokens: divide it by how many there are"
                elif _close(got, F.normalize(want, dim=-1)):
                    hint = "the mean only: the normalisation to length 1 comes afterwards, in embed"
                elif "shape" in problem:
                    hint = f"one vector per sequence: average over the token dimension (dim=1); {hint}"
                raise fail(case, show(want, 150), show(got, 150), f"{problem}; {hint}")

    return run_check("mean_pool", trials, body)


# --- Exercise 2: cosine-similarity top-k search ---------------------------------------------------------------
@exercise("06", "top_k_search")
def check_top_k_search(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``top_k_search(queries, documents, k)`` -> ``(scores, indices)``, both ``[Q, k]``: for each query
    (a row of ``queries`` ``[Q, D]``) the ``k`` documents (rows of ``documents`` ``[N, D]``) of highest cosine
    similarity, best first, with their similarities. The vectors are NOT normalised (their lengths vary), so a
    plain dot product ranks long documents too high."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_top_k_search(top_k_search)")
        for trial in range(trials):
            q, n, d = rng.randint(1, 4), rng.randint(3, 9), rng.randint(2, 6)
            k = 1 if trial == 0 else rng.randint(1, n)
            queries = torch.randn(q, d, generator=gen) * (torch.rand(q, 1, generator=gen) * 5 + 0.2)
            documents = torch.randn(n, d, generator=gen) * (torch.rand(n, 1, generator=gen) * 5 + 0.2)
            case = current["case"] = (f"top_k_search(queries of shape {(q, d)}, documents of shape {(n, d)}, k={k}) "
                                      "(random vectors of random lengths)")
            similarity = F.normalize(queries.double(), dim=1) @ F.normalize(documents.double(), dim=1).T
            want = similarity.topk(k, dim=1)
            got = fn(queries.clone(), documents.clone(), k)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise fail(case, "a pair (scores, indices)", show(got, 150),
                           "return both: scores, indices = similarity.topk(k, dim=1)")
            scores, indices = got
            dot = queries.double() @ documents.double().T
            half = F.normalize(queries.double(), dim=1) @ documents.double().T
            slips = {"a plain dot product favours long vectors: normalise queries AND documents to length 1 first": dot,
                     "normalise the documents too, not only the queries (F.normalize(documents, dim=1))": half}
            if problem := tensor_problem(indices, want.indices):
                hint = "cosine similarity, highest first: normalise both sets of vectors, then topk(k, dim=1)"
                for slip, matrix in slips.items():
                    if _close(indices, matrix.topk(k, dim=1).indices):
                        hint = slip
                        break
                else:
                    if _close(indices, similarity.topk(k, dim=1, largest=False).indices):
                        hint = "best first: the LARGEST similarities (topk's default), not the smallest"
                    elif "shape" in problem:
                        hint = "one row of k documents per query: topk(k, dim=1) on the [Q, N] similarity matrix"
                raise fail(case, f"indices {show(want.indices)}", f"indices {show(indices)}", f"{problem}; {hint}")
            if problem := tensor_problem(scores, want.values, atol=1e-5):
                hint = "the scores are the cosine similarities of the documents found, in [-1, 1]"
                for slip, matrix in slips.items():
                    if _close(scores, matrix.gather(1, want.indices)):
                        hint = slip
                raise fail(case, f"scores {show(want.values)}", f"scores {show(scores)}", f"{problem}; {hint}")

    return run_check("top_k_search", trials, body)


# --- Exercise 3: temperature and top-k ------------------------------------------------------------------------
def _next_token_probs(logits: torch.Tensor, temperature: float, top_k: int) -> torch.Tensor:
    scaled = logits.double() / temperature
    kth = scaled.topk(top_k, dim=-1).values[..., -1:]
    return scaled.masked_fill(scaled < kth, float("-inf")).softmax(dim=-1)


@exercise("06", "next_token_probs")
def check_next_token_probs(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``next_token_probs(logits, temperature, top_k)`` -> probabilities of ``logits``' shape (``[V]`` or a
    batch ``[B, V]``): divide the logits by ``temperature``, keep the ``top_k`` highest of each row, and give them
    a softmax over themselves; every other token gets probability 0 (each row sums to 1). This is what
    ``generate(do_sample=True, temperature=..., top_k=...)`` samples from."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_next_token_probs(next_token_probs)")
        for trial in range(trials):
            vocab = rng.randint(3, 12)
            shape = (vocab,) if trial % 2 == 0 else (rng.randint(2, 3), vocab)
            temperature = rng.choice([0.5, 0.7, 1.5, 2.0]) if trial else 1.0
            top_k = rng.randint(1, vocab - 1) if trial % 5 else vocab
            logits = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
            case = current["case"] = (f"next_token_probs(logits={show(logits.float(), 200)}, "
                                      f"temperature={temperature}, top_k={top_k})")
            want = _next_token_probs(logits, temperature, top_k)
            got = fn(logits.clone(), temperature, top_k)
            if problem := tensor_problem(got, want, atol=1e-6):
                hint = "softmax(logits / temperature) over the top_k tokens only, 0 elsewhere"
                full = (logits / temperature).softmax(dim=-1)
                if _close(got, _next_token_probs(logits * temperature, 1.0, top_k)):
                    hint = "DIVIDE the logits by the temperature (a high temperature flattens the distribution)"
                elif _close(got, full):
                    hint = "keep only the top_k most likely tokens: the others must get probability 0"
                elif _close(got, torch.where(want > 0, full, 0.0)):
                    hint = ("the kept probabilities must sum to 1: set the other logits to -inf BEFORE the softmax "
                            "(or divide by the sum of the kept ones)")
                elif _close(got, _next_token_probs(logits, 1.0, top_k)):
                    hint = "the temperature is missing: divide the logits by it before the softmax"
                elif "shape" in problem:
                    hint = "one probability per token, for each row: the same shape as logits (work along dim=-1)"
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("next_token_probs", trials, body)


# --- Exercise 4: greedy decoding ------------------------------------------------------------------------------
class _TinyLM(nn.Module):
    """A tiny random causal language model that answers like a Hugging Face one: ``model(ids).logits``."""

    def __init__(self, vocab: int, hidden: int = 8) -> None:
        super().__init__()
        self.embed, self.rnn, self.head = nn.Embedding(vocab, hidden), nn.GRU(hidden, hidden, batch_first=True), \
            nn.Linear(hidden, vocab)
        self.calls = 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: object) -> object:
        from transformers.modeling_outputs import CausalLMOutput

        if input_ids.dtype != torch.long:
            raise TypeError(f"input_ids must be token ids (torch.long), got {input_ids.dtype}")
        self.calls += 1
        out, _ = self.rnn(self.embed(input_ids))
        return CausalLMOutput(logits=self.head(out) * 3)


def _greedy(model: nn.Module, ids: torch.Tensor, steps: int, eos: int | None) -> torch.Tensor:
    with torch.no_grad():
        for _ in range(steps):
            token = model(ids).logits[:, -1].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, token], dim=1)
            if eos is not None and int(token) == eos:
                break
    return ids


@exercise("06", "greedy_generate")
def check_greedy_generate(fn: Callable, trials: int = 8, seed: int | None = None) -> CheckResult:
    """Check ``greedy_generate(model, input_ids, max_new_tokens, eos_token_id)`` -> ``[1, T + n]``: the prompt
    ``input_ids`` (``[1, T]``) followed by ``n <= max_new_tokens`` tokens, each the argmax of the model's logits
    at the LAST position given everything so far; it stops right after producing ``eos_token_id`` (kept in the
    output), and ``eos_token_id=None`` never stops early. Checked on tiny random causal language models."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_greedy_generate(greedy_generate)")
        for trial in range(trials):
            vocab, length, steps = rng.randint(6, 20), rng.randint(1, 5), rng.randint(2, 8)
            with torch.random.fork_rng(devices=[]):  # the notebook's random state stays as it was
                torch.manual_seed(rng.randrange(2**31))
                model = _TinyLM(vocab).eval()
            prompt = torch.randint(0, vocab, (1, length), generator=gen)
            free = _greedy(model, prompt, steps, None)[0, length:].tolist()
            eos = None if trial % 3 == 0 else free[rng.randrange(len(free))] if trial % 3 == 1 else vocab + 1
            case = current["case"] = (f"greedy_generate(a tiny random LM with {vocab} tokens, input_ids="
                                      f"{prompt.tolist()}, max_new_tokens={steps}, eos_token_id={eos})")
            want = _greedy(model, prompt, steps, eos)
            got = fn(model, prompt.clone(), steps, eos)
            if problem := tensor_problem(got, want):
                hint = "each step: model(ids).logits[:, -1].argmax(dim=-1), appended to ids with torch.cat(dim=1)"
                n = want.shape[1] - length
                if isinstance(got, torch.Tensor) and got.dim() == 2 and got.shape[1] == n and torch.equal(
                        got, want[:, length:]):
                    hint = "return the prompt followed by the new tokens, as generate does"
                elif isinstance(got, torch.Tensor) and got.dim() == 2 and got.shape[1] > want.shape[1] and torch.equal(
                        got[:, : want.shape[1]], want):
                    hint = (f"stop right after the model produces eos_token_id={eos} (keep it)" if eos is not None
                            and eos < vocab else "max_new_tokens new tokens at most")
                elif isinstance(got, torch.Tensor) and got.dim() == 2 and torch.equal(got, want[:, : got.shape[1]]):
                    hint = "too few tokens: exactly max_new_tokens new ones, unless eos_token_id comes first"
                elif isinstance(got, torch.Tensor) and got.dim() == 2 and got.shape[1] > length and torch.equal(
                        got[:, length], model(prompt).logits[:, 0].argmax(-1)) and length > 1:
                    hint = "the next token comes from the LAST position: logits[:, -1], not logits[:, 0]"
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("greedy_generate", trials, body)


# --- Exercise 5 (find the bug): perplexity --------------------------------------------------------------------
def _perplexities(model: nn.Module, ids: torch.Tensor) -> dict[str, float]:
    """The right perplexity and the values of the usual slips, on one sequence ``ids`` ``[1, T]``."""
    with torch.no_grad():
        logits = model(ids).logits.double()
    log_probs = logits.log_softmax(dim=-1)

    def ppl(scores: torch.Tensor, targets: torch.Tensor) -> float:
        return float((-scores.gather(-1, targets.unsqueeze(-1))).mean().exp())

    right = -log_probs[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1))
    return {
        "right": float(right.mean().exp()),
        "no shift": ppl(log_probs, ids),
        "logits shifted only": ppl(log_probs[:, :-1], ids[:, :-1]),
        "targets shifted only": ppl(log_probs[:, 1:], ids[:, 1:]),
        "raw logits": ppl(logits[:, :-1], ids[:, 1:]),
        "probabilities": ppl(logits[:, :-1].softmax(dim=-1), ids[:, 1:]),
        "sum": float(right.sum().exp()),
        "mean nll": float(right.mean()),
    }


_PERPLEXITY_HINTS = {
    "no shift": ("the logits at position t are the model's guess for the token at t + 1 (a decoder predicts the "
                 "NEXT token): score logits[:, :-1] against input_ids[:, 1:]"),
    "logits shifted only": ("shift both sides: logits[:, :-1] (every position but the last) against "
                            "input_ids[:, 1:] (every token but the first)"),
    "targets shifted only": ("shift both sides: logits[:, :-1] (every position but the last) against "
                             "input_ids[:, 1:] (every token but the first)"),
    "raw logits": "logits are not log-probabilities: take log_softmax over the vocabulary (dim=-1) first",
    "probabilities": "take the LOG of the probabilities (log_softmax), not the probabilities themselves",
    "sum": "perplexity is exp of the MEAN negative log-likelihood per token, not of the sum",
    "mean nll": "that is the mean negative log-likelihood (the loss): its exp is the perplexity",
}


@exercise("06", "perplexity")
def check_perplexity(fn: Callable, trials: int = 8, seed: int | None = None) -> CheckResult:
    """Check ``perplexity(model, input_ids)`` -> float: for one sequence ``input_ids`` ``[1, T]``, the exp of the
    mean negative log-likelihood of each token after the first given the tokens before it, where the logits at
    position ``t`` score the token at ``t + 1``. Checked on tiny random causal language models."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_perplexity(perplexity)")
        for _ in range(trials):
            vocab, length = rng.randint(6, 30), rng.randint(3, 10)
            with torch.random.fork_rng(devices=[]):  # the notebook's random state stays as it was
                torch.manual_seed(rng.randrange(2**31))
                model = _TinyLM(vocab).eval()
            ids = torch.randint(0, vocab, (1, length), generator=gen)
            case = current["case"] = (f"perplexity(a tiny random LM with {vocab} tokens, input_ids={ids.tolist()})")
            values = _perplexities(model, ids)
            want = values["right"]
            got = fn(model, ids.clone())
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if not isinstance(got, (int, float)) or isinstance(got, bool):
                raise fail(case, f"{want:.6g}", got, "return one number (a float): nll.mean().exp().item()")
            if not math.isclose(got, want, rel_tol=1e-4):
                hint = "exp(mean over t of -log p(token t + 1 | tokens up to t))"
                for slip, text in _PERPLEXITY_HINTS.items():
                    if math.isfinite(values[slip]) and math.isclose(got, values[slip], rel_tol=1e-4):
                        hint = text
                        break
                raise fail(case, f"{want:.6g}", f"{got:.6g}", hint)

    return run_check("perplexity", trials, body)
