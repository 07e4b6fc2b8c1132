"""The translator of notebook 10b (course_utils.translation) and its batching (course_utils.batching)."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, TrainingArguments

from course_utils.batching import Seq2SeqCollator, TokenBudgetBatchSampler, TokenBudgetTrainer
from course_utils.hf import quiet_transformers
from course_utils.tokenizer import train_bpe_tokenizer, wrap_for_transformers
from course_utils.translation import (
    TranslationConfig,
    TranslationModel,
    register_translation_model,
    shift_right,
)

quiet_transformers()
SENTENCES = [
    "In the beginning God created the heavens and the earth.",
    "En el principio crió Dios los cielos y la tierra.",
    "And God said, Let there be light: and there was light.",
    "Y dijo Dios: Sea la luz: y fué la luz.",
] * 5


@pytest.fixture(scope="module")
def tokenizer():
    return wrap_for_transformers(train_bpe_tokenizer(SENTENCES, vocab_size=120, min_frequency=1))


def tiny_model(vocab_size: int = 120, **kwargs) -> TranslationModel:
    torch.manual_seed(0)
    settings = {"d_model": 32, "n_heads": 4, "encoder_layers": 2, "decoder_layers": 2, "d_ff": 64, "dropout": 0.0}
    return TranslationModel(TranslationConfig(vocab_size=vocab_size, **{**settings, **kwargs})).eval()


def test_forward_loss_ignores_padding_and_shift_right() -> None:
    model = tiny_model()
    ids = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])
    labels = torch.tensor([[9, 10, 2], [11, 2, -100]])
    assert shift_right(labels, 1, 0).tolist() == [[1, 9, 10], [1, 11, 2]]
    out = model(input_ids=ids, labels=labels)
    assert out.logits.shape == (2, 3, 120) and torch.isfinite(out.loss)
    padded = model(input_ids=torch.nn.functional.pad(ids, (0, 3)), labels=labels)  # more padding, same loss
    assert torch.allclose(out.loss, padded.loss, atol=1e-5)
    assert model.lm_head is None  # tied embeddings: the embedding table is the output layer
    assert tiny_model(tie_embeddings=False).num_parameters() == model.num_parameters() + 120 * 32


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_with_and_without_cache_agree(num_beams: int) -> None:
    model = tiny_model()
    ids = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])
    cached = model.generate(input_ids=ids, attention_mask=(ids != 0).long(), num_beams=num_beams, max_new_tokens=12)
    plain = model.generate(input_ids=ids, attention_mask=(ids != 0).long(), num_beams=num_beams, max_new_tokens=12,
                           use_cache=False)
    assert torch.equal(cached, plain) and cached[:, 0].eq(1).all()


def copy_trained_model(steps: int = 300) -> tuple[TranslationModel, torch.Tensor]:
    """A tiny model trained for a few seconds to copy its source: its next token depends on position and history.

    300 steps: with 150 it copied exactly on 2 threads but not on 1 (the rounding of the sums differs).
    """
    model, generator = tiny_model(vocab_size=24), torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        body = torch.randint(3, 24, (32, 6), generator=generator)
        ids = torch.cat([torch.ones(32, 1, dtype=torch.long), body, torch.full((32, 1), 2)], dim=1)
        loss = model(input_ids=ids, labels=ids[:, 1:]).loss  # predict body + </s> after <s>
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    body = torch.randint(3, 24, (2, 6), generator=generator)
    return model.eval(), torch.cat([torch.ones(2, 1, dtype=torch.long), body, torch.full((2, 1), 2)], dim=1)


def test_generate_equals_a_greedy_loop_through_forward() -> None:
    """generate() with its cache must pick the tokens that the plain teacher-forcing forward pass picks.

    This catches a model that ignores the cache generate() passes (the argument was renamed from
    `past_key_values` to `cache` in transformers 5.24): generate() then feeds only the newest token, at position 0.
    """
    model, ids = copy_trained_model()
    generated = model.generate(input_ids=ids, max_new_tokens=7)
    loop = torch.ones(2, 1, dtype=torch.long)  # <s>, then the most likely token, fed back, without a cache
    with torch.no_grad():
        for _ in range(7):
            logits = model(input_ids=ids, decoder_input_ids=loop).logits[:, -1]
            loop = torch.cat([loop, logits.argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(loop[:, 1:], ids[:, 1:]), "the copy model should have learned to copy"
    assert torch.equal(generated, loop)


def test_cross_attentions_are_returned_per_layer() -> None:
    out = tiny_model()(input_ids=torch.tensor([[1, 5, 6, 2]]), decoder_input_ids=torch.tensor([[1, 7, 8]]),
                       output_attentions=True)
    assert len(out.cross_attentions) == 2 and out.cross_attentions[0].shape == (1, 4, 3, 4)
    assert torch.allclose(out.cross_attentions[0].sum(-1), torch.ones(1, 4, 3))


def test_save_and_reload_through_auto_classes(tmp_path: Path) -> None:
    register_translation_model()
    model, ids = tiny_model(), torch.tensor([[1, 5, 6, 7, 2]])
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is TranslationModel
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids, labels=ids).logits, reloaded(input_ids=ids, labels=ids).logits)


def test_empty_text_is_translated_and_long_text_truncated(tokenizer) -> None:
    model = tiny_model(vocab_size=len(tokenizer), max_positions=16)
    empty = tokenizer([""], return_tensors="pt")
    assert empty["input_ids"].tolist() == [[1, 2]]  # <s> </s>: documented, not an error
    assert model.generate(**empty, max_new_tokens=5).shape[0] == 1
    long = tokenizer([" ".join(SENTENCES)], truncation=True, max_length=16, return_tensors="pt")
    assert long["input_ids"].shape[1] == 16 and model.generate(**long, max_new_tokens=5).shape[0] == 1


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"input_ids": torch.empty(1, 0, dtype=torch.long)}, "length >= 1"),
        ({"input_ids": torch.ones(1, 30, dtype=torch.long)}, "truncation=True"),
        ({"input_ids": torch.tensor([[1, 500, 2]])}, "outside the vocabulary"),
        ({"input_ids": torch.tensor([[1, -3, 2]])}, "outside the vocabulary"),
        ({"input_ids": torch.tensor([[1, 5, 2]]), "num_beams": 0}, "num_beams must be an int >= 1"),
        ({"input_ids": torch.tensor([[1, 5, 2]]), "num_beams": 2.0}, "num_beams must be an int"),
        ({"input_ids": torch.tensor([[1, 5, 2]]), "max_new_tokens": 40}, "max_new_tokens=40"),
        ({"input_ids": torch.tensor([[1, 5, 2]]), "attention_mask": torch.zeros(1, 3, dtype=torch.long)}, "no tokens"),
    ],
)
def test_bad_generate_inputs_fail_clearly(inputs: dict, message: str) -> None:
    model = tiny_model(max_positions=20)
    with pytest.raises((TypeError, ValueError), match=message):
        model.generate(**{"max_new_tokens": 5, **inputs})


def test_bad_forward_inputs_fail_clearly() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="input_ids"):
        model(labels=torch.tensor([[5, 2]]))
    with pytest.raises(ValueError, match="decoder_input_ids or labels"):
        model(input_ids=torch.tensor([[1, 5, 2]]))
    with pytest.raises(ValueError, match="divisible"):
        TranslationConfig(d_model=30, n_heads=4)


def test_token_budget_batches_cover_everything_within_budget() -> None:
    lengths = [5, 9, 3, 12, 7, 7, 20, 4, 30, 6] * 3
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=24, seed=0)
    assert sorted(i for b in sampler.batches for i in b) == list(range(len(lengths)))
    for batch in sampler.batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 24 or len(batch) == 1  # 30 > 24 stays alone
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert sorted(map(tuple, epoch0)) == sorted(map(tuple, epoch1)) and epoch0 != epoch1  # same batches, new order
    sampler.set_epoch(0)
    assert list(sampler) == epoch0 and len(sampler) == len(epoch0)
    with pytest.raises(ValueError, match="positive token counts"):
        TokenBudgetBatchSampler([3, 0], 10)
    with pytest.raises(ValueError, match="max_tokens"):
        TokenBudgetBatchSampler([3], 0)


def test_collator_pads_and_shifts() -> None:
    batch = Seq2SeqCollator(pad_id=0, start_id=1)([{"input_ids": [1, 5, 2], "labels": [7, 2]},
                                                    {"input_ids": [1, 2], "labels": [8, 9, 2]}])
    assert batch["input_ids"].tolist() == [[1, 5, 2], [1, 2, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[7, 2, -100], [8, 9, 2]]
    assert batch["decoder_input_ids"].tolist() == [[1, 7, 2], [1, 8, 9]]
    with pytest.raises(ValueError, match="no source or no label"):
        Seq2SeqCollator(0, 1)([{"input_ids": [], "labels": [2]}])


def test_token_budget_trainer_trains(tmp_path: Path, tokenizer) -> None:
    source, target = tokenizer(SENTENCES[0::2])["input_ids"], tokenizer(SENTENCES[1::2])["input_ids"]
    rows = {"input_ids": source, "labels": [t[1:] for t in target], "length": [len(s) + len(t) for s, t in
                                                                               zip(source, target)]}
    data = datasets.Dataset.from_dict(rows)
    model = tiny_model(vocab_size=len(tokenizer))
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=12, learning_rate=3e-3, logging_steps=1,
                             report_to="none", save_strategy="no", disable_tqdm=True, label_smoothing_factor=0.1,
                             dataloader_pin_memory=False)
    trainer = TokenBudgetTrainer(model=model, args=args, train_dataset=data, max_tokens=100,
                                 data_collator=Seq2SeqCollator(tokenizer.pad_token_id, tokenizer.bos_token_id))
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="'length' column"):
        TokenBudgetTrainer(model=model, args=args, train_dataset=data.remove_columns("length"),
                           max_tokens=100).get_train_dataloader()
