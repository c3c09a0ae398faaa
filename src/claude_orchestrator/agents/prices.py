"""What Claude's own work costs: its tokens (read from its transcript) priced per model.

An estimate, said as such wherever it is shown: list prices in USD per million tokens, by model
family; a model not in the table is priced as the dearest one, and the person is told.
"""

from __future__ import annotations

from dataclasses import dataclass

# (input, output, cache write, cache read) USD per million tokens, by model family.
PRICES: dict[str, tuple[float, float, float, float]] = {
    "opus": (15.00, 75.00, 18.75, 1.50),
    "sonnet": (3.00, 15.00, 3.75, 0.30),
    "haiku": (1.00, 5.00, 1.25, 0.10),
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
