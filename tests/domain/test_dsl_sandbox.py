"""The bounded sandbox: no expression or template exhausts CPU or memory, and it stops the same
way every time (expressions run inside workflows)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from jinja2 import StrictUndefined

from followthrough.dsl import sandbox
from followthrough.dsl.expressions import ExpressionError, evaluate, validate_expression
from followthrough.dsl.interpreter import Note, RunState, SetValue, next_action
from followthrough.dsl.sandbox import MAX_OPERATIONS, BoundedSandbox, BudgetExceeded
from tests.domain.test_dsl_interpreter import ctx, definition

DATA = {"s": "abcdefghij", "n": 10**9, "big": 99999}
TOO_LONG = "repeating {} characters or items {} times is too large (at most 262144)"
WIDE = "format widths and precisions are at most 99999, and not '*'"
OUT_OF_BUDGET = f"stopped after {MAX_OPERATIONS} operations (a runaway loop or expression?)"


def run(text: str) -> Any:
    return evaluate(text, {"data": DATA})


class TestExpressions:
    @pytest.mark.parametrize(("text", "message"), [
        ("'a' * 10**9", TOO_LONG.format(1, 10**9)),
        ("10**9 * 'a'", TOO_LONG.format(1, 10**9)),
        ("[1, 2] * data.n", TOO_LONG.format(2, 10**9)),
        ("data.s * 30000", TOO_LONG.format(10, 30000)),
        ("9 ** (9 ** 9)", "the power is too large (more than 4096 bits)"),
        ("2 ** 5000", "the power is too large (more than 4096 bits)"),
        ("(2 ** 2000) * (2 ** 2000) * (2 ** 2000)", "the product is too large (more than 4096 bits)"),
        ("'%999999999s' % 'x'", WIDE),
        ("'%*s' % (data.n, 'x')", WIDE),
        ("'{:>999999999}'.format(1)", WIDE),
        ("'{:{}}'.format(1, data.n)", "the number 1000000000 is too large here (at most 262144)"),
        ("'x'.center(data.n)", "the number 1000000000 is too large here (at most 262144)"),
        ("'x'|center(data.n)", "the number 1000000000 is too large here (at most 262144)"),
        ("'%s'|format(1) ~ '%999999s'|format(1)", WIDE),
        ("range(data.big)|map('string')|join|length", "join would make 488885 characters (at most 262144)"),
        (" + ".join(["range(data.big)|sum"] * 11), OUT_OF_BUDGET),
        ("(data.s * 10000)|replace('a', data.s * 10)", "replace would make 1090000 characters (at most 262144)"),
        ("(data.s * 10000).replace('a', data.s * 10)", "replace would make 1090000 characters (at most 262144)"),
        ("range(1000)|join(data.s * 100)", "join would make 1001890 characters (at most 262144)"),
        ("(data.s * 100).join(range(1000)|map('string'))", "join would make 1001890 characters (at most 262144)"),
        ("('a\n' * 1000)|indent(1000)", "indent would make 1003000 characters (at most 262144)"),
        ("(data.s * 10000)|wordwrap(1, wrapstring='xxxxx')", "wordwrap would make 600005 characters (at most 262144)"),
    ])
    def test_runaway_expressions_are_expression_errors(self, text: str, message: str) -> None:
        started = time.monotonic()
        with pytest.raises(ExpressionError) as caught:
            run(text)
        assert str(caught.value) == f"BudgetExceeded: {message}"
        assert time.monotonic() - started < 2

    @pytest.mark.parametrize("method", ["expandtabs", "translate", "maketrans"])
    def test_string_methods_that_multiply_are_unavailable(self, method: str) -> None:
        with pytest.raises(ExpressionError, match=f"access to attribute '{method}' of 'str' object is unsafe"):
            run(f"data.s.{method}(1)")

    def test_a_huge_range_is_refused_by_jinja(self) -> None:
        with pytest.raises(ExpressionError, match=r"^OverflowError: Range too big"):
            run("range(10**9)")

    def test_jinja_powers_group_from_the_left(self) -> None:
        # 9**9**9 is (9**9)**9 = 9**81 in Jinja: 257 bits, harmless; 9**(9**9) is refused above.
        assert run("9**9**9") == 9**81

    @pytest.mark.parametrize(("text", "value"), [
        ("'ab' * 3", "ababab"), ("2 ** 10", 1024), ("'%05d' % 42", "00042"),
        ("'{}-{}'.format('a', 'b')", "a-b"), ("data.s ~ '!'", "abcdefghij!"),
        ("range(100000)|sum", 4999950000), ("[data.s]|join(',')", "abcdefghij"),
        ("'x'.center(5)", "  x  "), ("'abc'.replace('', '-')", "-a-b-c-"),
        ("[1, 2, 3]|join(',')", "1,2,3"), ("','.join(['a', 'b'])", "a,b"), ("range(5)|join", "01234"),
        ("'ab\ncd'|indent(2)", "ab\n  cd"), ("'hello world'|wordwrap(5)", "hello\nworld"),
    ])
    def test_ordinary_expressions_still_work(self, text: str, value: Any) -> None:
        assert run(text) == value

    def test_the_budget_stops_at_the_same_place_every_time(self) -> None:
        spent = []
        for _ in range(2):
            with sandbox.budget(1000) as budget, pytest.raises(BudgetExceeded):
                BoundedSandbox().compile_expression("range(900)|list|length + range(900)|sum")()
            spent.append(budget.spent)
        assert spent == [1803, 1803]

    @pytest.mark.parametrize(("text", "problem"), [
        ("9 ** (9 ** 9) > 1", "the power is too large (more than 4096 bits)"),
        ("'a' * 10**9 == 'b'", TOO_LONG.format(1, 10**9)),
    ])
    def test_validation_finds_constant_runaways(self, text: str, problem: str) -> None:
        started = time.monotonic()
        assert validate_expression(text) == [problem]
        assert time.monotonic() - started < 2

    def test_the_random_filter_is_unknown_to_expressions(self) -> None:
        assert validate_expression("[1, 2]|random == 1") == ["does not parse: No filter named 'random'."]

    def test_validation_leaves_data_to_the_run(self) -> None:
        assert validate_expression("data.s * 10**9 == 'x'") == []


class TestTemplates:
    env = BoundedSandbox(undefined=StrictUndefined)

    def render(self, text: str) -> str:
        return sandbox.render(self.env.from_string(text), {"data": DATA})

    @pytest.mark.parametrize(("text", "message"), [
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         OUT_OF_BUDGET),
        ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
         "{% endfor %}", "a value of 524288 characters or items is too large (at most 262144)"),
        ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
         "{% endfor %}", "a value of 524288 characters or items is too large (at most 262144)"),
        ("{% for i in range(30000) %}xxxxxxxxxx{% endfor %}",
         "the output is longer than 262144 characters"),
        ("{{ 'a' * 10**9 }}", TOO_LONG.format(1, 10**9)),
        ("{% set x %}{% for i in range(90000) %}" + "x" * 1000 + "{% endfor %}{% endset %}ok",
         "the template wrote more than 1048576 characters"),
        ("{% filter upper %}{% for i in range(90000) %}{{ data.s * 100 }}{% endfor %}{% endfilter %}",
         "the template wrote more than 1048576 characters"),
    ])
    def test_runaway_templates_stop(self, text: str, message: str) -> None:
        started = time.monotonic()
        with pytest.raises(BudgetExceeded) as caught:
            self.render(text)
        assert str(caught.value) == message
        assert time.monotonic() - started < 2

    def test_lipsum_and_expandtabs_are_gone(self) -> None:
        assert "lipsum" not in self.env.globals
        with pytest.raises(Exception, match="access to attribute 'expandtabs' of 'str' object is unsafe"):
            self.render("{{ 'a\tb'.expandtabs(100) }}")

    def test_template_text_stays_markup_when_autoescaping(self) -> None:
        env = BoundedSandbox(autoescape=True, undefined=StrictUndefined)
        text = "<p>{{ x }}</p>{% for c in 'ab' %}<b>{{ c }}</b>{% endfor %}"
        assert sandbox.render(env.from_string(text), {"x": "<i>"}) == (
            "<p>&lt;i&gt;</p><b>a</b><b>b</b>")

    def test_ordinary_templates_still_render(self) -> None:
        text = "{% for c in data.s %}{{ c|upper }}{% endfor %} {{ data.s ~ '!' }} {{ loop }}"
        assert self.render(text.replace(" {{ loop }}", "")) == "ABCDEFGHIJ abcdefghij!"


class TestInRuns:
    def test_a_runaway_set_expression_fails_its_step_with_the_reason(self) -> None:
        d = definition({"id": "s", "type": "set", "target": "contact.attributes.x",
                        "expression": "data.s * data.n"})
        note = next_action(d, RunState(), ctx(data=DATA))
        assert note == Note("s", 1, "set", "failed",  # type: ignore[arg-type]
                            f"expression error: BudgetExceeded: {TOO_LONG.format(10, 10**9)}")

    def test_a_runaway_condition_is_false_with_the_reason(self) -> None:
        d = definition({"id": "i", "type": "if", "condition": "(data.s * data.n)|length > 0",
                        "then": "i"}, {"id": "w", "type": "wait", "duration": "P1D"})
        note = next_action(d, RunState(), ctx(data=DATA))
        assert isinstance(note, Note)
        assert note.reason == (
            f"condition error: BudgetExceeded: {TOO_LONG.format(10, 10**9)} -> next step")

    def test_an_ordinary_set_expression_still_sets(self) -> None:
        d = definition({"id": "s", "type": "set", "target": "contact.attributes.x",
                        "expression": "data.s * 2"})
        assert next_action(d, RunState(), ctx(data=DATA)) == SetValue("s", 1, "x", DATA["s"] * 2)
