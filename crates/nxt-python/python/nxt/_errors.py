"""The exceptions of nxt: one base class, one class per kind of failure of the Rust
crates' error enums, each also a subclass of the matching builtin where there is one
(so ``except ValueError`` and ``except SyntaxError`` work as expected)."""

from __future__ import annotations

__all__ = [
    "NxtError",
    "InvalidInput",
    "SyntaxErrorInProgram",
    "SandboxError",
    "TracerError",
    "VerifyError",
    "UnsupportedProgram",
    "TraceJsonError",
    "RenderError",
    "OverBudget",
    "DataError",
    "InvalidData",
    "NxtOSError",
    "PromptError",
    "ParseError",
    "NoCode",
    "CodeDoesNotParse",
    "SelftrainError",
    "ConfigError",
    "StoreError",
    "SamplerError",
]


class NxtError(Exception):
    """Base class of every error nxt raises."""


class InvalidInput(NxtError, ValueError):
    """An argument, an option or a document that nxt cannot use."""


class SyntaxErrorInProgram(NxtError, SyntaxError):
    """The Python program given does not compile (``filename``, ``lineno`` and
    ``offset`` say where, as for a ``SyntaxError``)."""


class SandboxError(NxtError, RuntimeError):
    """The sandbox could not run the program: no interpreter, a worker that failed to
    start or was lost, an isolation measure that could not be set up."""


class TracerError(NxtError, RuntimeError):
    """The tracer gave no trace: its output could not be read."""


class VerifyError(NxtError, RuntimeError):
    """A check gave no verdict: the verification harness failed."""


class UnsupportedProgram(NxtError, ValueError):
    """The program needs what the RustPython engine lacks or does differently (a
    module, a construct whose trace it cannot give): no trace rather than a possibly
    wrong one. Run it with ``engine="cpython"``. (A check the engine cannot judge is
    not an exception but the status ``"unsupported"``.)"""


class TraceJsonError(InvalidInput):
    """A trace document (JSON) is not one nxt reads."""


class RenderError(InvalidInput):
    """A trace could not be written into its source (a step on a line that belongs to
    no statement, an option out of range)."""


class OverBudget(RenderError):
    """Even the smallest rendering or prompt is over the token budget."""


class DataError(NxtError):
    """Reading or writing a data file failed."""


class InvalidData(DataError, InvalidInput):
    """A line of a data file is not valid; ``path``, ``line`` and ``field`` say where."""


class NxtOSError(DataError, OSError):
    """A file could not be opened, read, written or renamed."""


class PromptError(NxtError, ValueError):
    """A prompt could not be built (a template, a tokenizer, a task without tests,
    a task whose program passes); ``task_id`` names the task when there is one."""


class ParseError(NxtError, ValueError):
    """No program could be read from a model's answer."""


class NoCode(ParseError):
    """The answer holds no code."""


class CodeDoesNotParse(ParseError):
    """The code found in the answer is not valid Python (``line``, ``column``,
    ``code``)."""


class SelftrainError(NxtError):
    """A self-training step failed."""


class ConfigError(SelftrainError, ValueError):
    """A run's configuration is unusable."""


class StoreError(SelftrainError):
    """A run's store (its SQLite database) failed or refused an operation."""


class SamplerError(SelftrainError):
    """A sampler failed (a Python sampler's own exception is the ``__cause__``)."""
