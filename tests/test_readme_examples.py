"""Every shell example of the READMEs and docs runs as pasted.

The ``sh``, ``bash``, ``shell`` and ``console`` blocks of README.md, plugins/*/README.md
and docs/*.md run in document order, each with ``bash -euo pipefail`` from the
repository's root, against one gateway served as ``./scripts/serve`` serves it
(``highway-triggers serve`` of the project's environment, ``HIGHWAY_ADMIN_TOKEN=dev-token``,
port 8003), in the shell of the quick start's second terminal: ``.venv/bin`` first on
``PATH`` and ``HIGHWAY_ADMIN_TOKEN`` exported. Each block must exit 0, and every answer
curl prints must be a success, unless the block says which error comes where it is the
point, by a comment ``# expect: STATUS CODE`` (``# expect: 404 NO_WAITING_WORKFLOW``):
a block's error answers are the ones it expects, in order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from highway_triggers.testing import GatewayProcess

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    *sorted(ROOT.glob("plugins/*/README.md")),
    *sorted(ROOT.glob("docs/*.md")),
]
PORT = 8003
TOKEN = "dev-token"
SHELLS = ("sh", "bash", "shell", "console")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
EXPECT = re.compile(r"#\s*expect:\s*(4\d\d)\s+([A-Z][A-Z0-9_]*)")

NOT_RUN = {
    # what this test does itself: serve the gateway; run the suite
    "HIGHWAY_ADMIN_TOKEN=dev-token ./scripts/serve",
    "./scripts/test",
    # install into an environment: the active Python, or .venv that the suite runs in
    "pip install . plugins/cron",
    "pip install . plugins/webhook",
    "pip install . plugins/github",
    "pip install . plugins/slack",
    "pip install . plugins/email",
    "pip install . plugins/approval",
    "pip install . plugins/gcal",
    "pip install . plugins/prefect",
    "pip install . plugins/dbos",
    "pip install dist/highway_triggers-*.whl dist/highway_triggers_cron-*.whl",
    "pip install -e acme-triggers",
    "pip install -e acme-triggers && (cd acme-triggers && pytest)",
    "uv pip install --python .venv ./acme-triggers",
    # write into the checkout (tests/test_packaging.py and test_plugins.py run them elsewhere)
    "./scripts/build",
    "highway-triggers new-plugin acme-triggers",
    "uv run --all-packages --locked highway-triggers new-plugin acme-triggers",
    # a workflow engine and a gateway driving it (plugins/prefect, plugins/dbos); the
    # event that resumes the engine's run, which registered its wait
    "prefect server start",
    "python order_flow.py",
    "HIGHWAY_ENGINE=prefect HIGHWAY_PREFECT_API_URL=http://127.0.0.1:4200/api highway-triggers serve",
    "python order_app.py",
    "HIGHWAY_ENGINE=dbos HIGHWAY_DBOS_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/orders_dbos"
    " highway-triggers serve",
    'curl -s -X POST localhost:8003/api/v1/events/acme -H \'Authorization: Bearer dev-token\' -d \'{"event_name": "order.paid", "correlation_key": "order-1001", "payload": {"amount": 42.5}}\'',
    'curl -s -X POST localhost:8003/api/v1/events/acme -H \'Authorization: Bearer dev-token\' -d \'{"event_name": "order.paid", "correlation_key": "order-2002", "payload": {"amount": 42.5}}\'',
    # a benchmark of minutes
    "uv run --all-packages python bench/route.py",
}
"""Commands that cannot run inside the suite, by their exact text (a comment may follow)."""

CURL = """#!/usr/bin/env bash
# curl as called; records each answer's status and body for the test
head=$(mktemp) body=$(mktemp)
"{curl}" "$@" -D "$head" -o "$body" && rc=0 || rc=$?
cat "$body"
status=$(awk '/^HTTP\\//{{s = $2}} END {{print s}}' "$head")
printf '%s %s\\n' "${{status:-000}}" "$body" >> "${{HIGHWAY_EXAMPLE_ANSWERS:?}}" || exit 99
exit $rc
"""


@dataclass(frozen=True)
class Example:
    """One shell block: where it starts and its commands."""

    document: str
    line: int
    script: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}"


def shell_blocks(name: str, markdown: str) -> Iterator[Example]:
    """The shell blocks of a Markdown document, in order, without their indentation."""
    lines = markdown.splitlines()
    opened: tuple[int, str, str] | None = None  # line, indentation, language
    for number, line in enumerate(lines, 1):
        fence = FENCE.match(line)
        if fence is None:
            continue
        if opened is None:
            opened = (number, fence[1], fence[2])
            continue
        if fence[2]:
            continue  # an opening fence inside a block is text
        start, indent, language = opened
        opened = None
        if language in SHELLS:
            body = [text.removeprefix(indent) for text in lines[start : number - 1]]
            if language == "console":
                body = [text[2:] for text in body if text.startswith("$ ")]
            yield Example(name, start, "\n".join(body) + "\n")


EXAMPLES = [
    example
    for path in DOCUMENTS
    for example in shell_blocks(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
]


def is_command(command: str, line: str) -> bool:
    """Whether ``line`` is ``command``, maybe followed by a comment."""
    return re.fullmatch(re.escape(command) + r"(\s+#.*)?", line.strip()) is not None


def skipped(line: str) -> bool:
    return any(is_command(command, line) for command in NOT_RUN)


def runnable(script: str) -> str:
    return "".join(line for line in script.splitlines(True) if not skipped(line))


def expected_errors(script: str) -> list[tuple[int, str]]:
    """The error answers a block announces, in order."""
    return [(int(status), code) for status, code in EXPECT.findall(script)]


def error_of(status: int, body: str) -> tuple[int, str] | None:
    """An answer's status and error code when it is an error; ``None`` for a success."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    refused = isinstance(value, dict) and value.get("status") == "error"
    if status < 400 and not refused:
        return None
    return status, str(value.get("code")) if isinstance(value, dict) else body[:200]


