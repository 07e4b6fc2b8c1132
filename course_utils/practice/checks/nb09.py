"""Checkers for notebook 09 (a custom tokenizer): a normalizer, a pre-tokenizer and a post-processor, each built
from the ``tokenizers`` pieces and tested on random text against a plain-Python reference."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_LETTERS = list("abcdefXYZ") + list("ÁÉÍÓÚÑÜáéíóúñü")
_ODD = ["ﬁ", "Ｄ", "ｉ", "½", "e\u0301", "Ä"]  # a ligature, full-width letters, a fraction, a combining accent
_SPACES = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2009"]  # NFKC turns the last three into plain spaces
_PUNCTUATION = list(".,;:!?¿¡'\"()-«»")


def _normalized(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def _string(rng: random.Random, alphabet: list[str], longest: int = 16) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


# --- Exercise 1: a normalizer ---------------------------------------------------------------------------------
@exercise("09", "normalizer")
def check_normalizer(fn: Callable, trials: int = 40, seed: int | None = None) -> CheckResult:
    """Check ``make_normalizer()``: it returns a ``tokenizers`` normalizer (anything with ``normalize_str``) that
    applies NFKC, turns every run of whitespace (spaces, tabs, newlines, and the odd Unicode spaces NFKC turns
    into spaces) into one space, removes leading and trailing spaces, and lowercases; accents stay. The reference
    is ``" ".join(unicodedata.normalize("NFKC", text).split()).lower()``, on random strings."""
    rng, _ = random_sources(seed)
    fixed = ["  Él   dijo:\tﬁn\n", "Ｄｉｏｓ\u00a0\u00a0½", "e\u0301L"]

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_normalizer(make_normalizer)")
        current["case"] = "make_normalizer()"
        normalizer = fn()
        if not hasattr(normalizer, "normalize_str"):
            raise fail("make_normalizer()", "a normalizer (with .normalize_str)", type(normalizer).__name__,
                       "return normalizers.Sequence([...]) built from tokenizers.normalizers")
        for text in fixed + [_string(rng, _LETTERS + _ODD + _SPACES) for _ in range(trials)]:
            case = current["case"] = f"make_normalizer().normalize_str({text!r})"
            got, want = normalizer.normalize_str(text), _normalized(text)
            if got != want:
                if unicodedata.normalize("NFKC", got) != got:
                    hint = "start with normalizers.NFKC(): it maps ligatures, full-width letters and ½ to plain text"
                elif got.strip() != got:
                    hint = "remove the leading and trailing spaces: normalizers.Strip()"
                elif " ".join(got.split()) != got:
                    hint = ("collapse every run of whitespace, tabs and newlines too: "
                            "normalizers.Replace(Regex(r\"\\s+\"), \" \")")
                elif got.lower() != got:
                    hint = "lowercase: normalizers.Lowercase()"
                else:
                    hint = "NFKC, whitespace runs to one space, strip, lowercase; keep the accents"
                raise fail(case, want, got, hint)

    return run_check("normalizer", trials, body)


# --- Exercise 2: a pre-tokenizer ------------------------------------------------------------------------------
def _pieces(text: str) -> list[str]:
    return re.findall(r"\d|[^\W\d_]+|[^\w\s]", text)


@exercise("09", "pre_tokenizer")
def check_pre_tokenizer(fn: Callable, trials: int = 40, seed: int | None = None) -> CheckResult:
    """Check ``make_pre_tokenizer()``: a ``tokenizers`` pre-tokenizer that drops whitespace and makes every word
    (a run of letters) a piece, every punctuation mark a piece of its own (``?!`` is two pieces) and every digit
    a piece of its own (``1984`` is four: numbers then share ten tokens instead of thousands). Compared with
    ``re.findall(r"\\d|[^\\W\\d_]+|[^\\w\\s]", text)`` on random strings of letters, digits, punctuation and spaces."""
    rng, _ = random_sources(seed)
    fixed = ["¿Qué dijo?!", "año 1984, «dijo»", "abc123def"]

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_pre_tokenizer(make_pre_tokenizer)")
        current["case"] = "make_pre_tokenizer()"
        pre_tokenizer = fn()
        if not hasattr(pre_tokenizer, "pre_tokenize_str"):
            raise fail("make_pre_tokenizer()", "a pre-tokenizer (with .pre_tokenize_str)", type(pre_tokenizer).__name__,
                       "return pre_tokenizers.Sequence([...]) built from tokenizers.pre_tokenizers")
        alphabet = _LETTERS + list("0123456789") + _PUNCTUATION + [" ", "  ", "\t"]
        for text in fixed + [_string(rng, alphabet) for _ in range(trials)]:
            case = current["case"] = f"[piece for piece, _ in make_pre_tokenizer().pre_tokenize_str({text!r})]"
            got, want = [piece for piece, _ in pre_tokenizer.pre_tokenize_str(text)], _pieces(text)
            if got != want:
                if any(any(c.isspace() or c == "▁" for c in piece) for piece in got):
                    hint = "whitespace must go: pre_tokenizers.WhitespaceSplit() (Metaspace keeps it as ▁)"
                elif any(len(piece) > 1 and not any(c.isalpha() for c in piece) and not piece.isdigit()
                         for piece in got):
                    hint = "every punctuation mark alone: pre_tokenizers.Punctuation(behavior='isolated')"
                elif any(any(c.isdigit() for c in piece) and len(piece) > 1 for piece in got):
                    hint = "every digit alone, also next to letters: pre_tokenizers.Digits(individual_digits=True)"
                else:
                    hint = "words, single punctuation marks and single digits, in order"
                raise fail(case, want, got, hint)

    return run_check("pre_tokenizer", trials, body)


# --- Exercise 3: a post-processor -----------------------------------------------------------------------------
def _word_level(rng: random.Random) -> tuple[Tokenizer, list[str]]:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = rng.sample(["god", "said", "let", "there", "be", "light", "and", "dios", "dijo", "luz", "sea"], 7)
    tokens = [*words, "<pad>", "<s>", "</s>", "<unk>"]
    rng.shuffle(tokens)  # special tokens at random ids: hard-coded ids cannot pass
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer, words


@exercise("09", "post_processor")
def check_post_processor(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``make_post_processor(tokenizer)``: it returns a ``tokenizers`` post-processor that wraps one text
    as ``<s> A </s>`` and a pair as ``<s> A </s> B </s>`` with ``type_ids`` 0 for ``<s> A </s>`` and 1 for
    ``B </s>``, using the ids that ``tokenizer`` gives ``<s>`` and ``</s>`` (tried on small word-level tokenizers
    whose special tokens sit at random ids)."""
    from tokenizers.processors import PostProcessor

    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_post_processor(make_post_processor)")
        for _ in range(trials):
            tokenizer, words = _word_level(rng)
            bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
            a = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
            b = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
            case = current["case"] = (f"a word-level tokenizer with <s> = {bos}, </s> = {eos}; "
                                      f"tokenizer.post_processor = make_post_processor(tokenizer)")
            processor = fn(tokenizer)
            if not isinstance(processor, PostProcessor):
                raise fail(case, "a post-processor (tokenizers.processors.TemplateProcessing)",
                           type(processor).__name__, "return TemplateProcessing(single=..., pair=..., "
                           "special_tokens=...)")
            tokenizer.post_processor = processor
            ids_a = [tokenizer.token_to_id(w) for w in a.split()]
            ids_b = [tokenizer.token_to_id(w) for w in b.split()]
            current["case"] = f"{case}; encode({a!r})"
            single = tokenizer.encode(a)
            if single.ids != [bos, *ids_a, eos]:
                raise fail(current["case"], [bos, *ids_a, eos], single.ids,
                           "single='<s> $A </s>', with special_tokens=[('<s>', tokenizer.token_to_id('<s>')), "
                           "('</s>', ...)]: look the ids up, never assume them")
            current["case"] = f"{case}; encode({a!r}, {b!r})"
            pair = tokenizer.encode(a, b)
            want_ids = [bos, *ids_a, eos, *ids_b, eos]
            want_types = [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)
            if pair.ids != want_ids:
                raise fail(current["case"] + ".ids", want_ids, pair.ids, "pair='<s> $A </s> $B:1 </s>:1'")
            if pair.type_ids != want_types:
                raise fail(current["case"] + ".type_ids", want_types, pair.type_ids,
                           "the second text and its </s> get type id 1: $B:1 </s>:1")

    return run_check("post_processor", trials, body)


