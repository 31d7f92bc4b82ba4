#!/usr/bin/python3
"""Writes deploy/k8s/overlays/monitoring/prometheusrule.yaml from deploy/prometheus/alerts.yml.

The recording and alerting rules live in one place (alerts.yml, loaded as is
by the compose Prometheus); Kubernetes with the Prometheus Operator needs them
wrapped in a PrometheusRule object, which this script produces.

  /usr/bin/python3 deploy/prometheus/to_prometheusrule.py [--out FILE]
"""
import argparse
import pathlib

import yaml

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE / "alerts.yml"
TARGET = HERE.parent / "k8s" / "overlays" / "monitoring" / "prometheusrule.yaml"
HEADER = (
    "# The rules of deploy/prometheus/alerts.yml as a Prometheus Operator\n"
    "# PrometheusRule. Generated from that file; keep the two in step:\n"
    "#   /usr/bin/python3 deploy/prometheus/to_prometheusrule.py\n"
)


def _block_strings(dumper, value):
    # Multi-line PromQL stays readable as a literal block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=TARGET,
                        help=f"where to write the PrometheusRule (default {TARGET})")
    args = parser.parse_args()
    rules = yaml.safe_load(SOURCE.read_text())
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "poolcat"},
        "spec": rules,
    }
    yaml.SafeDumper.add_representer(str, _block_strings)
    args.out.write_text(HEADER + yaml.safe_dump(doc, sort_keys=False, width=100))


if __name__ == "__main__":
    main()
