#!/usr/bin/env python3
"""Writes deploy/grafana/segment-server.json, the Grafana dashboard of segment-server's metrics
(run it after changing the panels; CI checks the committed file is what it writes). With an
argument, writes there instead."""
import json
import pathlib
import sys

PANELS = [
    # (title, unit, [(expr, legend)])
    ("Calls per second by method", "reqps",
     [('sum by (grpc_service, grpc_method) (rate(grpc_server_handled_total{instance=~"$instance"}[$__rate_interval]))', "{{grpc_method}}")]),
    ("Failed calls per second by code", "reqps",
     [('sum by (grpc_code) (rate(grpc_server_handled_total{instance=~"$instance",grpc_code!="OK"}[$__rate_interval]))', "{{grpc_code}}")]),
    ("Score latency", "s",
     [('histogram_quantile(0.5, sum by (le) (rate(grpc_server_handling_seconds_bucket{instance=~"$instance",grpc_method="Score"}[$__rate_interval])))', "p50"),
      ('histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{instance=~"$instance",grpc_method="Score"}[$__rate_interval])))', "p99")]),
    ("Customers scored per second by model version", "ops",
     [('sum by (model, version) (rate(segment_scored_customers_total{instance=~"$instance"}[$__rate_interval]))', "{{model}}@{{version}}")]),
    ("Scoring time p99 by model version", "s",
     [('histogram_quantile(0.99, sum by (le, model, version) (rate(segment_score_seconds_bucket{instance=~"$instance"}[$__rate_interval])))', "{{model}}@{{version}}")]),
    ("Drift (PSI, last 24 h; above 0.25 is a shift)", "none",
     [('max by (model, version, feature) (segment_drift_psi{instance=~"$instance"})', "{{model}}@{{version}} {{feature}}")]),
    ("Messages per second", "ops",
     [('sum (rate(grpc_server_msg_received_total{instance=~"$instance"}[$__rate_interval]))', "received"),
      ('sum (rate(grpc_server_msg_sent_total{instance=~"$instance"}[$__rate_interval]))', "sent")]),
    ("Training jobs", "short",
     [('sum by (state) (segment_jobs{instance=~"$instance"})', "{{state}} now"),
      ('sum by (state) (increase(segment_jobs_finished_total{instance=~"$instance"}[1h]))', "{{state}} in the last hour")]),
    ("Memory", "bytes",
     [('process_resident_memory_bytes{instance=~"$instance"}', "{{instance}} resident")]),
    ("CPU", "percentunit",
     [('rate(process_cpu_seconds_total{instance=~"$instance"}[$__rate_interval])', "{{instance}}")]),
    ("Connections and descriptors", "short",
     [('segment_open_connections{instance=~"$instance"}', "{{instance}} connections"),
      ('process_open_fds{instance=~"$instance"}', "{{instance}} descriptors")]),
    ("Versions running", "short",
     [('count by (version, commit) (segment_build_info{instance=~"$instance"})', "{{version}} ({{commit}})")]),
]


def panel(index, title, unit, targets):
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
             "datasource": {"type": "prometheus", "uid": "${datasource}"}}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


dashboard = {
    "uid": "segment-server",
    "title": "segment-server",
    "description": "Calls, latency, scoring by model version, drift, jobs and the process (docs/operations.md, Metrics).",
    "tags": ["segment-server", "grpc"],
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "30s",
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        {"name": "instance", "type": "query", "label": "Replica", "multi": True, "includeAll": True,
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": "label_values(segment_build_info, instance)", "refresh": 2,
         "current": {"text": "All", "value": "$__all"}},
    ]},
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}

path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).with_name("segment-server.json")
path.write_text(json.dumps(dashboard, indent=2) + "\n")
