"""`python -m benchmarks [NAME ...] [--repeats N] [--reference-repeats M]`: run and report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks import (
    backtests,
    choice,
    classifier,
    cleaning,
    customers,
    engines,
    incremental,
    scale,
    targets,
    value,
    whole,
)

BENCHMARKS = {
    "cleaning": cleaning.run,
    "classifier": classifier.run,
    "scale": scale.run,
    "customers": customers.run,
    "value": value.run,
    "whole": whole.run,
    "engines": engines.run,
    "incremental": incremental.run,
    "choice": choice.run,
    "targets": targets.run,
    "backtests": backtests.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], default=list(BENCHMARKS))
    parser.add_argument("--repeats", type=int, default=5, help="runs of ours (median reported)")
    parser.add_argument("--reference-repeats", type=int, default=1, help="runs of the reference")
    parser.add_argument(
        "--sizes",
        help="scale, engines, incremental: copies of the bundled"
        " data (default 1,10,50,200; 10,50; 1,10)",
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers: how many")
    parser.add_argument("--spark-cluster", help="engines: a standalone cluster's spark:// URL")
    parser.add_argument("--spark-connect", help="engines: a Spark Connect server's sc:// URL")
    args = parser.parse_args()
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    for name in args.names or list(BENCHMARKS):
        options = {
            "scale": {"sizes": tuple(int(n) for n in (args.sizes or "1,10,50,200").split(","))},
            "engines": {
                "sizes": tuple(int(n) for n in (args.sizes or "10,50").split(",")),
                "spark_cluster": args.spark_cluster,
                "spark_connect": args.spark_connect,
            },
            "incremental": {"sizes": tuple(int(n) for n in (args.sizes or "1,10").split(","))},
            "customers": {"customers": args.customers},
            "value": {"customers": args.customers},
        }.get(name, {})
        report = BENCHMARKS[name](args.repeats, args.reference_repeats, **options)
        (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
