"""Outcome expressions: which runs count as a case of interest, in a small grammar.

An outcome is a condition on each run's trajectories, true or false per
run, written in a small language that is parsed (never evaluated as
Python)::

    Technological Capability[network] @ 2030 > Technological Capability[lie] @ 2030
    first_crossing(Technological Capability[network] - Technological Capability[lie], 0.01) < 2015
    time_average(Domestic Market Share, 2010, 2040) >= 0.5 and maximum(Network Development) > 0.3
    not (value_at("LIE R and D Spending", 2020) > 0.1 or Threshold Attainment @ end < 1)

Grammar (keywords and function names are case-insensitive)::

    outcome    := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := sum ("<" | "<=" | ">" | ">=" | "==" | "!=") sum
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | NUMBER | "(" sum ")" | measure
    measure    := series "@" (NUMBER | "end")                 # value at a time
                | "value_at" "(" series "," TIME ")"
                | "time_average" "(" series ["," TIME "," TIME] ")"
                | "maximum" "(" series ")"
                | "first_crossing" "(" series "," NUMBER ["," "up" | "down"] ")"
    series     := a sum whose terms are variables (a trajectory per run)
    variable   := NAME ["[" SCENARIO "]"]

``NAME`` is a variable of the model, written as in Vensim (words separated
by spaces) or snake_case; a name that contains the words ``and``, ``or``
or ``not`` is written in double quotes (``"R and D Spending"``).
``[SCENARIO]`` runs the variable under one of the model's scenarios (on the
same parameter sets as every other scenario of the outcome); without it the
variable runs under the base scenario. ``TIME`` is a number or ``end``
(FINAL TIME); ``start`` is INITIAL TIME. A first crossing that never happens
counts as +infinity (so ``first_crossing(...) < 2025`` is false for it); one
that starts at or beyond the threshold crosses at INITIAL TIME, so the
year one scenario gets ahead of another that starts level is a crossing of
a small positive difference, as in the second example.
The measures are those of :mod:`sdrev.measures`, as in the sensitivity
specs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdrev.errors import InvalidValueError, UnknownNameError, suggest

if TYPE_CHECKING:
    from sdrev.model import Model

__all__ = ["FUNCTIONS", "Outcome", "evaluate", "parse_outcome"]

#: Measure functions of the grammar (see :mod:`sdrev.measures`).
FUNCTIONS = ("value_at", "time_average", "maximum", "first_crossing")
_KEYWORDS = {"and", "or", "not"}
_COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<quoted>"[^"]*")
    | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|@)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.']*)
    )""", re.VERBOSE)


# -- tree -------------------------------------------------------------------

@dataclass(frozen=True)
class Variable:
    """A model variable under a scenario (``None``: the base scenario)."""

    name: str
    py_name: str
    scenario: str | None


@dataclass(frozen=True)
class Node:
    """One node of a parsed outcome: ``kind`` and its operands."""

    kind: str          # num, var, neg, arith, measure, compare, and, or, not
    op: str = ""
    args: tuple = ()
    value: float = 0.0
    var: Variable | None = None


@dataclass(frozen=True)
class Outcome:
    """A parsed outcome expression.

    Attributes
    ----------
    text : str
        The expression as given.
    tree : Node
    variables : tuple of Variable
        Every variable and scenario the outcome reads.
    """

    text: str
    tree: Node
    variables: tuple[Variable, ...]

    @property
    def scenarios(self) -> tuple[str | None, ...]:
        """Scenarios to run, in order of appearance (``None``: the base scenario)."""
        return tuple(dict.fromkeys(v.scenario for v in self.variables))


