"""``python -m bench.run --pairs K``: the table is the pair with the median worker-CPU ratio, and
every pair's ratios are listed (one pair's ratio moves with the machine's drift)."""

from __future__ import annotations

import math

from bench.load import Burst
from bench.run import _median_pair, _pairs_line, _server_rows
from bench.sides import server_counters


def _pair(ours_cpu: float, bare_cpu: float, ours_s: float = 10.0) -> tuple[dict[str, object], dict[str, object]]:
    ours = Burst(n=100, enroll_s=1, last_message_s=ours_s, closed_s=ours_s, duplicates=0,
                 cpu_s={"worker": ours_cpu / 2, "activities": ours_cpu / 2})
    bare = Burst(n=100, enroll_s=1, last_message_s=5.0, closed_s=5.0, duplicates=0,
                 cpu_s={"baseline-worker": bare_cpu})
    return {"burst": ours}, {"burst": bare}


def test_the_median_pair_by_cpu_ratio_and_every_pairs_ratios() -> None:
    pairs = [_pair(3.0, 1.0), _pair(1.6, 1.0, ours_s=8.0), _pair(2.0, 1.0)]
    ours, _ = _median_pair(pairs)
    assert ours is pairs[2][0]  # 2.0x: between 1.6x and 3.0x
    line = _pairs_line(pairs)
    assert line is not None
    assert "3.00× / 0.50×, 1.60× / 0.62×, 2.00× / 0.50×" in line and "medians 2.00× / 0.50×" in line
    assert "p99 in the burst, ours / bare, ms (bucket bound) per pair: — / —, — / —, — / —" in line
    for (ours, bare), (o, b) in zip(pairs, [(50, 200), (200, 100), (100, 200)], strict=True):
        ours["burst"].task_buckets = {50.0: 99.0 if o == 50 else 0.0, 100.0: 99.0 if o <= 100 else 0.0,
                                      200.0: 100.0, math.inf: 100.0}
        bare["burst"].task_buckets = {100.0: 99.0 if b == 100 else 0.0, 200.0: 100.0, math.inf: 100.0}
    line = _pairs_line(pairs)
    assert line is not None and "per pair: 50 / 200, 200 / 100, 100 / 200; medians 100 / 200" in line
    assert _pairs_line(pairs[:1]) is None


def test_the_servers_requests_by_operation_and_where_the_sides_differ() -> None:
    text = "\n".join([
        "# HELP service_requests service_requests counter",
        'service_requests{namespace="default",operation="AddActivityTask",service_name="matching"} 3',
        'service_requests{namespace="other",operation="AddActivityTask",service_name="matching"} 2',
        'persistence_requests{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} 7',
        'task_requests{namespace="default",operation="TransferActiveTask",service_name="history",'
        'task_type="TransferActiveTaskActivity"} 4',
        'service_latency_bucket{operation="AddActivityTask",le="0.1"} 9',
    ])
    assert server_counters(text) == {
        "service_requests/matching/AddActivityTask": 5.0,
        "persistence_requests/history/UpdateWorkflowExecution": 7.0,
        "task_requests/history/TransferActiveTaskActivity": 4.0,
    }
    ours, bare = _pair(2.0, 1.0)
    ours["burst"].server_ops = {"service_requests/matching/AddActivityTask": 300.0, "a/b/Same": 200.0}
    bare["burst"].server_ops = {"a/b/Same": 200.0, "a/b/Fewer": 20.0}
    # 200 messages: +1.50 per message for ours; 0.10 fewer; the equal one is left out.
    assert _server_rows(ours, bare) == [
        ("`service_requests/matching/AddActivityTask`", "1.50", "0.00", "+1.50"),
        ("`a/b/Fewer`", "0.00", "0.10", "-0.10"),
    ]
