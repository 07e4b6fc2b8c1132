"""Checkers for notebook 11 (gradient accumulation): the memory of a training step, one accumulated optimizer
step (a find-the-bug exercise: zero_grad inside the micro-batch loop, the loss not divided by their number),
accumulation over uneven micro-batches equal to the large batch, and the token-level loss pieces that make
padded accumulation exact."""

from __future__ import annotations

import copy
import numbers
import random
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem

_STATES = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}  # optimizer values kept per trainable parameter


# --- Exercise 1: memory arithmetic ----------------------------------------------------------------------------
def _random_model(rng: random.Random) -> tuple[nn.Module, str]:
    widths = [rng.randint(1, 12) for _ in range(rng.randint(2, 4))]
    layers: list[nn.Module] = [nn.Embedding(rng.randint(5, 30), widths[0])]
    layers += [nn.Linear(a, b, bias=rng.random() < 0.7) for a, b in zip(widths, widths[1:])]
    layers.append(nn.LayerNorm(widths[-1]))
    frozen = [i for i in range(len(layers)) if rng.random() < 0.35]
    for i in frozen:
        layers[i].requires_grad_(False)
    model = nn.Sequential(*layers)
    model.register_buffer("not_a_parameter", torch.zeros(rng.randint(1, 50)))
    described = ", ".join(f"{type(m).__name__}{' (frozen)' if i in frozen else ''}" for i, m in enumerate(layers))
    return model, described


@exercise("11", "training_memory")
def check_training_memory(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``training_memory_bytes(model, optimizer, bytes_per_value)``: the bytes a training step keeps before
    activations: the weights of **every** parameter, plus, for the **trainable** ones only (``requires_grad``), a
    gradient and the optimizer's state (``"sgd"``: none, ``"sgd_momentum"``: 1 value, ``"adamw"``: 2 values per
    parameter), all at ``bytes_per_value`` bytes. Buffers are not counted. Returns an int."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_training_memory(training_memory_bytes)")
        for _ in range(trials):
            model, described = _random_model(rng)
            optimizer, size = rng.choice(sorted(_STATES)), rng.choice([2, 4])
            case = current["case"] = (f"training_memory_bytes(nn.Sequential({described}), "
                                      f"optimizer={optimizer!r}, bytes_per_value={size})")
            every = sum(p.numel() for p in model.parameters())
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            want = size * (every + trainable * (1 + _STATES[optimizer]))
            got = fn(model, optimizer, size)
            if isinstance(got, bool) or not isinstance(got, numbers.Real) or got != want:
                if isinstance(got, numbers.Real) and got == size * every * (2 + _STATES[optimizer]):
                    hint = "frozen parameters (requires_grad False) get no gradient and no optimizer state"
                elif isinstance(got, numbers.Real) and got == size * (every + trainable):
                    hint = f"add the optimizer state: {_STATES[optimizer]} value(s) per trainable parameter"
                else:
                    hint = ("weights of every parameter + (gradient + optimizer states) of the trainable ones, "
                            "times bytes_per_value; buffers do not count")
                raise fail(case, want, got, hint)

    return run_check("training_memory_bytes", trials, body)


