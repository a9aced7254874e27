"""The step graph of a sequence: who can follow whom, what is unreachable, which loops never wait.

Edges: a step falls through to the next one, except ``goto`` (to its target only), ``exit``
(nowhere), ``if`` (``then``, and ``else`` or the next step) and ``split`` (each variant). Unknown
targets are left out (they are reported separately).
"""

from __future__ import annotations

from followthrough.dsl.schema import ExitStep, GotoStep, IfStep, SequenceDefinition, SplitStep


def successors(definition: SequenceDefinition) -> list[list[int]]:
    index = definition.index_of()
    count = len(definition.steps)
    edges: list[list[int]] = []
    for position, step in enumerate(definition.steps):
        following = [position + 1] if position + 1 < count else []
        if isinstance(step, ExitStep):
            targets: list[str | None] = []
            following = []
        elif isinstance(step, GotoStep):
            targets, following = [step.goto], []
        elif isinstance(step, IfStep):
            targets = [step.then, step.else_]
            if step.else_ is not None:
                following = []
        elif isinstance(step, SplitStep):
            targets, following = [v.goto for v in step.variants], []
        else:
            targets = []
        found = following + [index[t] for t in targets if t is not None and t in index]
        edges.append(list(dict.fromkeys(found)))
    return edges


def unreachable(edges: list[list[int]]) -> list[int]:
    """Steps no path from the first step reaches, in order."""
    seen = {0}
    stack = [0]
    while stack:
        for nxt in edges[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return [i for i in range(len(edges)) if i not in seen]


def waitless_cycles(edges: list[list[int]], waits: list[bool]) -> list[list[int]]:
    """Cycles among steps that are not waits (strongly connected components of that subgraph
    with more than one step, or one step that jumps to itself), each in step order."""
    nodes = [i for i in range(len(edges)) if not waits[i]]
    allowed = set(nodes)
    graph = {i: [j for j in edges[i] if j in allowed] for i in nodes}
    cycles = [sorted(c) for c in _components(graph)]
    return sorted(c for c in cycles if len(c) > 1 or c[0] in graph[c[0]])


def _components(graph: dict[int, list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, iterative (definitions may have many steps)."""
    counter = 0
    low: dict[int, int] = {}
    order: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    found: list[list[int]] = []
    for root in graph:
        if root in order:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if child < len(graph[node]):
                work.append((node, child + 1))
                nxt = graph[node][child]
                if nxt not in order:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], order[nxt])
                continue
            if low[node] == order[node]:
                component: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found