def answers(path: Path) -> list[tuple[int, str]]:
    """The answers the curl recorder wrote: status and body, in order."""
    if not path.exists():
        return []
    recorded = (line.split(" ", 1) for line in path.read_text().splitlines())
    return [(int(status), Path(body).read_text()) for status, body in recorded]


def unexpected(script: str, recorded: list[tuple[int, str]]) -> str | None:
    """What is wrong with a block's answers, or ``None``."""
    errors = [error for error in (error_of(*answer) for answer in recorded) if error]
    expected = expected_errors(script)
    if errors == expected:
        return None
    return f"error answers {errors}, expected {expected} (a `# expect: STATUS CODE` comment)"


@pytest.fixture(scope="module")
def shell_env(
    tmp_path_factory: pytest.TempPathFactory, bytecode_env: dict[str, str]
) -> Iterator[dict[str, str]]:
    """The environment examples run in, with the gateway they call served on port 8003."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", PORT)) == 0:
            pytest.fail(
                f"port {PORT} is taken: the examples call localhost:{PORT}, "
                "so stop what listens there (a ./scripts/serve?) and run this test again"
            )
    tmp = tmp_path_factory.mktemp("examples")
    curl = shutil.which("curl")
    assert curl, "the examples need curl"
    recorder = tmp / "bin" / "curl"
    recorder.parent.mkdir()
    recorder.write_text(CURL.format(curl=curl))
    recorder.chmod(0o755)
    venv = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIGHWAY_")}
    env |= {
        **bytecode_env,
        "PATH": os.pathsep.join([str(recorder.parent), str(venv), env.get("PATH", "")]),
        "HIGHWAY_DATA_DIR": str(tmp / "data"),
        "HIGHWAY_ADMIN_TOKEN": TOKEN,
        "TMPDIR": str(tmp),
    }
    gateway = GatewayProcess(
        {**env, "HIGHWAY_LOG_LEVEL": "warning"},
        tmp / "gateway.log",
        port=PORT,
        cwd=ROOT,
        command=[str(venv / "highway-triggers")],
    )
    gateway.start()
    try:
        yield env
    finally:
        gateway.stop()


def run(example: Example, env: dict[str, str], log: Path) -> str | None:
    """Run one block, recording curl's answers in ``log``; what went wrong, or ``None``."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", runnable(example.script)],
        cwd=ROOT,
        env={**env, "HIGHWAY_EXAMPLE_ANSWERS": str(log)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        return f"exit status {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    problem = unexpected(example.script, answers(log))
    return None if problem is None else f"{problem}\n{done.stdout[-3000:]}"


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs_as_pasted(
    example: Example, shell_env: dict[str, str], tmp_path: Path
) -> None:
    problem = run(example, shell_env, tmp_path / "answers")
    assert problem is None, f"{example}:\n{example.script}\n{problem}"


def test_an_error_answer_fails_a_block_unless_it_is_expected(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    refused = f"curl -s localhost:{PORT}/api/v1/dispatches -H 'Authorization: Bearer wrong'\n"
    problem = run(Example("probe", 1, refused), shell_env, tmp_path / "refused")
    assert problem is not None and "(401, 'UNAUTHORIZED')" in problem
    expected = refused + "# expect: 401 UNAUTHORIZED\n"
    assert run(Example("probe", 1, expected), shell_env, tmp_path / "expected") is None
    failing = "curl -s localhost:1/\n"  # nothing listens: curl fails, and so does the block
    assert "exit status 7" in str(run(Example("probe", 1, failing), shell_env, tmp_path / "f"))


def test_the_documents_have_examples_and_every_skip_names_one() -> None:
    documents = {example.document for example in EXAMPLES}
    assert {"README.md", "plugins/cron/README.md", "plugins/webhook/README.md"} <= documents
    lines = [line for example in EXAMPLES for line in example.script.splitlines()]
    unused = [c for c in NOT_RUN if not any(is_command(c, line) for line in lines)]
    assert not unused, f"NOT_RUN commands no example has: {unused}"


def test_console_prompts_and_indented_fences_are_read() -> None:
    page = (
        "```console\n$ echo one\none\n```\n- item\n\n  ```sh\n  echo two\n  ```\n"
        "```python\nprint()\n```\n"
    )
    found = [(example.line, example.script) for example in shell_blocks("page.md", page)]
    assert found == [(1, "echo one\n"), (7, "echo two\n")]
