"""Who may read the page (SECURITY.md, "The web page").

- **The token.** Bound to anything but loopback, `serve` needs `--token-file` (a file of the
  user's, mode 0600). Every request then carries the token (`Authorization: Bearer ...`) or the
  session cookie set by the one-time link `serve` prints (the link works once).
- **The Host header** must name this server (by loopback name, the address it is bound to, or
  this machine's name): a page on another site that rebinds its DNS name to 127.0.0.1 sends its
  own name and is refused.
- **The peer's user** (Linux): a loopback connection is accepted only from a socket of this
  user, found in /proc/net/tcp; other local users can reach 127.0.0.1 too.
- **Forms** (`--allow-send`) carry a per-server secret and must come from this origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from claude_orchestrator.errors import UsageError

COOKIE = "co_session"


class Headers(Protocol):
    """A request's headers, looked up by name whatever its case."""

    def get(self, name: str, /) -> str | None: ...

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def is_loopback(host: str) -> bool:
    """`127.0.0.1`, `::1`, `localhost`.

    >>> is_loopback('127.0.0.1'), is_loopback('localhost'), is_loopback('0.0.0.0')
    (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token_file(path: Path) -> str:
    """The token in a private file of the user's (0600: nobody else may read or write it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise UsageError(f"--token-file {path}: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"--token-file {path} is not a regular file")
        if info.st_uid != os.getuid():
            raise UsageError(f"--token-file {path} belongs to uid {info.st_uid}, not to you")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise UsageError(f"--token-file {path} is open to others (mode "
                             f"{stat.S_IMODE(info.st_mode):o}); fix it with: chmod 600 {path}")
        data = os.read(fd, 4097)
    finally:
        os.close(fd)
    token = data.decode("utf-8", "replace").strip()
    if len(data) > 4096 or len(token) < 16 or any(c.isspace() for c in token):
        raise UsageError(f"--token-file {path} must hold one token of 16 to 4096 characters, "
                         "no spaces (e.g. head -c 32 /dev/urandom | base64 > FILE)")
    return token


@dataclass
class Guard:
    """The checks every request passes, for one server."""

    host: str
    port: int
    token: str | None
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    login_code: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    code_used: bool = False

    def host_ok(self, header: str | None) -> bool:
        """Whether a request's Host names this server."""
        if not header:
            return False
        name, _, port = header.strip().lower().rpartition(":")
        if not name or "]" in port:  # no port given (we never serve on 80)
            return False
        if port != str(self.port):
            return False
        bound = self.host.lower()
        if bound in ("0.0.0.0", "::", ""):
            if name in (socket.gethostname().lower(), socket.getfqdn().lower()):
                return True
            return _is_address(name) or name == "localhost"
        if is_loopback(bound):
            return name in LOOPBACK_NAMES or (_is_address(name) and is_loopback(name))
        return name in (bound, f"[{bound}]")

    def authorised(self, headers: Headers) -> bool:
        """Whether the request carries the token, or the session cookie (no token: all)."""
        if self.token is None:
            return True
        auth = headers.get("Authorization") or ""
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              self.token.encode()):
            return True
        cookie = _cookie(headers.get("Cookie") or "", COOKIE)
        return cookie is not None and hmac.compare_digest(cookie.encode(),
                                                          self.session.encode())

    def log_in(self, code: str) -> bool:
        """The one-time link: true once, for the right code."""
        if self.token is None or self.code_used:
            return False
        if hmac.compare_digest(code.encode(), self.login_code.encode()):
            self.code_used = True
            return True
        return False

    def cookie_header(self) -> str:
        return f"{COOKIE}={self.session}; HttpOnly; SameSite=Strict; Path=/"

    def form_ok(self, headers: Headers, given: str) -> bool:
        """A form post from our own page: its secret, and our origin when the browser says."""
        origin = headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{(headers.get('Host') or '')}"\
                .lower():
            return False
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return False
        return hmac.compare_digest(given.encode(), self.csrf.encode())


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


# ----------------------------------------------------------------------------- the peer
def peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the client's end of a loopback TCP connection (Linux, /proc/net/tcp);
    None where that cannot be known (another system)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.readlines()[1:]
        except OSError:
            return None
        want_local = _proc_address(client, table.endswith("6"))
        want_remote = _proc_address(server, table.endswith("6"))
        for line in lines:
            cols = line.split()
            if len(cols) > 7 and cols[1] == want_local and cols[2] == want_remote:
                return int(cols[7])
    return -1  # the tables are there and hold no such connection: treat as not ours


def _proc_address(addr: tuple[str, int], six: bool) -> str:
    """An address as /proc/net/tcp writes it: the address's bytes in host order, hex.

    >>> _proc_address(('127.0.0.1', 8080), False) in ('0100007F:1F90', '7F000001:1F90')
    True
    """
    ip = ipaddress.ip_address(addr[0])
    if six and ip.version == 4:
        ip = ipaddress.IPv6Address(f"::ffff:{ip}")
    if not six and ip.version == 6:
        mapped = ip.ipv4_mapped  # type: ignore[union-attr]
        if mapped is None:
            return ""
        ip = mapped
    raw = ip.packed  # each 32-bit word is printed as the host reads it from memory
    words = [raw[i:i + 4][::-1] if sys.byteorder == "little" else raw[i:i + 4]
             for i in range(0, len(raw), 4)]
    return "".join(w.hex().upper() for w in words) + f":{addr[1]:04X}"
