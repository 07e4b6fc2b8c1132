"""Notebook 06's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice import grading
from course_utils.practice.checks import nb06
from course_utils.practice.checks.nb06 import (
    check_greedy_generate,
    check_mean_pool,
    check_next_token_probs,
    check_top_k_search,
)


# --- mean_pool ------------------------------------------------------------------------------------------------
def mean_pool(hidden, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1)


def mean_pool_loop(hidden, attention_mask):
    return torch.stack([h[m.bool()].mean(dim=0) for h, m in zip(hidden, attention_mask)])


@pytest.mark.parametrize("fn", [mean_pool, mean_pool_loop])
def test_mean_pool_accepts_correct_answers(fn) -> None:
    assert_accepted(check_mean_pool, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda h, m: h.mean(dim=1), ["the padding is averaged in"]),
        (lambda h, m: (h * m.unsqueeze(-1)).sum(dim=1) / h.shape[1], ["REAL tokens"]),
        (lambda h, m: (h * m.unsqueeze(-1)).sum(dim=1), ["that is the sum"]),
        (lambda h, m: F.normalize(mean_pool(h, m), dim=-1), ["the mean only"]),
        (lambda h, m: h[:, 0], ["input:    mean_pool("]),
        (lambda h, m: (h * m).sum(dim=1), ["your code raised RuntimeError"]),
    ],
)
def test_mean_pool_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_mean_pool(fn, seed=1), *fragments)


# --- top_k_search ---------------------------------------------------------------------------------------------
def top_k_search(queries, documents, k):
    similarity = F.normalize(queries, dim=1) @ F.normalize(documents, dim=1).T
    return similarity.topk(k, dim=1)


def top_k_search_sorted(queries, documents, k):
    similarity = F.cosine_similarity(queries[:, None], documents[None], dim=-1)
    order = similarity.argsort(dim=1, descending=True)[:, :k]
    return [similarity.gather(1, order), order]


@pytest.mark.parametrize("fn", [top_k_search, top_k_search_sorted])
def test_top_k_search_accepts_correct_answers(fn) -> None:
    assert_accepted(check_top_k_search, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda q, d, k: (q @ d.T).topk(k, dim=1), ["normalise queries AND documents"]),
        (lambda q, d, k: (F.normalize(q, dim=1) @ d.T).topk(k, dim=1), ["normalise the documents too"]),
        (lambda q, d, k: (F.normalize(q, dim=1) @ F.normalize(d, dim=1).T).topk(k, dim=1, largest=False),
         ["LARGEST"]),
        (lambda q, d, k: top_k_search(q, d, k).indices, ["a pair (scores, indices)"]),
        (lambda q, d, k: (top_k_search(q, d, k).values * 10, top_k_search(q, d, k).indices), ["cosine similarities"]),
    ],
)
def test_top_k_search_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_top_k_search(fn, seed=2), *fragments)


# --- next_token_probs -----------------------------------------------------------------------------------------
def next_token_probs(logits, temperature, top_k):
    scaled = logits / temperature
    threshold = scaled.topk(top_k, dim=-1).values[..., -1:]
    return scaled.masked_fill(scaled < threshold, float("-inf")).softmax(dim=-1)


def next_token_probs_renormalised(logits, temperature, top_k):
    probs = torch.softmax(logits / temperature, dim=-1)
    top = probs.topk(top_k, dim=-1)
    kept = torch.zeros_like(probs).scatter(-1, top.indices, top.values)
    return kept / kept.sum(dim=-1, keepdim=True)


@pytest.mark.parametrize("fn", [next_token_probs, next_token_probs_renormalised])
def test_next_token_probs_accepts_correct_answers(fn) -> None:
    assert_accepted(check_next_token_probs, fn)


def no_renormalisation(logits, temperature, top_k):
    probs = torch.softmax(logits / temperature, dim=-1)
    top = probs.topk(top_k, dim=-1)
    return torch.zeros_like(probs).scatter(-1, top.indices, top.values)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda z, t, k: next_token_probs(z * t, 1.0, k), ["DIVIDE the logits"]),
        (lambda z, t, k: torch.softmax(z / t, dim=-1), ["only the top_k"]),
        (no_renormalisation, ["must sum to 1"]),
        (lambda z, t, k: next_token_probs(z, 1.0, k), ["the temperature is missing"]),
        (lambda z, t, k: next_token_probs(z / t, 1.0, k)[..., :k], ["shape"]),
    ],
)
def test_next_token_probs_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_next_token_probs(fn, seed=3), *fragments)


# --- greedy_generate ------------------------------------------------------------------------------------------
@torch.no_grad()
def greedy_generate(model, input_ids, max_new_tokens, eos_token_id=None):
    for _ in range(max_new_tokens):
        next_id = model(input_ids).logits[:, -1].argmax(dim=-1, keepdim=True)
        input_ids = torch.cat([input_ids, next_id], dim=1)
        if eos_token_id is not None and next_id.item() == eos_token_id:
            break
    return input_ids


def greedy_generate_list(model, input_ids, max_new_tokens, eos_token_id=None):
    ids = input_ids[0].tolist()
    while len(ids) < input_ids.shape[1] + max_new_tokens:
        ids.append(int(model(torch.tensor([ids]))[0][0, -1].argmax()))  # a ModelOutput indexes like a tuple
        if ids[-1] == eos_token_id:
            break
    return torch.tensor([ids])


@pytest.mark.parametrize("fn", [greedy_generate, greedy_generate_list])
def test_greedy_generate_accepts_correct_answers(fn) -> None:
    assert_accepted(check_greedy_generate, fn)


def greedy_first_position(model, input_ids, max_new_tokens, eos_token_id=None):
    for _ in range(max_new_tokens):
        next_id = model(input_ids).logits[:, 0].argmax(dim=-1, keepdim=True)
        input_ids = torch.cat([input_ids, next_id], dim=1)
        if next_id.item() == eos_token_id:
            break
    return input_ids


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda m, ids, n, eos: greedy_generate(m, ids, n, None), ["stop right after", "eos_token_id="]),
        (lambda m, ids, n, eos: greedy_generate(m, ids, n, eos)[:, ids.shape[1]:], ["return the prompt"]),
        (lambda m, ids, n, eos: greedy_generate(m, ids, n - 1, eos), ["too few tokens"]),
        (greedy_first_position, ["logits[:, -1], not logits[:, 0]"]),
        (lambda m, ids, n, eos: greedy_generate(m, ids.float(), n, eos), ["your code raised TypeError", "torch.long"]),
    ],
)
def test_greedy_generate_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_greedy_generate(fn, seed=4), *fragments)


def test_greedy_generate_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_greedy_generate(greedy_generate, seed=5)
    assert torch.equal(torch.rand(3), expected)


# --- bad input ------------------------------------------------------------------------------------------------
def test_bad_input_is_feedback_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rejected(check_mean_pool(mean_pool(torch.ones(1, 2, 2), torch.ones(1, 2))), "something callable")
    assert_rejected(check_top_k_search(lambda q, d, k: 1 / 0), "ZeroDivisionError", "input:")
    assert_rejected(check_next_token_probs(lambda z, t, k: "probabilities"), "a tensor is expected")

    def forever(model, input_ids, max_new_tokens, eos_token_id=None):
        while True:
            pass

    monkeypatch.setattr(nb06, "run_check", functools.partial(grading.run_check, time_limit=0.5))
    assert_rejected(nb06.check_greedy_generate(forever), "time limit of 0.5 s", "greedy_generate(a tiny")


# --- perplexity (find the bug: the next-token shift) ---------------------------------------------------------
def perplexity(model, input_ids):
    with torch.no_grad():
        logits = model(input_ids).logits
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    return (-log_probs.gather(-1, input_ids[:, 1:].unsqueeze(-1))).mean().exp().item()


def perplexity_cross_entropy(model, input_ids):  # the same with the loss function, returned as a tensor
    logits = model(input_ids).logits
    return F.cross_entropy(logits[0, :-1], input_ids[0, 1:]).exp().detach()


def perplexity_unshifted(model, input_ids):  # the notebook's bug
    with torch.no_grad():
        logits = model(input_ids).logits
    log_probs = logits.log_softmax(dim=-1)
    return (-log_probs.gather(-1, input_ids.unsqueeze(-1))).mean().exp().item()


def perplexity_logits_shifted_only(model, input_ids):  # a wrong fix: shifts one side only
    with torch.no_grad():
        logits = model(input_ids).logits
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    return (-log_probs.gather(-1, input_ids[:, :-1].unsqueeze(-1))).mean().exp().item()


def perplexity_raw_logits(model, input_ids):
    with torch.no_grad():
        logits = model(input_ids).logits
    return (-logits[:, :-1].gather(-1, input_ids[:, 1:].unsqueeze(-1))).mean().exp().item()


def perplexity_sum(model, input_ids):
    with torch.no_grad():
        logits = model(input_ids).logits
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    return (-log_probs.gather(-1, input_ids[:, 1:].unsqueeze(-1))).sum().exp().item()


@pytest.mark.parametrize("fn", [perplexity, perplexity_cross_entropy])
def test_perplexity_accepts_correct_answers(fn) -> None:
    assert_accepted(nb06.check_perplexity, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (perplexity_unshifted, ["the NEXT token", "input_ids[:, 1:]"]),
        (perplexity_logits_shifted_only, ["shift both sides"]),
        (perplexity_raw_logits, ["log_softmax"]),
        (perplexity_sum, ["MEAN"]),
        (lambda m, ids: [perplexity(m, ids)], ["return one number"]),
    ],
)
def test_perplexity_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(nb06.check_perplexity(fn, seed=0), *fragments)
