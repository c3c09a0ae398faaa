"""Keeping the user's secrets out of everything we print or store, and out of reach of the code
Claude runs (SECURITY.md).

`Redactor` replaces every secret (the supervisor's key, the values of withheld variables) in a
text: the whole value, and any piece of 12 or more characters of it (an error body that echoes
part of the key, a key split over two lines), plus anything shaped like a bearer token or an
`sk-` key. `make_undumpable` stops other processes of the same user from reading this process's
environment and memory (Linux: `prctl(PR_SET_DUMPABLE, 0)`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from claude_orchestrator.process import make_undumpable

__all__ = ["REDACTED", "Redactor", "make_undumpable"]

REDACTED = "[REDACTED]"
PIECE = 12  # a run of this many characters of a secret is the secret
MIN_WHOLE = 6  # shorter values are left alone (they would blank out ordinary words)
TOKEN_PATTERNS = (
    re.compile(r"(?i)\bBearer\s+[^\s\"',;]+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
)
_BYTE_PATTERNS = tuple(re.compile(p.pattern.encode(), p.flags & re.IGNORECASE)
                       for p in TOKEN_PATTERNS)


class Redactor:
    """Replaces secrets in text.

    Examples:
        >>> r = Redactor(["sk-or-v1-0123456789abcdefghij"])
        >>> r("the key sk-or-v1-0123456789abcdefghij leaked")
        'the key [REDACTED] leaked'
        >>> r("a piece 0123456789abcd of it, and Bearer xyz.abc too")
        'a piece [REDACTED] of it, and [REDACTED] too'
        >>> r("nothing here")
        'nothing here'
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_WHOLE}, key=len,
                              reverse=True)
        self._pieces = {s[i:i + PIECE] for s in self.secrets if len(s) >= PIECE
                        for i in range(len(s) - PIECE + 1)}

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        if self._pieces:
            text = self._pieces_out(text)
        for pattern in TOKEN_PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text

    def _pieces_out(self, text: str) -> str:
        out: list[str] = []
        i = start = 0
        while i <= len(text) - PIECE:
            if text[i:i + PIECE] not in self._pieces:
                i += 1
                continue
            end = i + PIECE  # grow the match while it is still part of one secret
            while end < len(text) and any(text[i:end + 1] in s for s in self.secrets):
                end += 1
            out += [text[start:i], REDACTED]
            i = start = end
        out.append(text[start:])
        return "".join(out)

    def with_more(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self.secrets, *secrets])

    def mask(self, data: bytes) -> bytes:
        """`data` with every secret (whole, or a piece of 12 characters or more, or shaped like
        a token) overwritten by `*`, byte for byte: the length stays, so byte positions in a
        record (the hook events file) stay right.

        >>> Redactor(["sk-or-v1-0123456789abcdefghij"]).mask(b'{"k": "sk-or-v1-0123456789ab"}')
        b'{"k": "*********************"}'
        """
        spans: list[tuple[int, int]] = []
        for secret in self.secrets:
            raw = secret.encode("utf-8", "surrogateescape")
            spans += [(m.start(), m.end()) for m in re.finditer(re.escape(raw), data)]
        for piece in self._pieces:
            raw = piece.encode("utf-8", "surrogateescape")
            spans += [(m.start(), m.end()) for m in re.finditer(re.escape(raw), data)]
        for pattern in _BYTE_PATTERNS:
            spans += [(m.start(), m.end()) for m in pattern.finditer(data)]
        if not spans:
            return data
        out = bytearray(data)
        for start, end in spans:
            out[start:end] = b"*" * (end - start)
        return bytes(out)


# Apprise-style URLs whose host is a plain address; any other scheme may hold a token in any
# part (`tgram://BOTTOKEN/CHAT`, `slack://A/B/C`, `ntfy://topic`).
_HTTP_LIKE = ("json", "jsons", "form", "forms", "xml", "xmls", "http", "https")


def url_secrets(url: str) -> list[str]:
    """The parts of a notification URL that are secret, to add to a Redactor: everything
    after the scheme, but a web hook's plain host and port (an address, not a secret).

    >>> url_secrets('json://user:pw0rd123@127.0.0.1:8080/hook/abcdef?token=xyz123')
    ['user:pw0rd123', 'pw0rd123', '/hook/abcdef', 'token=xyz123', 'xyz123']
    >>> url_secrets('tgram://123456:AAbbcc/42'), url_secrets('json://127.0.0.1:8080/')
    (['123456:AAbbcc/42'], [])
    """
    import urllib.parse

    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        return [url] if url else []
    if scheme.lower() not in _HTTP_LIKE:
        return [rest]  # the scheme names the service: not a secret
    out: list[str] = []
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    out += [p for p in (userinfo, parts.password or "") if p]
    if parts.path.strip("/"):
        out.append(parts.path)
    if parts.query:
        out.append(parts.query)
        out += [v for _, v in urllib.parse.parse_qsl(parts.query) if v]
    if parts.fragment:
        out.append(parts.fragment)
    return out


def shown_notify_url(url: str) -> str:
    """A notification URL as it may be shown or stored: its scheme, the rest hidden.

    >>> shown_notify_url('tgram://123456:AAbbcc/42')
    'tgram://[REDACTED]'
    """
    scheme, sep, _ = url.strip().partition("://")
    return f"{scheme}://{REDACTED}" if sep else REDACTED