# --- Exercise 4 (find the bug): a Metaspace decoder by hand ---------------------------------------------------
_WORDS = ["y", "dijo", "el", "señor", "desadornada", "Moisés", "the", "Lord", "¿Qué", "amén,", "1984", "ﬁn"]


def _metaspace_tokens(rng: random.Random, text: str) -> list[str]:
    """What a Metaspace BPE tokenizer could give for ``text``: its Metaspace + Punctuation pieces, each cut at
    random into subword tokens (``▁`` only at the start of a piece)."""
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation(behavior="isolated")])
    tokens = []
    for piece, _ in pre.pre_tokenize_str(text):
        cuts = sorted(rng.sample(range(1, len(piece)), rng.randint(0, len(piece) - 1))) if len(piece) > 1 else []
        tokens += [piece[a:b] for a, b in zip([0, *cuts], [*cuts, len(piece)])]
    return tokens


@exercise("09", "metaspace_decode")
def check_metaspace_decode(fn: Callable, trials: int = 40, seed: int | None = None) -> CheckResult:
    """Check ``metaspace_decode(tokens)``: the text of a list of Metaspace BPE tokens (``"▁the"``, ``"lor"``,
    ``"d"`` ...), exactly as ``tokenizers.decoders.Metaspace().decode`` gives it: every ``▁`` becomes a space,
    tokens are joined with nothing between them, and the one space the pre-tokenizer put at the very start
    (``prepend_scheme="always"``) is dropped. Random sentences, with runs of spaces and spaces at either end, cut
    into random subword tokens."""
    from tokenizers import decoders

    rng, _ = random_sources(seed)
    reference = decoders.Metaspace()
    fixed = ["y dijo el señor", "desadornada", " two  spaces ", "¿Qué?"]

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_metaspace_decode(metaspace_decode)")
        for trial in range(trials):
            if trial < len(fixed):
                text = fixed[trial]
            else:
                words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 6))]
                text = "".join(w + " " * rng.choice([1, 1, 1, 2]) for w in words)
                text = " " * rng.choice([0, 0, 1, 2]) + (text if rng.random() < 0.5 else text.rstrip())
            tokens = _metaspace_tokens(rng, text)
            want = reference.decode(tokens)
            case = current["case"] = f"metaspace_decode({tokens!r})"
            got = fn(list(tokens))
            if got == want:
                continue
            hint = "tokens joined with nothing between them, every ▁ a space, then drop the first character"
            if isinstance(got, str):
                plain = "".join(tokens).replace("▁", " ")
                if got == plain:
                    hint = ("one space too many at the start: the pre-tokenizer prepended one ▁ to the text "
                            "(prepend_scheme='always'); drop that one space")
                elif got.replace(" ", "") == want.replace(" ", "") and got.count(" ") > want.count(" "):
                    hint = ("spaces where the text had none: a token is often a piece of a word (lor + d), so "
                            "tokens must not be joined with spaces; the spaces are already in the tokens, as ▁")
                elif got in (plain.strip(), plain.lstrip(), plain.rstrip()):
                    hint = ("strip() removes spaces that were in the text too: drop only the one space the "
                            "pre-tokenizer added at the start")
                elif "▁" in got:
                    hint = "every ▁ stands for a space: replace it"
            raise fail(case, repr(want), repr(got) if isinstance(got, str) else got, hint)

    return run_check("metaspace_decode", trials, body)
