"""The package's version, in the lowest layer: the supervisor's User-Agent and `--version` read
it without importing the package's public API (which the package itself loads on first use)."""

__version__ = "0.1.0"