# --- Exercise 2: accumulation over uneven micro-batches -------------------------------------------------------
def _flat_grads(model: nn.Module) -> torch.Tensor:
    """Every parameter's gradient in one flat vector, zeros where ``.grad`` is None."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in model.parameters()])


def _net(rng: random.Random, features: int) -> nn.Module:
    torch.manual_seed(rng.randrange(2**31))
    return nn.Sequential(nn.Linear(features, 5), nn.Tanh(), nn.Linear(5, 1)).double()


@exercise("11", "accumulate_gradients")
def check_accumulate_gradients(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``accumulate_gradients(model, loss_fn, inputs, targets, micro_batch_size)``: leave in every ``p.grad``
    exactly the gradient of the **whole batch's** mean loss, computed from micro-batches of at most
    ``micro_batch_size`` examples (the last one may be smaller, so a plain ``/ k`` is not enough: weigh each
    micro-batch mean by its share of the examples); gradients already in ``.grad`` are cleared first, the
    parameters are not changed; return the whole batch's mean loss as a number."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_accumulate_gradients(accumulate_gradients)")
        for trial in range(trials):
            n, features = rng.randint(4, 30), rng.randint(1, 5)
            micro = rng.randint(1, n) if trial % 3 else rng.choice([m for m in range(2, n) if n % m] or [n])
            x = torch.randn(n, features, generator=gen, dtype=torch.float64)
            y = torch.randn(n, 1, generator=gen, dtype=torch.float64)
            model = _net(rng, features)
            reference = copy.deepcopy(model)
            loss = nn.MSELoss()(reference(x), y)
            loss.backward()
            stale = trial % 2 == 1
            junk = torch.zeros(0, dtype=torch.float64)
            if stale:  # an earlier step's gradient, still there
                old_grads = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in model.parameters()]
                for p, old_grad in zip(model.parameters(), old_grads):
                    p.grad = old_grad
                junk = torch.cat([g.flatten() for g in old_grads])
            before = [p.detach().clone() for p in model.parameters()]
            case = current["case"] = (f"accumulate_gradients(model, MSELoss(), inputs of shape {tuple(x.shape)}, "
                                      f"targets, micro_batch_size={micro})"
                                      + (" with old gradients left in .grad" if stale else ""))
            got_loss = fn(model, nn.MSELoss(), x, y, micro)
            for p, old in zip(model.parameters(), before):
                if not torch.equal(p.detach(), old):
                    raise fail(case, "the parameters unchanged", "they changed",
                               "only accumulate the gradients: no optimizer step here")
            got, want = _flat_grads(model), _flat_grads(reference)
            if problem := tensor_problem(got, want, atol=1e-12, rtol=1e-9):
                ratio = (got.norm() / want.norm()).item() if want.norm() > 0 else float("nan")
                k = -(-n // micro)
                if stale and tensor_problem(got - junk, want, atol=1e-12, rtol=1e-9) is None:
                    hint = "clear the old gradients first (model.zero_grad() or p.grad = None)"
                elif abs(ratio - k) < 1e-6 * k:
                    hint = f"{k} micro-batch means were added up without scaling: divide"
                else:
                    hint = ("weigh each micro-batch's mean loss by len(micro-batch) / len(inputs) before backward "
                            "(dividing by the number of micro-batches is right only when they are equally big)")
                raise fail(f"{case}; the gradients", show(want, 120), show(got, 120),
                           f"{problem} (norm ratio {ratio:.4g}); {hint}")
            if not isinstance(got_loss, numbers.Real) and not (isinstance(got_loss, torch.Tensor)
                                                               and got_loss.numel() == 1):
                raise fail(f"{case}; the returned loss", loss.item(), got_loss, "return the whole batch's mean loss")
            if abs(float(got_loss) - loss.item()) > 1e-9 * max(1.0, loss.item()):
                raise fail(f"{case}; the returned loss", loss.item(), float(got_loss),
                           "the whole batch's mean: sum of (micro-batch mean x its size) / number of examples")

    return run_check("accumulate_gradients", trials, body)


# --- Find the bug: one accumulated optimizer step --------------------------------------------------------------
def _sgd_step(model: nn.Module, grads: list[torch.Tensor], lr: float) -> torch.Tensor:
    """The flat parameters after a plain SGD step with ``grads``."""
    return torch.cat([(p.detach() - lr * g).flatten() for p, g in zip(model.parameters(), grads)])


def _grads_of(model: nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


@exercise("11", "accumulation_step")
def check_accumulation_step(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``accumulation_step(model, optimizer, loss_fn, micro_batches)``: ONE optimizer step with the gradient of
    the mean loss over all the (equally big) micro-batches, as if they were one batch: ``zero_grad`` once before
    the first micro-batch (an earlier step's gradients must not leak in), each micro-batch's loss divided by their
    number, ``optimizer.step()`` once at the end. Checked with plain SGD, which shows any error of scale."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_accumulation_step(accumulation_step)")
        for trial in range(trials):
            k, size, features, lr = rng.randint(2, 5), rng.randint(2, 6), rng.randint(1, 4), 0.1
            micro_batches = [(torch.randn(size, features, generator=gen, dtype=torch.float64),
                              torch.randn(size, 1, generator=gen, dtype=torch.float64)) for _ in range(k)]
            model = _net(rng, features)
            reference = copy.deepcopy(model)
            stale = trial % 2 == 0
            old = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in model.parameters()]
            if stale:  # the previous step's gradients, still in .grad
                for p, g in zip(model.parameters(), old):
                    p.grad = g.clone()
            x, y = torch.cat([b[0] for b in micro_batches]), torch.cat([b[1] for b in micro_batches])
            loss_fn = nn.MSELoss()
            full = _grads_of(reference, loss_fn(reference(x), y))
            last = _grads_of(reference, loss_fn(reference(micro_batches[-1][0]), micro_batches[-1][1]))
            want = _sgd_step(reference, full, lr)
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            case = current["case"] = (f"accumulation_step(model, SGD(lr={lr}), MSELoss(), {k} micro-batches of "
                                      f"{size} examples)" + (" with the previous step's gradients in .grad"
                                                             if stale else ""))
            fn(model, optimizer, loss_fn, [(a.clone(), b.clone()) for a, b in micro_batches])
            got = torch.cat([p.detach().flatten() for p in model.parameters()])
            if problem := tensor_problem(got, want, atol=1e-12, rtol=1e-9):
                start = torch.cat([p.detach().flatten() for p in reference.parameters()])
                candidates = [
                    (start, "the parameters did not move: call optimizer.step() once, after the last micro-batch"),
                    (_sgd_step(reference, last, lr), "only the LAST micro-batch's gradient reached the step: "
                     "zero_grad() inside the loop wipes what the earlier micro-batches added to .grad"),
                    (_sgd_step(reference, [g / k for g in last], lr), "only the LAST micro-batch's gradient "
                     "reached the step: zero_grad() inside the loop wipes what the earlier micro-batches added"),
                    (_sgd_step(reference, [g * k for g in full], lr), f"the step is {k} times too large: the "
                     f"{k} micro-batch means were added up; divide each loss by the number of micro-batches"),
                    (_sgd_step(reference, [g + o for g, o in zip(full, old)], lr), "the previous step's "
                     "gradients leaked in: zero_grad() once, before the first micro-batch"),
                    (_sgd_step(reference, [g * k + o for g, o in zip(full, old)], lr), "the previous step's "
                     "gradients leaked in (zero_grad() once, before the first micro-batch), and the micro-batch "
                     "losses are not divided by their number"),
                ]
                hint = ("zero_grad() once, then for each micro-batch (loss / number of micro-batches).backward(), "
                        "then ONE optimizer.step()")
                for wrong, text in candidates:
                    if tensor_problem(got, wrong, atol=1e-12, rtol=1e-9) is None:
                        hint = text
                        break
                raise fail(case + "; the parameters after the call", show(want, 120), show(got, 120),
                           f"{problem}; {hint}")

    return run_check("accumulation_step", trials, body)


# --- Exercise 3: token-level loss pieces ----------------------------------------------------------------------
@exercise("11", "token_loss_sum")
def check_token_loss_sum(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``token_loss_sum_and_count(logits, labels)``: for ``logits`` ``[B, T, V]`` and ``labels`` ``[B, T]``
    in which ``-100`` marks padding, return ``(loss_sum, count)``: the **sum** of the cross-entropy over the real
    tokens, as a tensor that ``backward`` can go through, and the number of real tokens (an int). A micro-batch
    of padding only gives ``(0, 0)``, never NaN; summed over micro-batches and divided by the total count, these
    give exactly the token-level mean of the whole batch."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_token_loss_sum(token_loss_sum_and_count)")
        padding_only = min(3, trials - 1)  # after a few ordinary cases
        for trial in range(trials):
            b, t, v = rng.randint(2, 4), rng.randint(1, 6), rng.randint(2, 7)
            logits = torch.randn(b, t, v, generator=gen, dtype=torch.float64).requires_grad_()
            labels = torch.randint(0, v, (b, t), generator=gen)
            pad = torch.rand(b, t, generator=gen) < (1.0 if trial == padding_only else rng.choice([0.0, 0.3, 0.6]))
            labels[pad] = -100
            case = current["case"] = (f"token_loss_sum_and_count(logits of shape {(b, t, v)}, labels={labels.tolist()})"
                                      + ("  (padding only)" if trial == padding_only else ""))
            want_sum = F.cross_entropy(logits.reshape(-1, v), labels.reshape(-1), ignore_index=-100, reduction="sum")
            want_count = int((labels != -100).sum())
            got = fn(logits, labels.clone())
            if not isinstance(got, tuple) or len(got) != 2:
                raise fail(case, "a tuple (loss_sum, count)", got, "return loss_sum, count")
            got_sum, got_count = got
            if not isinstance(got_sum, torch.Tensor) or not got_sum.requires_grad and want_count:
                raise fail(case, "loss_sum as a tensor that requires grad", repr(got_sum)[:80],
                           "keep the tensor (no .item()): backward must go through it")
            if not isinstance(got_count, numbers.Integral) and not (
                    isinstance(got_count, torch.Tensor) and got_count.numel() == 1):
                raise fail(case, f"count {want_count}", got_count, "count = (labels != -100).sum()")
            if int(got_count) != want_count:
                raise fail(case, f"count {want_count}", int(got_count), "count only the real tokens: labels != -100")
            if problem := tensor_problem(got_sum.reshape(()), want_sum, atol=1e-9, rtol=1e-9):
                if bool(torch.isnan(got_sum).any()):
                    hint = "a micro-batch of padding only must give 0, not NaN: sum, do not average"
                elif want_count and abs(got_sum.item() * want_count - want_sum.item()) < 1e-9 * want_count:
                    hint = "that is the mean: reduction='sum' (the division comes later, by the total count)"
                else:
                    hint = "F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100, " \
                           "reduction='sum')"
                raise fail(f"{case}; loss_sum", want_sum.item(), got_sum.detach().reshape(-1)[0].item(),
                           f"{problem}; {hint}")

    return run_check("token_loss_sum_and_count", trials, body)
