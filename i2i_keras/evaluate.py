"""Evaluate an exported model on a data set: `python -m i2i_keras.evaluate --model EXPORT --data SPEC [--output DIR]`.

The export (a model base path or a version directory written by `i2i_keras.export.export_for_serving`) is called
through its bytes signatures, as TF Serving serves it, and scored by the metric suite of its data kind (the same
`i2i_keras.evaluation.run_evaluation` the TFX evaluator blesses with): PSNR / SSIM on RGB and on Y, LPIPS, the
Fréchet distance and KID on VGG16 features, the domain judge's accuracy, LPIPS diversity... (README, "Metrics").

`--data` is an image folder in any layout the data kind reads (its ``--split``: eval by default, i.e. the split
folder test/ or val/, or the hashed eval share; ``all`` for every image), ``embedded:NAME``, a TFX Examples
artifact (its Split-eval) or TFRecord files / a glob. `--metrics a,b` computes a subset; `--baseline EXPORT`
scores another export on the same images and compares; `--threshold METRIC.CHECK=VALUE` adds blessing checks
(as the pipeline's); `--judge FILE` scores with the domain judge saved by an earlier evaluation instead of
training one, so the runs compare on the same judge.

With `--output DIR` it writes ``DIR/metrics.json`` (strict JSON: the metrics, the protocol, what was read, the
skipped metrics and why), ``DIR/report.html`` (metric table, baseline comparison, sample grid) and
``DIR/domain_judge.npz`` when the data kind uses a judge; an existing report is not replaced without
`--overwrite`. Metrics whose weights are not on this machine are reported as skipped with the reason.

Examples:
    python -m i2i_keras.evaluate --model runs/facades/export --data data/facades --output eval/facades
    python -m i2i_keras.evaluate --model runs/new/export --baseline runs/old/export --data embedded:gray2color \
        --metrics psnr_y,ssim_y,lpips --output eval/new-vs-old
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from i2i_keras.errors import ConfigError
from i2i_keras.errors import RunStateError
from i2i_keras.errors import run_cli

METRICS_FILE = "metrics.json"
HTML_FILE = "report.html"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m i2i_keras.evaluate", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="export: model base path or one version directory")
    parser.add_argument("--data", required=True,
                        help="image folder, embedded:NAME, TFX Examples artifact, or TFRecord files / glob")
    parser.add_argument("--output", help="folder for metrics.json, report.html (and domain_judge.npz)")
    parser.add_argument("--metrics", help="comma-separated subset of the data kind's metrics (default: all)")
    parser.add_argument("--baseline", help="another export to score on the same images and compare with")
    parser.add_argument("--split", default="eval", help="folder split to read: eval (default), train or all")
    parser.add_argument("--layout", default="auto", help="paired folder layout: auto, ab or folders")
    parser.add_argument("--domains", help="comma-separated domain folder names (unpaired, multi-domain)")
    parser.add_argument("--max-examples", type=int, default=64, help="images per evaluated domain (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the protocol's random draws (default 0)")
    parser.add_argument("--threshold", action="append", default=[], metavar="METRIC.CHECK=VALUE",
                        help="blessing check, e.g. psnr.lower_bound=20 (the data kind's defaults apply too)")
    parser.add_argument("--judge", help="domain judge saved by an earlier evaluation (domain_judge.npz)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report in --output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return parser


def main(argv: Optional[list] = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args), debug=args.debug)


class _Progress:
    """Stage lines and a per-batch bar on stderr (a terminal's progress, not the program's output)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def stage(self, message: str) -> None:
        if not self.quiet:
            print(f"evaluate: {message}", file=sys.stderr, flush=True)

    def batches(self, done: int, total: int) -> None:
        if self.quiet:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} images", end=end, file=sys.stderr,
              flush=True)


def _run(args) -> int:
    from i2i_keras import storage
    from i2i_keras.evaluation import html_report
    from i2i_keras.evaluation.blessing import merge_thresholds
    from i2i_keras.evaluation.blessing import to_json
    from i2i_keras.evaluation.exported import ServedModel
    from i2i_keras.evaluation.records import open_records
    from i2i_keras.evaluation.report import JUDGE_FILE
    from i2i_keras.evaluation.report import kind_of
    from i2i_keras.evaluation.report import run_evaluation

    if args.max_examples < 1:
        raise ConfigError(f"--max-examples must be >= 1. Received: {args.max_examples}", code="bad_value")
    metrics_path = html_path = None
    if args.output:
        metrics_path = storage.join(args.output, METRICS_FILE)
        html_path = storage.join(args.output, HTML_FILE)
        existing = [p for p in (metrics_path, html_path) if storage.exists(p)]
        if existing and not args.overwrite:
            raise RunStateError(f"{existing[0]}: an evaluation report exists; pass --overwrite to replace it or "
                                f"choose another --output", code="output_exists")
    progress = _Progress(args.quiet)
    model = ServedModel(args.model)
    model.progress = progress.batches
    kind = kind_of(model)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    domains = [d.strip() for d in args.domains.split(",") if d.strip()] if args.domains else None
    records, data = open_records(args.data, kind, kind.evaluator().parse, split=args.split, layout=args.layout,
                                 domains=domains)
    report, evaluator, baseline_samples = run_evaluation(
        model, records, merge_thresholds(kind.name, args.threshold), args.baseline, max_examples=args.max_examples,
        seed=args.seed, metrics=metrics, judge_path=args.judge, source=args.data, progress=progress.stage)
    if hasattr(records, "rejected"):
        data.update(planned=records.num_candidates, rejected=len(records.rejected))
        if records.rejected:
            data["rejects"] = records.rejected[:20]
    report["data"] = data

    _print_summary(report)
    if args.output:
        storage.makedirs(args.output)
        if evaluator.judge is not None:
            report["domain_judge"] = evaluator.judge.save(storage.join(args.output, JUDGE_FILE))
        storage.write_atomic(metrics_path, (to_json(report, indent=1) + "\n").encode("utf-8"))
        page = html_report.render(report, evaluator.samples, baseline_samples,
                                  {k: v for k, v in data.items() if k != "rejects"})
        storage.write_atomic(html_path, page.encode("utf-8"))
        print(f"report: {metrics_path}\nhtml:   {html_path}")
    return 0


def _print_summary(report: dict) -> None:
    baseline = (report.get("baseline") or {}).get("metrics") or {}
    for name, value in report["metrics"].items():
        text = "skipped" if value is None and name in report["skipped"] else f"{value:.6g}" if value is not None \
            else "n/a"
        if name in baseline and baseline[name] is not None and value is not None:
            text += f"  (baseline {baseline[name]:.6g})"
        print(f"{name}: {text}")
    by_reason: dict = {}
    for name, reason in report["skipped"].items():
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        print(f"skipped {', '.join(names)}: {reason}")
    if report["checks"] and any(c["check"] != "valid" for c in report["checks"]):
        print("blessed" if report["blessed"] else "not blessed: " + ", ".join(
            f"{c['metric']}.{c['check']}" for c in report["checks"] if not c["passed"]))


if __name__ == "__main__":
    sys.exit(main())
