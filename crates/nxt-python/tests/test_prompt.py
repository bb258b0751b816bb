"""Prompts and answers."""

import pickle

import pytest

import nxt

TASK = nxt.Task(
    "demo/add",
    "Write a function to add two numbers.",
    "def add(a, b):\n    return a - b\n",
    ["assert add(0, 0) == 0", "assert add(2, 3) == 5"],
)


def test_a_text_prompt_shows_the_trace_of_the_first_failing_test():
    prompt = nxt.Prompter(shots=0, max_tokens=2048).prompt(TASK)
    text = prompt.text
    assert text is not None and prompt.messages is None
    assert "# Write a function to add two numbers.\ndef add(a, b):\n" in text
    assert "assert add(2, 3) == 5  # (2) __exception__=AssertionError();" in text
    assert text.endswith("### Answer\n")
    assert prompt.traces[0]["test_index"] == 1 and prompt.tokenizer == "estimate"
    assert prompt.budget_actions == []
    assert pickle.loads(pickle.dumps(prompt)) == prompt


def test_chat_prompts_without_trace_and_errors():
    prompter = nxt.Prompter(format="chat", trace=False, shots=1)
    prompts = prompter.prompt_all([TASK, TASK.to_dict()])
    messages = prompts[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "__exception__" not in messages[-1]["content"]
    no_tests = nxt.Task("t", "", "x = 1\n", [])
    out = nxt.Prompter().prompt_all([no_tests, TASK], return_exceptions=True)
    assert isinstance(out[0], nxt.PromptError) and out[0].task_id == "t"
    assert isinstance(out[1], nxt.Prompt)
    with pytest.raises(nxt.PromptError, match="shots"):
        nxt.Prompter(shots=9)
    with pytest.raises(nxt.InvalidInput):
        nxt.Prompter(format="html")
    with pytest.raises(nxt.OverBudget):
        nxt.Prompter(max_tokens=10).prompt(TASK)


def test_answers_parse():
    answer = (
        "The function subtracts: __return__=-1 for a=2, b=3, where 5 is expected.\n"
        "Here is a fixed version of the program:\n"
        "```python\ndef add(a, b):\n    return a + b\n```\n"
    )
    parsed = nxt.parse_response(answer)
    assert parsed.code == "def add(a, b):\n    return a + b\n"
    assert parsed.rationale.endswith("program:") and parsed.source == "python_block"
    with pytest.raises(nxt.NoCode):
        nxt.parse_response("I don't know.")
    with pytest.raises(nxt.CodeDoesNotParse) as info:
        nxt.parse_response("```python\ndef f(:\n```")
    assert info.value.line == 1 and isinstance(info.value, ValueError)
    assert nxt.traced_program(TASK, 1) == "def add(a, b):\n    return a - b\n\nassert add(2, 3) == 5\n"
