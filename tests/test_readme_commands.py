"""Every `switchyard ...` command line the README shows parses with the CLI's own argparse: a renamed
flag or subcommand fails here, not in a user's terminal. Only parsing: nothing is deployed or run."""

from __future__ import annotations

import re
import shlex

import pytest

from stacks.cli import build_parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
# Placeholders the README uses in commands, with a value of the kind they stand for.
PLACEHOLDERS = {"<name>": "sentiment-api", "<stack>": "dev", "JSON": '"x"', "FILE": "trace.csv", "PROFILE...": "p"}


def commands() -> list[tuple[int, str]]:
    found = []
    in_block = False
    for number, line in enumerate(README.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            text = line.split("  #", 1)[0].strip()
            if text.startswith(("switchyard ", ".venv/bin/switchyard ")):
                found.append((number, text))
        else:
            found += [(number, m) for m in re.findall(r"`((?:\.venv/bin/)?switchyard [^`]+)`", line)]
    return found


def argv(text: str) -> list[str]:
    text = re.sub(r"^\.venv/bin/", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # [--optional ...] in a synopsis
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    words = shlex.split(text.replace("...", ""))[1:]
    return [w for w in words if w not in ("|",)]


def test_the_readme_shows_the_commands_of_both_runbooks():
    shown = " ".join(text for _, text in commands())
    for needed in ("switchyard doctor", "switchyard outputs", "switchyard smoke", "switchyard publish"):
        assert needed in shown


@pytest.mark.parametrize(("line", "text"), commands(), ids=[f"README:{n}" for n, _ in commands()])
def test_every_readme_command_parses(line, text, capsys):
    words = argv(text)
    if len(words) == 1 and not text.startswith(".venv"):  # prose naming a command: `switchyard smoke`
        choices = next(a for a in build_parser()._actions if a.dest == "command").choices
        assert words[0] in choices, f"README.md:{line}: no command {words[0]!r}"
        return
    try:
        build_parser().parse_args(words)
    except SystemExit as exc:
        pytest.fail(f"README.md:{line}: `{text}` does not parse: {capsys.readouterr().err.strip()} ({exc.code})")


def blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def test_each_runbook_begins_with_doctor_ends_with_a_smoke_test_of_what_it_deployed():
    runbooks = [b for b in blocks() if "switchyard smoke" in b]
    assert len(runbooks) >= 2  # serverless and kubernetes
    for block in runbooks:
        lines = [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]
        assert lines[0].startswith("switchyard doctor"), lines[0]
        assert "switchyard smoke" in lines[-1], lines[-1]
        deploy = next((line for line in lines if line.startswith("npx cdk deploy")), None)
        if deploy is None:
            continue
        for name in re.findall(r"switchyard smoke (\S+)", block):
            # The smoke test reads QueueUrl / FunctionUrl from the outputs file this deploy writes.
            assert "--all" in deploy.split() or f"Switchyard-{name}" in deploy.split(), (
                f"the runbook smoke-tests {name} but `{deploy}` does not deploy it"
            )
