"""A company's own rules (a tenant extension), held to their one shape before they load.

An extension may only add refusals: the platform's decide.polar asks tenant_refuses/3 once
it allows, and answers that refusal first; nothing else of the platform asks it. So an
extension that defines nothing but tenant_refuses rules can never allow what the platform
refuses (tests/core/policy/test_tenant_extension_narrows.py holds random extensions to that).
This module makes "nothing but" structural: it reads the extension's text with Polar's own
lexical rules, over a deliberately small alphabet, and refuses anything else:

* every statement is `tenant_refuses(request, "tenant_rule:<name>", "<sentence>") if <body>;`
  (the body may be left out: then the rule refuses every restrictable action);
* no other rule, no resource or actor block, no rule type, no inline query (`?=`);
* the body compares and unifies facts and literals only (`=`, `==`, `!=`, `<`, ..., `in`,
  `matches`, `and`, `or`): no rule or method call (so no recursion, no host code), no `not`,
  `forall` or `cut` (which compiled decisions cannot keep: core/policy/engine.py), no `new`,
  `print` or `debug`;
* a reason is "tenant_rule:" and a lowercase name; each reason has one sentence.

Characters outside ASCII are allowed only inside strings and comments, so every token here
is the token Polar reads. Pure: no database, no Oso."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.policy.reasons import TENANT_RULE_PREFIX

PREDICATE = "tenant_refuses"
# The decision log keeps a reason in 64 characters.
REASON_PATTERN = re.compile(r"^tenant_rule:[a-z][a-z0-9_]{0,51}$")
MAX_SENTENCE = 300
# Words of Polar a company's rule may not use (what each would open is in the docstring).
FORBIDDEN_WORDS = frozenset(
    {"not", "forall", "cut", "new", "print", "debug", "type", "trace", "isa"}
)
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<comment>\#[^\r\n]*)
  | (?P<string>"(?:[^"\\\r\n]|\\[^\r\n])*")
  | (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<operator>==|!=|<=|>=|[()\[\]{},;.:=<>+\-*/|])
    """,
    re.VERBOSE,
)


class ExtensionRefused(ValueError):
    """The extension is not of the one shape a company's rules may have."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int


@dataclass(frozen=True)
class TenantRule:
    """One rule of an extension: the reason it refuses with and the sentence a person reads."""

    reason: str
    text: str
    line: int

    @property
    def name(self) -> str:
        return self.reason.removeprefix(TENANT_RULE_PREFIX)


def tokens(source: str) -> list[Token]:
    """The tokens of `source`, without spaces and comments; anything outside the alphabet
    refuses the extension."""
    out: list[Token] = []
    position, line = 0, 1
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise ExtensionRefused(
                f"line {line}: {source[position]!r} is not allowed in a company's rules"
            )
        kind = match.lastgroup or ""
        text = match.group()
        if kind not in ("space", "comment"):
            out.append(Token(kind, text, line))
        line += text.count("\n")
        position = match.end()
    return out


def rules_of(source: str) -> list[TenantRule]:
    """The rules of an extension's text, or ExtensionRefused saying what is not allowed."""
    stream = tokens(source)
    rules: list[TenantRule] = []
    index = 0
    while index < len(stream):
        rule, index = _rule(stream, index)
        rules.append(rule)
    if not rules:
        raise ExtensionRefused("an extension holds at least one tenant_refuses rule")
    sentences: dict[str, str] = {}
    for rule in rules:
        if sentences.setdefault(rule.reason, rule.text) != rule.text:
            raise ExtensionRefused(
                f"line {rule.line}: {rule.reason} has another sentence than before: one "
                "reason, one sentence"
            )
    return rules


def _rule(stream: list[Token], index: int) -> tuple[TenantRule, int]:
    head = stream[index]
    if head.text != PREDICATE:
        raise ExtensionRefused(
            f"line {head.line}: an extension defines only {PREDICATE} rules, not "
            f"{head.text!r}: it may refuse, never allow or change the platform's rules"
        )
    index = _expect(stream, index + 1, "(")
    parameter = _take(stream, index, "word")
    if parameter.text in FORBIDDEN_WORDS or parameter.text in ("true", "false"):
        raise ExtensionRefused(f"line {parameter.line}: the first parameter is a variable")
    index = _expect(stream, index + 1, ",")
    reason = _string(_take(stream, index, "string"))
    if not REASON_PATTERN.match(reason):
        raise ExtensionRefused(
            f"line {head.line}: a reason is {TENANT_RULE_PREFIX}<name> (lowercase letters, "
            f"digits and _), not {reason[:80]!r}"
        )
    index = _expect(stream, index + 1, ",")
    sentence = _string(_take(stream, index, "string"))
    if not sentence.strip() or len(sentence) > MAX_SENTENCE or not sentence.isprintable():
        raise ExtensionRefused(
            f"line {head.line}: {reason}'s sentence is 1 to {MAX_SENTENCE} printable characters"
        )
    index = _expect(stream, index + 1, ")")
    if index < len(stream) and stream[index].text == "if":
        index = _body(stream, index + 1)
    index = _expect(stream, index, ";")
    return TenantRule(reason, sentence, head.line), index


def _body(stream: list[Token], index: int) -> int:
    """The index of the `;` that ends the body (brackets balanced), once every token of it
    is one a comparison may use."""
    depth = 0
    start = index
    while index < len(stream):
        token = stream[index]
        if token.text in ("(", "[", "{"):
            depth += 1
        elif token.text in (")", "]", "}"):
            depth -= 1
            if depth < 0:
                raise ExtensionRefused(f"line {token.line}: unbalanced {token.text!r}")
        elif token.text == ";" and depth == 0:
            if index == start:
                raise ExtensionRefused(f"line {token.line}: an empty condition after if")
            return index
        if token.kind == "word":
            _allowed_word(stream, index)
        index += 1
    raise ExtensionRefused("the last rule does not end with ;")


def _allowed_word(stream: list[Token], index: int) -> None:
    token = stream[index]
    field = index > 0 and stream[index - 1].text == "."  # request.resource.type: a fact
    if token.text in FORBIDDEN_WORDS and not field:
        raise ExtensionRefused(f"line {token.line}: {token.text!r} is not allowed in a rule")
    following = stream[index + 1].text if index + 1 < len(stream) else ""
    if following == "(":
        raise ExtensionRefused(
            f"line {token.line}: {token.text}(...) is a call; a company's rule compares "
            "facts and calls no rule or method"
        )


def _take(stream: list[Token], index: int, kind: str) -> Token:
    if index >= len(stream) or stream[index].kind != kind:
        got = stream[index].text if index < len(stream) else "the end"
        line = stream[min(index, len(stream) - 1)].line
        raise ExtensionRefused(f"line {line}: expected a {kind}, got {got!r}")
    return stream[index]


def _expect(stream: list[Token], index: int, text: str) -> int:
    if index >= len(stream) or stream[index].text != text:
        got = stream[index].text if index < len(stream) else "the end"
        line = stream[min(index, len(stream) - 1)].line
        raise ExtensionRefused(f"line {line}: expected {text!r}, got {got!r}")
    return index + 1


def _string(token: Token) -> str:
    # Polar's escapes: \n, \r, \t, \0, and a backslash before any other character is that
    # character.
    escapes = {"n": "\n", "r": "\r", "t": "\t", "0": "\0"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), token.text[1:-1])
