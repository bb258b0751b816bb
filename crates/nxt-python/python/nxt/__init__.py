"""nxt: teach language models to reason about code execution, after the NExT method
(Ni et al., 2024, arXiv 2404.14662).

Capture a Python program's execution trace and write it into the code as inline
comments, verify programs against unit tests in a sandbox, load benchmarks, build NExT
repair prompts, read a model's answers and run the self-training loop with your own
model as the sampler. The work is done by the Rust crates of nxt (the native module
``nxt._nxt``); long calls release the GIL and stop on Ctrl-C. See ``docs/python.md``.
"""

from __future__ import annotations

import atexit as _atexit
import os as _os

from nxt._errors import (
    CodeDoesNotParse,
    ConfigError,
    DataError,
    InvalidData,
    InvalidInput,
    NoCode,
    NxtError,
    NxtOSError,
    OverBudget,
    ParseError,
    PromptError,
    RenderError,
    SamplerError,
    SandboxError,
    SelftrainError,
    StoreError,
    SyntaxErrorInProgram,
    TraceJsonError,
    TracerError,
    UnsupportedProgram,
    VerifyError,
)
from nxt._nxt import (
    Candidate,
    CheckResult,
    EvalResult,
    Parsed,
    Prompt,
    Prompter,
    Run,
    Sample,
    SampleRequest,
    Step,
    Store,
    Task,
    TestResult,
    Trace,
    Verification,
    __version__,
    hefix_plus,
    import_benchmark,
    parse_response,
    pass_at_k,
    read_results,
    read_samples,
    read_tasks,
    render,
    shutdown,
    trace,
    trace_many,
    traced_program,
    verify,
    write_jsonl,
)
from nxt._nxt import _forget_workers, _wait_for_calls

# A forked child must not use its parent's sandbox workers (their sockets are
# shared): it forgets them and starts its own on its first call.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_forget_workers)

# A self-training step interrupted by Ctrl-C still stores the answers it received;
# the interpreter waits for that (at most a minute; a second Ctrl-C stops waiting).
_atexit.register(_wait_for_calls, 60.0)

__all__ = [
    "Candidate",
    "CheckResult",
    "EvalResult",
    "CodeDoesNotParse",
    "ConfigError",
    "DataError",
    "InvalidData",
    "InvalidInput",
    "NoCode",
    "NxtError",
    "NxtOSError",
    "OverBudget",
    "ParseError",
    "Parsed",
    "Prompt",
    "PromptError",
    "Prompter",
    "RenderError",
    "Run",
    "Sample",
    "SampleRequest",
    "SamplerError",
    "SandboxError",
    "SelftrainError",
    "Step",
    "Store",
    "StoreError",
    "SyntaxErrorInProgram",
    "Task",
    "TestResult",
    "Trace",
    "TraceJsonError",
    "TracerError",
    "Verification",
    "UnsupportedProgram",
    "VerifyError",
    "__version__",
    "hefix_plus",
    "import_benchmark",
    "parse_response",
    "pass_at_k",
    "read_results",
    "read_samples",
    "read_tasks",
    "render",
    "shutdown",
    "trace",
    "trace_many",
    "traced_program",
    "verify",
    "write_jsonl",
]
