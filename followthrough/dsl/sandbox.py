"""A Jinja2 sandbox that cannot exhaust CPU or memory: the one every template and expression uses.

Jinja's sandbox stops attribute games (``__class__``) but not arithmetic: ``'a' * 10**9`` asks
for a gigabyte and ``9**9**9`` for hours of big-integer work, and a few nested loops run for ever.
Here every operation is counted against a budget, and operations that could make a huge value
in one step are checked *before* they run:

- ``*`` and ``**`` are refused when the result would pass ``MAX_SIZE`` (characters or items) or
  ``MAX_INT_BITS``; ``%`` and ``str.format`` refuse widths and precisions of 100000 or more;
- every call, filter, attribute or item access, operator and loop iteration costs one
  operation, and a filter or call over a sequence costs its length too; past ``MAX_OPERATIONS``
  the evaluation stops with :class:`BudgetExceeded`;
- a value made by a call, filter, ``+`` or ``~`` longer than ``MAX_SIZE`` stops the evaluation
  (growth by doubling is caught before it matters).

The budget counts operations, not seconds, so the same expression with the same data always
stops at the same place: expressions run inside workflows, which must replay identically.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import Template, nodes, pass_context
from jinja2.environment import TemplateExpression
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

#: Characters of a string, or items of a list, one operation may make.
MAX_SIZE = 256 * 1024
#: Bits of an integer ``**`` or ``*`` may make (a 1233-digit number).
MAX_INT_BITS = 4096
#: Operations one evaluation (a condition, a value, a template part) may spend.
MAX_OPERATIONS = 1_000_000
#: Widths and precisions in format strings of six digits or more ("%100000s", "{:>100000}"),
#: or taken from the arguments ("%*s", "{:{}}").
_WIDE_FORMAT = re.compile(r"\d{6,}|%[-#0 +]*\*|\{[^{}]*\{")
#: Characters one template may write, into its output and into blocks it captures
#: (``{% set x %}...{% endset %}``, ``{% filter %}``, macros): loops in a captured block would
#: otherwise build any amount of text that the output limit never sees.
MAX_WRITTEN = 4 * MAX_SIZE
#: Internal filters the sandbox wraps around loops, ``~`` and output (not meant for authors).
_ITER_FILTER, _CONCAT_FILTER, _WRITE_FILTER = "_ft_counted", "_ft_bounded", "_ft_written"


class BudgetExceeded(SecurityError):
    """An expression or template that ran past its operation budget or made too large a value."""


@dataclass
class Budget:
    limit: int
    spent: int = 0
    written: int = 0

    def write(self, characters: int) -> None:
        self.written += characters
        if self.written > MAX_WRITTEN:
            raise BudgetExceeded(f"the template wrote more than {MAX_WRITTEN} characters")

    def spend(self, amount: int = 1) -> None:
        self.spent += amount
        if self.spent > self.limit:
            raise BudgetExceeded(f"stopped after {self.limit} operations (a runaway loop or "
                                 "expression?)")


_BUDGET: ContextVar[Budget | None] = ContextVar("ft_sandbox_budget", default=None)


@contextmanager
def budget(operations: int = MAX_OPERATIONS) -> Iterator[Budget]:
    """A fresh operation budget for the evaluations inside the ``with`` block."""
    current = Budget(operations)
    token = _BUDGET.set(current)
    try:
        yield current
    finally:
        _BUDGET.reset(token)


def _spend(amount: int = 1) -> None:
    current = _BUDGET.get()
    if current is not None:
        current.spend(amount)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def _bounded(value: Any) -> Any:
    if _size(value) > MAX_SIZE:
        raise BudgetExceeded(f"a value of {_size(value)} characters or items is too large "
                             f"(at most {MAX_SIZE})")
    return value


def _check_repeat(left: Any, right: Any) -> None:
    """``seq * n`` and ``n * seq``: refuse before Python allocates the result."""
    for seq, count in ((left, right), (right, left)):
        if _size(seq) and isinstance(count, int) and _size(seq) * count > MAX_SIZE:
            raise BudgetExceeded(f"repeating {_size(seq)} characters or items {count} times "
                                 f"is too large (at most {MAX_SIZE})")
    if isinstance(left, int) and isinstance(right, int) and (
            left.bit_length() + right.bit_length() > MAX_INT_BITS):
        raise BudgetExceeded(f"the product is too large (more than {MAX_INT_BITS} bits)")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and (
            exponent > MAX_INT_BITS or base.bit_length() * exponent > MAX_INT_BITS):
        raise BudgetExceeded(f"the power is too large (more than {MAX_INT_BITS} bits)")


def _check_format(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise BudgetExceeded("format widths and precisions are at most 99999, and not '*'")


def _check_counts(args: Iterable[Any]) -> None:
    """Refuse huge counts handed to a string or list method or a filter (``center(10**9)``,
    ``slice(10**9)``): they would allocate before any size check could see the result."""
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
            raise BudgetExceeded(f"the number {value} is too large here (at most {MAX_SIZE})")


def _check_growth(operation: str, subject: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> None:
    """Refuse the string operations whose result can be the product of two sizes (``replace``
    of a common letter by a long text, ``join`` or ``indent`` with a long separator, ``wordwrap``
    with a long wrapstring), by computing the size cheaply before Python builds it."""
    size: int | None = None
    if operation == "replace" and isinstance(subject, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = subject.count(old) if old else len(subject) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        size = len(subject) + count * (len(new) - len(old))
    elif operation == "join" and isinstance(subject, str) and args and isinstance(args[0], list):
        items = args[0]
        size = len(subject) * max(len(items) - 1, 0) + sum(len(str(item)) for item in items)
    elif operation == "indent" and isinstance(subject, str):
        width = args[0] if args else kwargs.get("width", 4)
        size = len(subject) + (subject.count("\n") + 1) * (len(width) if isinstance(width, str) else width)
    elif operation == "wordwrap" and isinstance(subject, str):
        width = args[0] if args else kwargs.get("width", 79)
        wrap = args[3] if len(args) > 3 else kwargs.get("wrapstring") or "\n"
        pieces = len(subject) // max(width, 1) + subject.count("\n") + 1
        size = len(subject) + pieces * len(str(wrap))
    if size is not None and size > MAX_SIZE:
        raise BudgetExceeded(f"{operation} would make {size} characters (at most {MAX_SIZE})")


def _cost(*values: Any) -> int:
    """One operation, plus the size of every sequence handed over (``sort`` of n items is n)."""
    return 1 + sum(_size(value) for value in values)


# Both take the context only so that Jinja cannot run them once at compile time on constants
# ("constant folding"): they must count at every render.
def _items(iterable: Iterable[Any]) -> Iterator[Any]:
    """The items, one operation each."""
    for item in iterable:
        _spend()
        yield item


@pass_context
def _counted(_context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    """A loop's items, one operation each."""
    return _items(iterable)


