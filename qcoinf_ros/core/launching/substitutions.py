r"""
Launch-file substitutions: the launch frontend's grammar, parsed once, never re-parsed.

The grammar is that of ``launch``'s ``frontend/grammar.lark`` (the facts, not its code): a text
is a sequence of plain fragments and ``$(name arg arg ...)`` substitutions; arguments are
separated by single spaces and may be quoted (``'a b'``, ``"a b"``) or contain substitutions
themselves; a backslash escapes the next character (``\$(`` is the text ``$(``). A
substitution's *result* is text: it is never parsed again, so a value such as
``$(env HOME)/x`` passed on the command line stays those characters.

:func:`parse` returns a :class:`Template`; :meth:`Template.evaluate` resolves it with a
function of (name, evaluated arguments) — the launch evaluator supplies ``var``, ``env``,
``optenv``, ``find-pkg-share``, ``dirname`` and ``filename``.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Callable, Union

_IDENTIFIER = re.compile(r'[A-Za-z][A-Za-z0-9_-]*')
#: Substitutions nested deeper than this are refused (a file cannot exhaust the stack).
MAX_NESTING = 16


@dataclass(frozen=True)
class Substitution:
    """``$(name args...)``; each argument is a :class:`Template`."""

    name: str
    args: tuple['Template', ...]


Part = Union[str, Substitution]


@dataclass(frozen=True)
class Template:
    """A parsed text: plain strings and substitutions, in order."""

    parts: tuple[Part, ...]

    @property
    def is_text(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def evaluate(self, resolve: Callable[[str, list[str]], str]) -> str:
        """Return the text with every substitution replaced by ``resolve(name, args)``."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(resolve(part.name, [a.evaluate(resolve) for a in part.args]))
        return ''.join(out)


class _Parser:
    def __init__(self, text: str, where: str):
        self.text, self.where, self.pos = text, where, 0

    def error(self, what: str) -> ValueError:
        return ValueError(f'{self.where}: cannot parse {self.text!r}: {what} at character '
                          f'{self.pos}')

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def template(self) -> Template:
        parts: list[Part] = []
        while self.pos < len(self.text):
            if self.peek('$('):
                parts.append(self.substitution(0))
            else:
                parts.append(self.plain(stop=''))
        return Template(_merge(parts))

    def plain(self, stop: str) -> str:
        """Read text up to ``$(`` or an unescaped character of ``stop``; unescape it."""
        out = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == '\\' and self.pos + 1 < len(text):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if self.peek('$(') or char in stop:
                break
            out.append(char)
            self.pos += 1
        return ''.join(out)

    def substitution(self, depth: int) -> Substitution:
        if depth >= MAX_NESTING:
            raise self.error(f'substitutions nested deeper than {MAX_NESTING}')
        self.pos += 2
        match = _IDENTIFIER.match(self.text, self.pos)
        if match is None:
            raise self.error('a substitution name is expected')
        self.pos = match.end()
        args: list[Template] = []
        while self.peek(' '):
            self.pos += 1
            args.append(self.value(depth + 1))
        if not self.peek(')'):
            raise self.error('")" is expected')
        self.pos += 1
        return Substitution(match.group(), tuple(args))

    def value(self, depth: int) -> Template:
        if self.peek("'") or self.peek('"'):
            quote = self.text[self.pos]
            self.pos += 1
            parts: list[Part] = []
            while not self.peek(quote):
                if self.pos >= len(self.text):
                    raise self.error(f'the quote {quote} is not closed')
                parts.append(self.substitution(depth) if self.peek('$(')
                             else self.plain(stop=quote))
            self.pos += 1
            return Template(_merge(parts))
        parts = []
        while self.pos < len(self.text) and not self.peek(' ') and not self.peek(')'):
            if self.peek('$('):
                parts.append(self.substitution(depth))
                continue
            if self.text[self.pos] in '(\'"':
                raise self.error(f'{self.text[self.pos]!r} must be escaped in an argument')
            parts.append(self.plain(stop=' ()\'"'))
        if not parts:
            raise self.error('an argument is expected')
        return Template(_merge(parts))


def _merge(parts: list[Part]) -> tuple[Part, ...]:
    out: list[Part] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        elif part != '':
            out.append(part)
    return tuple(out)


def parse(text: str, where: str = 'launch file') -> Template:
    """Parse ``text`` into a :class:`Template`; ``ValueError`` naming ``where`` when malformed."""
    if not isinstance(text, str):
        raise ValueError(f'{where}: text expected, got {text!r}')
    return _Parser(text, where).template()


def split_command_line(template: Template) -> list[Template]:
    """
    Split a ``<node args>`` template into arguments, as ``launch``'s ``_parse_cmdline`` does.

    Plain text is split like a shell (``shlex``: quotes group words); a substitution's result
    stays within the argument it appears in, never split, and text touching it (no space in
    between) joins that argument.
    """
    import shlex

    args: list[list[Part]] = []
    current: list[Part] = []

    def close() -> None:
        nonlocal current
        args.append(current)
        current = []

    for part in template.parts:
        if not isinstance(part, str):
            current.append(part)
            continue
        try:
            tokens = shlex.split(part)
        except ValueError as exc:  # an unclosed quote
            raise ValueError(f'node args {part!r}: {exc}') from None
        if not tokens:
            close()
            continue
        if part[0].isspace() and current:
            close()
        current.append(tokens[0])
        if len(tokens) > 1:
            close()
            current.append(tokens[-1])
        if len(tokens) > 2:  # the middle words, between the first and the last
            args.extend([t] for t in tokens[1:-1])
        if part[-1].isspace():
            close()
    if current:
        args.append(current)
    return [Template(_merge(a)) for a in args if a]
