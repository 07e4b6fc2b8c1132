"""Unit tests of course_utils.post_training: LoRA target checks, chat data, reward checks, samples and log-probs.

Everything runs on tiny randomly initialised models (built from a config in milliseconds) with the packaged
MiniLM tokenizer, so no cache entry has to be built.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from course_utils import post_training as pt
from course_utils.assets import encoder_path

CHAT_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(encoder_path())
    tok.chat_template = CHAT_TEMPLATE
    tok.eos_token = "[SEP]"
    return tok


@pytest.fixture(scope="module")
def tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2, id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1})
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="module")
def tiny_lm(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.cls_token_id)
    return LlamaForCausalLM(config).eval()


# ------------------------------------------------------------------------------------------------- LoRA
def test_linear_layer_names(tiny_bert) -> None:
    names = pt.linear_layer_names(tiny_bert)
    assert {"query", "key", "value", "dense", "classifier"} <= set(names)
    assert "LayerNorm" not in names


def test_require_target_modules_accepts_real_names(tiny_bert) -> None:
    assert pt.require_target_modules(tiny_bert, ["query", "value"]) == ["query", "value"]
    assert pt.require_target_modules(tiny_bert, "all-linear") == "all-linear"
    assert pt.require_target_modules(tiny_bert, r".*\.(query|key)") == r".*\.(query|key)"


def test_a_misspelt_target_module_is_an_error_that_lists_the_real_names(tiny_bert) -> None:
    with pytest.raises(ValueError, match=r"no module named \['valeu'\].*'value'"):
        pt.require_target_modules(tiny_bert, ["query", "valeu"])


def test_peft_alone_would_silently_skip_the_misspelt_name(tiny_bert) -> None:
    """Why the check exists: PEFT raises only when no name matches at all."""
    import copy

    from peft import LoraConfig, get_peft_model

    model = get_peft_model(copy.deepcopy(tiny_bert), LoraConfig(r=2, target_modules=["query", "valeu"]))
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if "lora_A" in n}
    assert adapted == {"query"}  # "valeu" was ignored without a word


def test_target_modules_that_are_not_linear_layers_or_match_nothing(tiny_bert) -> None:
    with pytest.raises(ValueError, match="not a linear layer: \\['attention \\(BertAttention\\)'\\]"):
        pt.require_target_modules(tiny_bert, ["attention"])
    with pytest.raises(ValueError, match="matches no linear layer"):
        pt.require_target_modules(tiny_bert, "q_proj")
    with pytest.raises(ValueError, match="non-empty"):
        pt.require_target_modules(tiny_bert, [])


def test_count_parameters_and_folder_size(tiny_bert, tmp_path: Path) -> None:
    trainable, total = pt.count_parameters(tiny_bert)
    assert trainable == total == sum(p.numel() for p in tiny_bert.parameters())
    (tmp_path / "a.bin").write_bytes(b"x" * 2**20)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"x" * 2**19)
    assert pt.folder_megabytes(tmp_path) == pytest.approx(1.5)
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        pt.folder_megabytes(tmp_path / "missing")


# ------------------------------------------------------------------------------------------ chat data
def test_require_chat_template(tokenizer) -> None:
    assert pt.require_chat_template(tokenizer) == CHAT_TEMPLATE
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(encoder_path())
    with pytest.raises(ValueError, match="no chat template"):
        pt.require_chat_template(bare)


def test_chat_example_and_parse_sentiment() -> None:
    example = pt.chat_example("Is it good?", "positive")
    assert example == {
        "prompt": [{"role": "user", "content": "Is it good?"}],
        "completion": [{"role": "assistant", "content": "positive"}],
    }
    with pytest.raises(ValueError, match="answer"):
        pt.chat_example("Is it good?", "  ")
    assert pt.parse_sentiment("Positive.") == "positive"
    assert pt.parse_sentiment("The sentiment is NEGATIVE, not positive") == "negative"
    assert pt.parse_sentiment("It is a positively nice day") is None
    assert pt.parse_sentiment("neutral") is None


def test_a_system_message_goes_first_and_none_leaves_it_to_the_template() -> None:
    example = pt.chat_example("Is it good?", "positive", system="")
    assert example["prompt"] == [{"role": "system", "content": ""}, {"role": "user", "content": "Is it good?"}]
    assert pt.chat_messages("Hi") == [{"role": "user", "content": "Hi"}]
    with pytest.raises(ValueError, match="system must be text"):
        pt.chat_messages("Hi", system=3)
    with pytest.raises(ValueError, match="question"):
        pt.chat_messages(" ")


# ---------------------------------------------------------------------------------------------- rewards
def test_require_rewards_accepts_one_finite_reward_per_completion() -> None:
    assert pt.require_rewards([0, 0.5, 1], 3) == [0.0, 0.5, 1.0]
    assert pt.require_rewards(torch.tensor([0.25, 0.75]), 2) == [0.25, 0.75]


@pytest.mark.parametrize(
    ("rewards", "message"),
    [
        ([0.1, 0.2], "2 rewards for 3 completions"),
        ([0.1, float("nan"), 0.3], "non-finite or missing"),
        ([0.1, None, 0.3], "non-finite or missing"),
        ([0.1, math.inf, 0.3], "non-finite or missing"),
        (0.5, "not a list"),
    ],
)
def test_require_rewards_rejects_bad_output(rewards, message) -> None:
    with pytest.raises(pt.RewardError, match=message):
        pt.require_rewards(rewards, 3)


def test_checked_reward_wraps_a_trl_style_function() -> None:
    def too_few(prompts, completions, **kwargs):
        return [1.0] * (len(completions) - 1)

    def ratio(prompts, completions, **kwargs):
        return [c.count("!") / len(c.split()) if c.split() else float("nan") for c in completions]

    wrapped = pt.checked_reward(ratio)
    assert wrapped.__name__ == "ratio"
    assert wrapped(prompts=["p", "p"], completions=["a !", "b c"]) == [0.5, 0.0]
    with pytest.raises(pt.RewardError, match="ratio returned 1 non-finite"):
        wrapped(prompts=["p"], completions=[""])
    with pytest.raises(pt.RewardError, match="1 rewards for 2 completions"):
        pt.checked_reward(too_few)(prompts=["p", "p"], completions=["a", "b"])


def test_completion_text() -> None:
    assert pt.completion_text("hi") == "hi"
    assert pt.completion_text([{"role": "assistant", "content": "hi there"}]) == "hi there"
    with pytest.raises(TypeError, match="string or a list of chat messages"):
        pt.completion_text(3)


def test_sentiment_reward_scores_completions_with_the_classifier(tiny_bert, tokenizer, tmp_path: Path) -> None:
    tiny_bert.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reward = pt.SentimentReward(tmp_path, batch_size=2)
    texts = ["what a great day", "awful", "ok then"]
    scores = reward(prompts=["p"] * 3, completions=[[{"role": "assistant", "content": t}] for t in texts])
    assert len(scores) == 3 and all(0.0 < s < 1.0 for s in scores)
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        expected = torch.softmax(tiny_bert(**batch).logits, -1)[:, 1]
    assert torch.allclose(torch.tensor(scores), expected, atol=1e-5)
    assert reward.__name__ == "positive_sentiment"


# ---------------------------------------------------------------------------------- samples and KL
def test_sample_completions_is_seeded_and_leaves_the_callers_rng_alone(tiny_lm, tokenizer) -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = pt.sample_completions(tiny_lm, tokenizer, ["hello", "a longer prompt here"], n=2, max_new_tokens=5, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    again = pt.sample_completions(tiny_lm, tokenizer, ["hello", "a longer prompt here"], n=2, max_new_tokens=5, seed=7)
    assert first.texts == again.texts and torch.equal(first.sequences, again.sequences)
    assert len(first.texts) == 4 and first.n == 2
    assert first.sequences.shape == first.attention_mask.shape == first.completion_mask.shape
    assert first.completion_mask.sum(1).min() >= 1


def test_an_error_in_generate_leaves_the_tokenizer_and_the_model_as_they_were(
    tiny_lm, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tiny_lm, "generate", broken)
    tiny_lm.train()
    side = tokenizer.padding_side
    with pytest.raises(RuntimeError, match="out of memory"):
        pt.sample_completions(tiny_lm, tokenizer, ["hello"], n=1, max_new_tokens=2, seed=0)
    assert tiny_lm.training and tokenizer.padding_side == side  # before: left in eval mode


def test_completion_logprob_equals_the_masked_language_model_loss(tiny_lm, tokenizer) -> None:
    samples = pt.sample_completions(tiny_lm, tokenizer, ["hello there"], n=1, max_new_tokens=6, seed=0)
    logp = pt.completion_logprob(tiny_lm, samples)
    labels = samples.sequences.clone()
    labels[samples.completion_mask == 0] = -100
    with torch.no_grad():
        loss = tiny_lm(input_ids=samples.sequences, attention_mask=samples.attention_mask, labels=labels).loss
    n_tokens = int(samples.completion_mask.sum())
    assert logp.shape == (1,)
    assert logp.item() == pytest.approx(-loss.item() * n_tokens, rel=1e-4)
    assert pt.completion_logprob(tiny_lm, samples).item() == logp.item()  # KL of a model to itself: 0