@pass_context
def _written(_context: Context, value: Any) -> Any:
    """A piece of output (template text or an expression's value), counted as it is written."""
    current = _BUDGET.get()
    if current is not None:
        current.write(len(value) if isinstance(value, str) else len(str(value)))
    return value


def _budgeted_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked pass_context / pass_eval_context / pass_environment get that first.
    skip = 1 if hasattr(function, "jinja_pass_arg") else 0

    operation = function.__name__.removeprefix("do_")

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        value, extra = args[skip] if len(args) > skip else None, args[skip + 1:]
        if operation == "join" and not isinstance(value, (str, list, tuple, dict)):
            value = list(_items(value or ()))  # a generator: its size is known once listed
            args = (*args[:skip], value, *extra)
        _check_counts((*extra, *kwargs.values()))
        _spend(_cost(value, *extra, *kwargs.values()))
        if operation == "format":
            _check_format(value)
        elif operation == "join":
            separator = extra[0] if extra else kwargs.get("d", "")
            _check_growth("join", str(separator), (list(value or ()),), {})
        else:
            _check_growth(operation, value, extra, kwargs)
        return _bounded(function(*args, **kwargs))

    return wrapper


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with operation and size limits (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        del self.globals["lipsum"]  # generates text of any requested size: nothing we need
        self.filters = {name: _budgeted_filter(f) for name, f in self.filters.items()}
        self.filters[_ITER_FILTER] = _counted
        self.filters[_CONCAT_FILTER] = _bounded
        self.filters[_WRITE_FILTER] = _written
        def bounded_range(*args: int) -> range:
            found = safe_range(*args)  # at most 100000 items
            _spend(len(found))
            return found

        self.globals["range"] = bounded_range

    def add_filters(self, filters: Mapping[str, Callable[..., Any]]) -> None:
        """Add filters with the same budget and size checks as the built-in ones."""
        self.filters.update({name: _budgeted_filter(f) for name, f in filters.items()})

    def compile(self, source: Any, name: str | None = None, filename: str | None = None,
                raw: bool = False, defer_init: bool = False) -> Any:
        # Rewrite the tree before code generation: loops count their iterations, and every
        # ``~`` checks the size of what it made. compile_expression hands a tree, templates text.
        if isinstance(source, str):
            source = self._parse(source, name, filename)
        return super().compile(_instrument(source), name, filename, raw, defer_init)  # type: ignore[call-overload]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%":
            _check_format(left)
        return _bounded(super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend()
        return super().getitem(obj, argument)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # expandtabs and translate multiply a string's size by an argument; no message needs them.
        return attr not in ("expandtabs", "translate", "maketrans") and super().is_safe_attribute(
            obj, attr, value)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # str.format comes wrapped by the sandbox; the string is the wrapped method's __self__.
        method = getattr(__obj, "__wrapped__", __obj)
        bound = getattr(method, "__self__", None)
        if isinstance(bound, (str, list, tuple, dict)):
            name = getattr(method, "__name__", "")
            if name == "join" and args:
                args = (list(_items(args[0])), *args[1:])  # its size is known once listed
            _check_counts((*args, *kwargs.values()))
            if name in ("format", "format_map"):
                _check_format(bound)
            elif name in ("replace", "join"):
                _check_growth(name, bound, args, kwargs)
        _spend(_cost(bound, *args, *kwargs.values()))
        return _bounded(super().call(__context, __obj, *args, **kwargs))


def _instrument(tree: nodes.Template) -> nodes.Template:
    """Loops count their items (``|_ft_counted``), ``~`` checks its result (``|_ft_bounded``),
    output counts what it writes (``|_ft_written``)."""
    for node in [tree, *tree.find_all(nodes.Node)]:
        for field, value in node.iter_fields():
            if isinstance(value, nodes.Concat):
                setattr(node, field, _filtered(value, _CONCAT_FILTER))
            elif isinstance(value, list) and any(isinstance(v, nodes.Concat) for v in value):
                setattr(node, field, [_filtered(v, _CONCAT_FILTER) if isinstance(v, nodes.Concat)
                                      else v for v in value])
        if isinstance(node, nodes.For):
            node.iter = _filtered(node.iter, _ITER_FILTER)
        elif isinstance(node, nodes.Output):
            # Template text stays markup when autoescaping, as Jinja treats it.
            node.nodes = [nodes.MarkSafeIfAutoescape(_filtered(child, _WRITE_FILTER))
                          if isinstance(child, nodes.TemplateData) else _filtered(child, _WRITE_FILTER)
                          for child in node.nodes]
    return tree


def _filtered(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


def render(template: Template, context: dict[str, Any], *, max_output: int = MAX_SIZE) -> str:
    """Render within a fresh budget, stopping as soon as the output passes ``max_output``."""
    with budget():
        parts: list[str] = []
        total = 0
        for chunk in template.generate(context):
            total += len(chunk)
            if total > max_output:
                raise BudgetExceeded(f"the output is longer than {max_output} characters")
            parts.append(chunk)
    return "".join(parts)


def constant_problems(env: BoundedSandbox, tree: nodes.Node) -> list[str]:
    """What the constant arithmetic of a tree would refuse at run time (``9**(9**9)``,
    ``'a' * 10**9``), found when saving instead of when a run or a send gets there.

    Jinja folds constants while compiling; the sandbox stops it from folding the operators it
    intercepts, and this evaluates the largest constant parts using them, bounded, with no data
    (at most ``_CONSTANT_CHECKS`` of them: each costs a compile)."""
    problems: list[str] = []
    for node in _constant_products(tree)[:_CONSTANT_CHECKS]:
        body = [nodes.Assign(nodes.Name("result", "store"), node, lineno=node.lineno)]
        try:
            expression = TemplateExpression(env.from_string(nodes.Template(body, lineno=1)), False)
            with budget():
                expression()
        except BudgetExceeded as exc:
            if str(exc) not in problems:
                problems.append(str(exc))
        except Exception:  # other errors are the run's to report, with its data
            continue
    return problems


_CONSTANT_CHECKS = 200
_GROWING = (nodes.Mul, nodes.Pow, nodes.Mod)


def _constant_products(node: nodes.Node) -> list[nodes.BinExpr]:
    """The outermost operator expressions without names that contain ``*``, ``**`` or ``%``."""
    if isinstance(node, nodes.BinExpr) and not any(True for _ in node.find_all(nodes.Name)):
        grows = isinstance(node, _GROWING) or any(True for _ in node.find_all(_GROWING))
        return [node] if grows else []
    found: list[nodes.BinExpr] = []
    for child in node.iter_child_nodes():
        found += _constant_products(child)
    return found
