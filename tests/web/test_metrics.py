"""Prometheus metrics (serve's /metrics, a run's own endpoint) and the TensorBoard writer."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.web.conftest import Server
from tests.web.runs import StreamedRun, leak_finding
from torchwarden.metrics import expose, write_tensorboard
from torchwarden.runtime.lease import acquire, parse_gpu_request


def _scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        text = answer.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_serve_metrics_parse_and_follow_conventions(
    server: Server, tmp_path: Path, real_run_dir: Path
) -> None:
    run = StreamedRun(tmp_path / "m", server.index, name="metered")
    run.train(12)
    run.finding(leak_finding(real_run_dir))
    with acquire(parse_gpu_request("1"), available=[0], lease_dir=server.lease_dir):
        samples = _scrape(f"{server.base}/metrics")
    rid = run.handle.id
    assert samples["torchwarden_steps_total"] == {(("rank", "0"), ("run", rid)): 12.0}
    assert samples["torchwarden_findings_total"] == {(("kind", "leak"), ("run", rid)): 1.0}
    assert samples["torchwarden_leak_bytes"][(("rank", "0"), ("run", rid))] > 0
    rss = samples["torchwarden_memory_resident_bytes"][
        (("device", "cpu"), ("rank", "0"), ("run", rid))
    ]
    assert rss > 2**20
    assert 0 < samples["torchwarden_step_time_seconds"][(("rank", "0"), ("run", rid))] < 60
    assert samples["torchwarden_run_status"][(("run", rid), ("status", "running"))] == 1.0
    assert list(samples["torchwarden_gpu_lease_holders"].values()) == [1.0]
    for name, series in samples.items():
        assert name.startswith("torchwarden_"), name
        for labels in series:
            assert "pid" not in dict(labels), name  # pids churn series


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_runs_own_endpoint_from_event_dicts(real_run_dir: Path) -> None:
    port = _free_port()
    endpoint = expose(port, "my-run")
    try:
        for step in (1, 2, 3):
            memory = {"cuda:0": {"allocated": 100 * step, "reserved": 1000, "peak_allocated": 300}}
            endpoint.observe(
                {
                    "type": "step",
                    "step": step,
                    "rank": 1,
                    "t": step,
                    "time_s": 0.5,
                    "memory": memory,
                }
            )
        endpoint.observe({"type": "finding", **leak_finding(real_run_dir)})
        endpoint.observe({"type": "step", "step": "4", "rank": 1, "t": 1})  # not valid: ignored
        endpoint.observe({"type": "status", "status": "ok", "exit_code": 0})
        samples = _scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        endpoint.close()
    device = (("device", "cuda:0"), ("rank", "1"), ("run", "my-run"))
    assert samples["torchwarden_memory_allocated_bytes"] == {device: 300.0}
    assert samples["torchwarden_memory_reserved_bytes"] == {device: 1000.0}
    assert samples["torchwarden_memory_peak_bytes"] == {device: 300.0}
    assert samples["torchwarden_steps_total"] == {(("rank", "1"), ("run", "my-run")): 3.0}
    assert samples["torchwarden_run_status"][(("run", "my-run"), ("status", "ok"))] == 1.0


def test_tensorboard_gets_the_same_series_and_findings(tmp_path: Path, real_run_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = StreamedRun(tmp_path / "tb", tmp_path / "index")
    run.train(6)
    finding = leak_finding(real_run_dir)
    run.finding({**finding, "holder": "<script>x</script>"})
    run.end()
    assert write_tensorboard(run.out_dir, tmp_path / "logs") == 1 + 6 + 1 + 1
    acc = EventAccumulator(str(tmp_path / "logs"), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    steps = [e.step for e in acc.Scalars("step_time_seconds/rank0")]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert len(acc.Scalars("memory_bytes/cpu/rss/rank0")) == 6
    text = acc.Tensors("findings/leak/text_summary")[0].tensor_proto.string_val[0].decode()
    assert finding["message"][:20] in text and "&lt;script&gt;" in text and "<script>" not in text
    assert json.loads((run.out_dir / "events.jsonl").read_text().splitlines()[0])["run"] == "train"


def test_the_grafana_dashboard_asks_only_for_metrics_that_exist() -> None:
    import re

    from torchwarden.metrics.prometheus import TorchwardenCollector

    exposed = {
        f.name + ("_total" if f.type == "counter" else "")
        for f in TorchwardenCollector(lambda: []).collect()
    }
    dashboard = (Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text()
    asked = set(re.findall(r"torchwarden_[a-z_]+", dashboard))
    assert asked and asked <= exposed, asked - exposed