# -- parser -------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str, model: Model):
        self.text, self.model = text, model
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            m = _TOKEN.match(stripped, pos)
            if m is None or m.end() == pos:
                raise self.error(f"unexpected character {stripped[pos:].lstrip()[:1]!r}",
                                 len(stripped[:pos]) + len(stripped[pos:]) -
                                 len(stripped[pos:].lstrip()))
            kind = m.lastgroup
            assert kind is not None  # every alternative of _TOKEN is a named group
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.variables: list[Variable] = []

    def error(self, why: str, at: int | None = None) -> InvalidValueError:
        if at is None:
            at = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return InvalidValueError(f"outcome {self.text!r}: {why} at character {at + 1}; "
                                 "see `sdrev discover --help` for the grammar")

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def current(self) -> tuple[str, str, int]:
        """The token at the parser's position, where the grammar has made sure there is one."""
        return self.tokens[self.i]

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] in ("op", "word") and tok[1].lower() in values

    def take(self, value: str) -> None:
        if not self.at(value):
            tok = self.peek()
            got = "the end" if tok is None else repr(tok[1])
            raise self.error(f"expected {value!r}, got {got}")
        self.i += 1

    # boolean layer
    def outcome(self) -> Node:
        if not self.tokens:
            raise InvalidValueError("outcome is empty; give a condition such as "
                                    "'Technological Capability @ 2030 > 0.8'")
        node = self.or_expr()
        if (tok := self.peek()) is not None:
            raise self.error(f"unexpected {tok[1]!r}")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.at("or"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Node("or", args=tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.at("and"):
            self.i += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else Node("and", args=tuple(parts))

    def not_expr(self) -> Node:
        if self.at("not"):
            self.i += 1
            return Node("not", args=(self.not_expr(),))
        if self.at("("):  # a group of conditions, or arithmetic in parentheses
            start, seen = self.i, len(self.variables)
            self.i += 1
            try:
                node = self.or_expr()
                self.take(")")
                if node.kind in ("compare", "and", "or", "not"):
                    return node
            except InvalidValueError:
                pass
            self.i = start  # not a group of conditions: parse it as arithmetic
            del self.variables[seen:]
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        tok = self.peek()
        if tok is None or tok[1] not in _COMPARISONS:
            got = "the end" if tok is None else repr(tok[1])
            raise self.error(f"expected a comparison (<, <=, >, >=, ==, !=), got {got}")
        self.i += 1
        right = self.sum()
        for side in (left, right):
            if _series(side):
                raise self.error("a trajectory is compared without a measure; write "
                                 "NAME @ TIME or a function such as maximum(NAME)")
        return Node("compare", op=tok[1], args=(left, right))

    # arithmetic layer
    def sum(self) -> Node:
        node = self.product()
        while self.at("+", "-"):
            op = self.current()[1]
            self.i += 1
            node = Node("arith", op=op, args=(node, self.product()))
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.at("*", "/"):
            op = self.current()[1]
            self.i += 1
            node = Node("arith", op=op, args=(node, self.unary()))
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end; expected a number, a variable or a measure")
        if tok[1] == "-":
            self.i += 1
            return Node("neg", args=(self.unary(),))
        if tok[0] == "number":
            self.i += 1
            return Node("num", value=float(tok[1]))
        if tok[1] == "(":
            self.i += 1
            node = self.sum()
            self.take(")")
            return self.at_time(node)
        if tok[0] == "word" and tok[1].lower() in FUNCTIONS and (
                nxt := self.peek(1)) is not None and nxt[1] == "(":
            return self.function()
        if tok[0] in ("word", "quoted"):
            return self.at_time(self.variable())
        raise self.error(f"unexpected {tok[1]!r}")

    def at_time(self, node: Node) -> Node:
        if not self.at("@"):
            return node
        self.i += 1
        return Node("measure", op="value_at", args=(self.series(node),
                                                    self.time_value()))

    def time_value(self) -> float:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].lower() in ("end", "start"):
            self.i += 1
            return self.model.time.final if tok[1].lower() == "end" else self.model.time.initial
        sign = 1.0
        if self.at("-"):
            self.i += 1
            sign = -1.0
        tok = self.peek()
        if tok is None or tok[0] != "number":
            raise self.error("expected a time (a number, start or end)")
        self.i += 1
        value = sign * float(tok[1])
        t0, t1 = self.model.time.initial, self.model.time.final
        if not t0 <= value <= t1:
            raise self.error(f"time {value:g} is outside the horizon {t0:g}-{t1:g}",
                             tok[2])
        return value

    def series(self, node: Node) -> Node:
        if not _series(node):
            raise self.error("a measure needs a trajectory: a variable, or arithmetic "
                             "on variables")
        return node

    def function(self) -> Node:
        name = self.current()[1].lower()
        self.i += 2
        arg = self.series(self.sum())
        extra: list = []
        while self.at(","):
            self.i += 1
            if name == "first_crossing" and len(extra) == 1:
                tok = self.peek()
                if tok is None or tok[1].lower() not in ("up", "down"):
                    raise self.error("first_crossing's direction must be up or down")
                self.i += 1
                extra.append(tok[1].lower())
            elif name == "first_crossing":
                neg = self.at("-")
                self.i += neg
                tok = self.peek()
                if tok is None or tok[0] != "number":
                    raise self.error("first_crossing needs a threshold number")
                self.i += 1
                extra.append(-float(tok[1]) if neg else float(tok[1]))
            else:
                extra.append(self.time_value())
        self.take(")")
        t0, t1 = self.model.time.initial, self.model.time.final
        if name == "value_at":
            if len(extra) != 1:
                raise self.error("value_at takes a variable and a time: value_at(NAME, 2030)")
        elif name == "time_average":
            if len(extra) not in (0, 2):
                raise self.error("time_average takes a variable and optionally start and "
                                 "end: time_average(NAME, 2010, 2030)")
            extra = extra or [t0, t1]
            if not extra[0] < extra[1]:
                raise self.error(f"time_average's start {extra[0]:g} must be before its "
                                 f"end {extra[1]:g}")
        elif name == "maximum":
            if extra:
                raise self.error("maximum takes one variable: maximum(NAME)")
        elif len(extra) not in (1, 2):
            raise self.error("first_crossing takes a variable, a threshold and optionally "
                             "up or down: first_crossing(NAME, 0.5)")
        return Node("measure", op=name, args=(arg, *extra))

    def variable(self) -> Node:
        kind, word, pos = self.current()
        if kind == "quoted":
            name = word[1:-1]
            self.i += 1
        else:
            words: list[str] = []
            while (tok := self.peek()) is not None and tok[0] in ("word", "number") and \
                    tok[1].lower() not in _KEYWORDS and not (
                        tok[1].lower() in FUNCTIONS and words == []):
                words.append(tok[1])
                self.i += 1
            if not words:
                raise self.error(f"expected a variable name, got {word!r}")
            name = " ".join(words)
        scenario = None
        if self.at("["):
            self.i += 1
            tok = self.peek()
            if tok is None or tok[0] not in ("word", "quoted"):
                raise self.error("expected a scenario name inside [ ]")
            self.i += 1
            scenario = tok[1].strip('"')
            if scenario not in self.model.scenarios:
                valid = list(self.model.scenarios)
                raise UnknownNameError(
                    f"outcome {self.text!r}: unknown scenario {scenario!r} of model "
                    f"{self.model.name}" + (suggest(scenario, valid) or
                                            f"; valid scenarios: {', '.join(valid) or 'none'}"))
            self.take("]")
        var = self.resolve(name, pos)
        ref = Variable(var.name, var.py_name, scenario)
        self.variables.append(ref)
        return Node("var", var=ref)

    def resolve(self, name: str, pos: int):
        from sdrev.model import resolve_variable
        try:
            var = resolve_variable(self.model, name)
        except UnknownNameError as exc:
            tok = self.peek()
            hint = ""
            if tok is not None and tok[1].lower() in _KEYWORDS:
                hint = (f"a name with the word {tok[1]!r} goes in double quotes "
                        '("R and D Spending"); ')
            raise UnknownNameError(f"outcome {self.text!r}: {hint}{exc}") from None
        return var


def _series(node: Node) -> bool:
    """Whether ``node`` is a trajectory (contains a variable outside a measure)."""
    if node.kind == "var":
        return True
    if node.kind in ("neg", "arith"):
        return any(_series(a) for a in node.args)
    return False


def parse_outcome(text: str, model: Model) -> Outcome:
    """Parse an outcome expression against ``model``.

    Parameters
    ----------
    text : str
        The expression (see the module documentation for the grammar).
    model : Model

    Returns
    -------
    Outcome

    Raises
    ------
    InvalidValueError
        For a malformed expression (naming the position).
    UnknownNameError
        For an unknown variable or scenario (suggesting close names).
    """
    if not isinstance(text, str):
        raise InvalidValueError(f"outcome must be a string, got {text!r}")
    parser = _Parser(text, model)
    tree = parser.outcome()
    if not parser.variables:
        raise InvalidValueError(f"outcome {text!r} reads no variable of the model")
    return Outcome(text.strip(), tree, tuple(dict.fromkeys(parser.variables)))


# -- evaluation ---------------------------------------------------------------

def evaluate(outcome: Outcome, times, trajectories: Mapping[Variable, np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray]:
    """The outcome of every run.

    Parameters
    ----------
    outcome : Outcome
    times : array_like
        Saved times, shape ``(T,)``.
    trajectories : mapping of Variable to ndarray
        Each variable of ``outcome.variables``, shape ``(runs, T)``.

    Returns
    -------
    holds : ndarray of bool
        Whether the outcome holds, per run.
    decided : ndarray of bool
        False for runs where a measure is NaN (a trajectory that is not
        finite): their outcome is undecided.
    """
    from sdrev import measures

    times = np.asarray(times, dtype=float)
    runs = len(next(iter(trajectories.values())))
    decided = np.ones(runs, dtype=bool)

    def value(node: Node):
        if node.kind == "num":
            return node.value
        if node.kind == "var":
            assert node.var is not None  # the parser sets the variable of a "var" node
            return np.asarray(trajectories[node.var], dtype=float)
        if node.kind == "neg":
            return -value(node.args[0])
        if node.kind == "arith":
            a, b = value(node.args[0]), value(node.args[1])
            with np.errstate(divide="ignore", invalid="ignore"):
                return {"+": np.add, "-": np.subtract, "*": np.multiply,
                        "/": np.divide}[node.op](a, b)
        if node.kind == "measure":
            Y = np.broadcast_to(value(node.args[0]), (runs, len(times)))
            extra = node.args[1:]
            if node.op == "value_at":
                out = measures.value_at(times, Y, extra[0])
            elif node.op == "time_average":
                out = measures.time_average(times, Y, extra[0], extra[1])
            elif node.op == "maximum":
                out = measures.maximum(times, Y)
            else:
                direction = extra[1] if len(extra) > 1 else "up"
                finite = np.isfinite(Y).all(axis=1)
                out = measures.first_crossing(times, np.where(finite[:, None], Y, 0.0),
                                              extra[0], direction=direction, never=math.inf)
                out[~finite] = np.nan
            decided[:] &= ~np.isnan(out)
            return out
        raise ValueError(f"not a number node: {node.kind}")

    def truth(node: Node) -> np.ndarray:
        if node.kind == "compare":
            a, b = value(node.args[0]), value(node.args[1])
            decided[:] &= ~(np.isnan(np.broadcast_to(a, (runs,)))
                            | np.isnan(np.broadcast_to(b, (runs,))))
            return np.broadcast_to({"<": np.less, "<=": np.less_equal, ">": np.greater,
                                    ">=": np.greater_equal, "==": np.equal,
                                    "!=": np.not_equal}[node.op](a, b), (runs,))
        if node.kind == "not":
            return ~truth(node.args[0])
        if node.kind == "and":
            return np.logical_and.reduce([truth(a) for a in node.args])
        if node.kind == "or":
            return np.logical_or.reduce([truth(a) for a in node.args])
        raise ValueError(f"not a condition node: {node.kind}")

    holds = np.array(truth(outcome.tree), dtype=bool)
    return holds, decided
