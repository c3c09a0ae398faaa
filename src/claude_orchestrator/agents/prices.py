"""What the agent's own work costs: its tokens (read from its session record) priced per model.

An estimate, said as such wherever it is shown: list prices in USD per million tokens, by model
family (Claude's, OpenAI's for Codex, Google's for Gemini CLI; their public list prices, which
change: check them before trusting a total); a model not in the table is priced as the dearest
one, and the person is told. Families are matched in order, the most specific first.
"""

from __future__ import annotations

from dataclasses import dataclass

# (input, output, cache write, cache read) USD per million tokens, by model family.
PRICES: dict[str, tuple[float, float, float, float]] = {
    "opus": (15.00, 75.00, 18.75, 1.50),
    "sonnet": (3.00, 15.00, 3.75, 0.30),
    "haiku": (1.00, 5.00, 1.25, 0.10),
    # OpenAI (Codex): cached input is read at a tenth; there is no cache write.
    "gpt-5-mini": (0.25, 2.00, 0.0, 0.025),
    "gpt-5": (1.25, 10.00, 0.0, 0.125),
    "codex": (1.25, 10.00, 0.0, 0.125),
    # Google (Gemini CLI): prompts up to 200k tokens; thoughts are billed as output.
    "gemini-2.5-pro": (1.25, 10.00, 0.0, 0.31),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.0, 0.025),
    "gemini-2.5-flash": (0.30, 2.50, 0.0, 0.075),
    "gemini": (1.25, 10.00, 0.0, 0.31),
}
DEAREST = "opus"


@dataclass(frozen=True)
class Tokens:
    """Tokens of one model: input, output, cache write, cache read."""

    model: str = ""
    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(self.model or other.model, self.input + other.input,
                      self.output + other.output, self.cache_write + other.cache_write,
                      self.cache_read + other.cache_read)

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read


def family(model: str) -> str | None:
    """The price family of a model id (None: not in the table).

    >>> family('claude-opus-5-5'), family('claude-sonnet-4-5-20250929'), family('gpt-x')
    ('opus', 'sonnet', None)
    >>> family('gpt-5-codex'), family('gemini-2.5-flash-lite'), family('gemini-3-pro')
    ('gpt-5', 'gemini-2.5-flash-lite', 'gemini')
    """
    lowered = model.lower()
    return next((name for name in PRICES if name in lowered), None)


def price(tokens: Tokens) -> tuple[float, bool]:
    """The estimated cost in USD, and whether the model was unknown (priced as the dearest).

    >>> price(Tokens('claude-sonnet-4-5', input=1_000_000, output=100_000))
    (4.5, False)
    >>> price(Tokens('mystery-model', output=1_000_000))
    (75.0, True)
    """
    known = family(tokens.model)
    inp, out, write, read = PRICES[known or DEAREST]
    cost = (tokens.input * inp + tokens.output * out + tokens.cache_write * write
            + tokens.cache_read * read) / 1_000_000
    return cost, known is None
