"""``pyxmtp completion bash|zsh``: a shell completion script for ``pyxmtp``, made from its own parser.

::

    eval "$(pyxmtp completion bash)"     # in ~/.bashrc
    eval "$(pyxmtp completion zsh)"      # in ~/.zshrc

It completes commands, sub-commands (aliases too), options, the choices of options and arguments that have
them, and file names after options that take a file or directory. The script is static (no Python runs on
<TAB>): run the command again after an upgrade.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

#: Options whose value is a path: <TAB> completes file names after them.
_PATH_METAVARS = frozenset({"DIR", "FILE", "PEM"})


def register(sub: Any) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description='Print a completion script for pyxmtp. Add `eval "$(pyxmtp completion bash)"` to '
        '~/.bashrc (or `eval "$(pyxmtp completion zsh)"` to ~/.zshrc).',
    )
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .main import build_parser  # the whole parser, this command included

    print(script(build_parser(), args.shell))
    return 0


def _walk(
    parser: argparse.ArgumentParser, path: str, words: dict[str, list[str]], values: dict[str, str]
) -> None:
    """Fill ``words`` (what may follow the words of ``path``) and ``values`` (what completes an option's
    value: its choices, or ``@files``)."""
    here: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                here.append(name)
                _walk(child, f"{path} {name}".strip(), words, values)
        elif action.option_strings:
            here.extend(s for s in action.option_strings if s.startswith("--"))
            if action.choices is not None:
                for option in action.option_strings:
                    values[option] = " ".join(str(c) for c in action.choices)
            elif action.metavar in _PATH_METAVARS or (
                action.dest and action.dest.endswith(("_file", "_dir"))
            ):
                for option in action.option_strings:
                    values.setdefault(option, "@files")
        elif action.choices is not None:
            here.extend(str(c) for c in action.choices)
    words[path] = here


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    words: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    _walk(parser, "", words, values)
    cases = "\n".join(
        f"    {_pattern(path)}) echo {shlex.quote(' '.join(ws))};;" for path, ws in words.items()
    )
    value_cases = "\n".join(
        f"    {shlex.quote(option)}) {_value_reply(choices)}; return;;"
        for option, choices in sorted(values.items())
    )
    body = f"""# pyxmtp {shell} completion (pyxmtp completion {shell})
_pyxmtp_words() {{
  case "$1" in
{cases}
  esac
}}
_pyxmtp() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} path="" w i
  case "$prev" in
{value_cases}
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${{COMP_WORDS[i]}}
    [[ $w == -* ]] && continue
    if [[ " $(_pyxmtp_words "$path") " == *" $w "* ]]; then path="${{path:+$path }}$w"; fi
  done
  COMPREPLY=($(compgen -W "$(_pyxmtp_words "$path")" -- "$cur"))
}}
complete -o default -F _pyxmtp pyxmtp"""
    if shell == "zsh":
        body = "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body


def _pattern(path: str) -> str:
    return shlex.quote(path) if path else '""'


def _value_reply(choices: str) -> str:
    if choices == "@files":
        return 'COMPREPLY=($(compgen -f -- "$cur"))'
    return f'COMPREPLY=($(compgen -W {shlex.quote(choices)} -- "$cur"))'
