"""The ``dgep`` command line: theory, check, run, demo, rebuild, teacher-law, glm-data, summary,
fill, compare, plot.

Bad input ends with one line ``dgep: error: ...`` naming the key and value, exit code 2; a
warning (e.g. ``bayes.ShortWarmupWarning``) is one line ``dgep: warning: ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from .config import BUILTIN_CONFIGS, Config, ConfigError, load_config


def _alpha_range(text: str) -> list[float]:
    import numpy as np

    parts = text.split(":")
    try:
        start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3 or not (0 < start <= stop) or num < 1:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigError(
            f"--alpha = {text!r}: expected START:STOP:NUM with 0 < START <= STOP, NUM >= 1"
        ) from None
    return [float(a) for a in np.linspace(start, stop, num)]


SHOWN_ROWS = 25  # the theory table prints at most this many alphas unless --all


def _theory_table(ds, show_all: bool) -> str:
    """The table of a theory dataset: every alpha, or ``SHOWN_ROWS`` evenly spaced ones."""
    import numpy as np

    size = ds.sizes["alpha"]
    rows = np.arange(size)
    if not show_all and size > SHOWN_ROWS:
        rows = np.unique(np.linspace(0, size - 1, SHOWN_ROWS).round().astype(int))
    columns = [ds[name].values[rows] for name in ("alpha", "eps_bo", "eps_gibbs", "q")]
    info = ds["mutual_information"].values[rows]
    flags = np.where(ds["converged"].values[rows], "", "  (not converged)")
    lines = [f"{'alpha':>10} {'eps_bo':>12} {'eps_gibbs':>12} {'q':>12} {'MI (nats)':>12}"]
    lines += [
        f"{a:>10.4g} {e:>12.6f} {g:>12.6f} {q:>12.6f} {i:>12.6f}{f}"
        for a, e, g, q, i, f in zip(*columns, info, flags, strict=True)
    ]
    if rows.size < size:
        lines.append(
            f"({rows.size} of {size} alphas shown; --all prints every row, --out writes them)"
        )
    return "\n".join(lines)


def cmd_theory(args: argparse.Namespace) -> None:
    import numpy as np

    from gle import theory_dataset

    config = load_config(args.config, sampler=False, overrides=args.set)
    alphas = _alpha_range(args.alpha) if args.alpha else config.alphas
    datasets = []
    for spec in config.settings:
        ds = theory_dataset(spec, np.asarray(alphas))
        datasets.append(ds)
        offset = ds.attrs["offset_var"]
        print(
            f"{spec.label()}: rho = {ds.attrs['rho']:.7g}, delta_eff = "
            f"{ds.attrs['delta_eff']:.7g}, lam_bo = {ds.attrs['lam_bo']:.7g}"
            + (
                f", offset_var = {offset:.7g} (averaged over)"
                if offset and spec.channel == "sign"
                else f", offset_var = {offset:.7g}"
                if offset
                else ""
            )
        )
        print(_theory_table(ds, args.all))
    if args.out:
        import xarray as xr

        from .store import atomic_write

        out = Path(args.out)
        payload = (
            datasets[0]
            if len(datasets) == 1
            else xr.concat(datasets, "setting", combine_attrs="drop")
        )
        atomic_write(out, lambda p: payload.to_netcdf(p, engine="h5netcdf"))
        print(f"wrote {out}")


def _report(results: Path, plot_dir: Path) -> None:
    from .plotting import (
        has_free_entropy,
        plot_comparison,
        plot_estimators,
        plot_free_entropy,
        plot_nishimori,
    )
    from .results import open_results
    from .summary import has_learners

    ds = open_results(results)
    _print_summary(ds)
    print(f"wrote {results}")
    print(f"wrote {plot_comparison(ds, plot_dir / 'results.png')}")
    print(f"wrote {plot_nishimori(ds, plot_dir / 'nishimori.png')}")
    if has_free_entropy(ds):
        print(f"wrote {plot_free_entropy(ds, plot_dir / 'free_entropy.png')}")
    if has_learners(ds):
        print(f"wrote {plot_estimators(ds, plot_dir / 'estimators.png')}")


class StaleDocumentsError(Exception):
    """``dgep fill --check`` found a document whose summary blocks differ from its results."""


class FailedPointsError(Exception):
    """Some points of a sweep failed (recorded in results.nc); the exit code is 1."""


def _run(config: Config, out: Path, args: argparse.Namespace) -> None:
    from .preflight import plan
    from .store import ResultStore
    from .sweep import run_sweep

    plan(config)  # every config error before anything is sampled or written

    results = run_sweep(
        config,
        out,
        fresh=args.fresh,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        report=lambda path: _report(path, out),
    )
    failed = [r for r in ResultStore(out).records() if r["status"] != "ok"]
    if failed:
        raise FailedPointsError(
            f"{len(failed)} point(s) failed, first: {failed[0]['error']} "
            f"(messages in {results}; rerun to retry them)"
        )


def cmd_run(args: argparse.Namespace) -> None:
    config = load_config(args.config, overrides=args.set)
    _run(config, Path(args.out or Path("runs") / Path(args.config).stem), args)


def cmd_check(args: argparse.Namespace) -> None:
    from .preflight import format_plan, format_round, plan

    config = load_config(args.config, overrides=args.set)
    shapes = plan(config)
    print(format_plan(config, shapes))
    config.sampler.check_warmup()
    if args.out is not None:
        from .law import law_delta_eff
        from .store import ResultStore
        from .sweep import pending_points, seeds_to_target

        store = ResultStore(args.out)
        store.check_identity(config)
        records = store.records()
        law = law_delta_eff(store.root)
        todo = pending_points(config, records, law)
        to_target = seeds_to_target(config, records, law)
        print(f"{args.out}: {format_round(config, shapes, records, todo, to_target)}")
    print("configuration ok; nothing sampled")


def cmd_demo(args: argparse.Namespace) -> None:
    config = load_config(BUILTIN_CONFIGS / "demo.toml")
    _run(config, Path(args.out), args)


def _directory_config(root: Path) -> Config:
    """The configuration a sweep directory was written with (``DIR/config.json``)."""
    import json

    path = root / "config.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{root}: no config.json (not a sweep directory written by dgep run)"
        )
    raw = json.loads(path.read_text())
    provenance = raw.pop("provenance", {})
    return Config(
        raw, provenance.get("source", str(path)), overrides=provenance.get("overrides", ())
    )


def cmd_rebuild(args: argparse.Namespace) -> None:
    from .results import write_results
    from .store import ResultStore

    root = Path(args.directory)
    config = _directory_config(root)
    store = ResultStore(root)
    store.try_lock()  # a running sweep's directory is read, not repaired
    try:
        _report(write_results(config, store), root)
    finally:
        store.unlock()


@contextlib.contextmanager
def _writing(path: Path, command: str) -> Iterator[None]:
    """Hold ``path``'s lock file for the block: another ``dgep COMMAND`` writing it is one
    error line."""
    from filelock import FileLock, Timeout

    lock = FileLock(path.parent / f".{path.name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ValueError(f"{path}: another dgep {command} is writing it") from None
    try:
        yield
    finally:
        lock.release()


def cmd_teacher_law(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .law import LAW_FILE, check_settings, missing_teachers, update_teacher_law

    if args.teachers < 2:
        raise ValueError(f"--teachers = {args.teachers}: must be at least 2")
    root = Path(args.directory)
    config = _directory_config(root)
    settings = check_settings(config, args.setting)
    with _writing(root / LAW_FILE, "teacher-law"):
        todo = missing_teachers(config, root, args.teachers, settings)
        with tqdm(total=todo, unit="teacher", disable=args.no_progress) as bar:
            path = update_teacher_law(config, root, args.teachers, settings, bar.update)
    print(f"wrote {path} ({todo} teachers measured)")


def cmd_glm_data(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .glm_data import GLM_DATA_FILE, check_alphas, missing_datasets, update_glm_data
    from .law import check_settings

    if args.datasets < 2:
        raise ValueError(f"--datasets = {args.datasets}: must be at least 2")
    if args.workers < 1:
        raise ValueError(f"--workers = {args.workers}: must be at least 1")
    root = Path(args.directory)
    config = _directory_config(root)
    if config.evidence is None:
        raise ValueError(f"{root}: the sweep has no [evidence] table, so no f_deep to check")
    settings = check_settings(config, args.setting)
    alphas = check_alphas(config, args.alpha)
    with _writing(root / GLM_DATA_FILE, "glm-data"):
        todo = missing_datasets(config, root, args.datasets, settings, alphas)
        with tqdm(total=todo, unit="dataset", disable=args.no_progress) as bar:
            path = update_glm_data(
                config,
                root,
                args.datasets,
                settings,
                alphas,
                args.workers,
                bar.update,
                tempering=not args.no_progress,
            )
    print(f"wrote {path} ({todo} datasets estimated)")


def _print_summary(ds, markdown: bool = False) -> None:
    from .summary import summary_text

    print(summary_text(ds, markdown=markdown))


def _open_sizes(args: argparse.Namespace):
    """``args.results`` and ``args.other_sizes`` combined along d (``results.combine_sizes``)."""
    from .results import combine_sizes, open_results

    ds = open_results(args.results)
    if args.other_sizes:
        ds = combine_sizes([ds, *(open_results(p) for p in args.other_sizes)])
    return ds


def cmd_summary(args: argparse.Namespace) -> None:
    _print_summary(_open_sizes(args), markdown=args.markdown)


def cmd_fill(args: argparse.Namespace) -> None:
    """Fill each document's summary blocks (``report``); with ``--check``, write nothing and
    fail (exit 1) when a block differs from its results."""
    from .report import fill_document
    from .store import atomic_write

    stale = []
    for path in map(Path, args.documents):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such document")
        text, filled = fill_document(path)
        if filled == text:
            print(f"{path}: up to date")
        elif args.check:
            stale.append(str(path))
            print(f"{path}: its summary blocks differ from the results they name")
        else:
            atomic_write(path, lambda tmp, filled=filled: tmp.write_text(filled))
            print(f"wrote {path}")
    if stale:
        raise StaleDocumentsError(f"{len(stale)} document(s) out of date: {', '.join(stale)}")


def cmd_compare(args: argparse.Namespace) -> None:
    from .results import open_results
    from .summary import compare_runs, format_comparison

    diff = compare_runs(open_results(args.results), open_results(args.other))
    print(format_comparison(diff, markdown=args.markdown))


def cmd_plot(args: argparse.Namespace) -> None:
    from .plotting import (
        has_free_entropy,
        plot_comparison,
        plot_estimators,
        plot_free_entropy,
        plot_nishimori,
        plot_sizes,
    )
    from .summary import has_learners

    ds = _open_sizes(args)
    source = (
        Path(args.results) / "results.nc" if Path(args.results).is_dir() else Path(args.results)
    )
    out = Path(args.out or source.with_suffix(".png"))
    print(f"wrote {plot_comparison(ds, out)}")
    print(f"wrote {plot_nishimori(ds, out.with_name(out.stem + '_nishimori.png'))}")
    if has_free_entropy(ds):
        print(f"wrote {plot_free_entropy(ds, out.with_name(out.stem + '_free_entropy.png'))}")
    if has_learners(ds):
        print(f"wrote {plot_estimators(ds, out.with_name(out.stem + '_estimators.png'))}")
    if ds.sizes["d"] > 1:
        print(f"wrote {plot_sizes(ds, out.with_name(out.stem + '_sizes.png'))}")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("dgep")
    except metadata.PackageNotFoundError:
        return "unknown"


def _set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override one key of the config (a TOML value; none restores the default; "
        "teacher[I].KEY for one setting); repeatable; stored in the run's config.json",
    )


def _add_setting_option(p: argparse.ArgumentParser) -> None:
    """``--setting I`` (repeatable) of the commands that work on some of a sweep's settings."""
    p.add_argument(
        "--setting",
        type=int,
        action="append",
        default=[],
        help="only this setting (an index of the sweep's, from 0); repeatable (default: all)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgep",
        description="Bayesian deep networks in the proportional regime against their "
        "equivalent GLM.",
    )
    parser.add_argument("--version", action="version", version=f"dgep {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("theory", help="GLM fixed-point predictions over alpha")
    p.add_argument("config", help="a TOML configuration (docs/configuration.md)")
    p.add_argument("--alpha", help="START:STOP:NUM (overrides [data].alpha)")
    _set_argument(p)
    p.add_argument("--out", help="write the theory dataset (netCDF)")
    p.add_argument(
        "--all", action="store_true", help=f"print every alpha (default: at most {SHOWN_ROWS})"
    )
    p.set_defaults(func=cmd_theory)

    for name, func, helptext in (
        ("run", cmd_run, "run a sweep (resumes an interrupted one)"),
        ("demo", cmd_demo, "the built-in small experiment (writes runs/demo)"),
    ):
        p = sub.add_parser(name, help=helptext)
        if name == "run":
            p.add_argument("config", help="a TOML configuration (docs/configuration.md)")
            p.add_argument("--out", help="output directory (default runs/CONFIG_NAME)")
            _set_argument(p)
        else:
            p.add_argument(
                "--out",
                default="runs/demo",
                help="output directory (data/demo holds the committed reference run)",
            )
        p.add_argument(
            "--fresh",
            action="store_true",
            help="discard results of a different configuration in --out",
        )
        p.add_argument("--scheduler", help="address of a running Dask scheduler")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.set_defaults(func=func)

    p = sub.add_parser(
        "check", help="check a configuration: points, n, time and memory estimates, warnings"
    )
    p.add_argument("config", help="a TOML configuration (docs/configuration.md)")
    _set_argument(p)
    p.add_argument(
        "--out",
        help="a sweep directory of this configuration: also what a run there would start with "
        "(unfinished points, a precision round's seeds) and its time from the finished points",
    )
    p.set_defaults(func=cmd_check)
    p = sub.add_parser(
        "rebuild",
        help="rebuild DIR/results.nc and its figures from DIR/points.jsonl, with the current "
        "theory (nothing is sampled)",
    )
    p.add_argument("directory", help="a sweep directory (written by dgep run)")
    p.set_defaults(func=cmd_rebuild)
    p = sub.add_parser(
        "teacher-law",
        help="measure independent teachers of a sweep's settings and sizes into "
        "DIR/teacher_law.nc: the summary's control variate of f_deep - f_glm (resumable)",
    )
    p.add_argument("directory", help="a sweep directory (written by dgep run)")
    p.add_argument(
        "--teachers", type=int, default=1000, help="teachers per setting and d (default 1000)"
    )
    _add_setting_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_teacher_law)
    p = sub.add_parser(
        "glm-data",
        help="estimate the deep student's evidence on data of the equivalent GLM into "
        "DIR/glm_data.nc: the summary's two-sided check of f_deep's bias (resumable)",
    )
    p.add_argument("directory", help="a sweep directory with [evidence] (written by dgep run)")
    p.add_argument(
        "--datasets",
        type=int,
        default=32,
        help="GLM datasets per setting, d and alpha (default 32)",
    )
    _add_setting_option(p)
    p.add_argument(
        "--alpha",
        type=float,
        action="append",
        default=[],
        help="only this alpha (one of the sweep's); repeatable (default: all)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_glm_data)
    p = sub.add_parser("summary", help="mean +- SE over seeds and d -> infinity")
    p.add_argument("results", help="a results.nc, or a sweep directory holding one")
    p.add_argument(
        "other_sizes",
        nargs="*",
        help="more results of the same settings and alphas at other d: combined along d",
    )
    p.add_argument("--markdown", action="store_true", help="Markdown tables")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser(
        "fill",
        help="rewrite a Markdown document's `<!-- dgep summary DIR ... | TITLE -->` blocks from "
        "the results they name (docs/cli.md)",
    )
    p.add_argument("documents", nargs="+", help="Markdown files")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a block is out of date"
    )
    p.set_defaults(func=cmd_fill)
    p = sub.add_parser(
        "compare", help="paired differences of two sweeps over the same seeds (A - B)"
    )
    p.add_argument("results", help="results.nc of sweep A")
    p.add_argument("other", help="results.nc of sweep B")
    p.add_argument("--markdown", action="store_true", help="Markdown table")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("plot", help="figures of a results file")
    p.add_argument("results", help="a results.nc, or a sweep directory holding one")
    p.add_argument(
        "other_sizes",
        nargs="*",
        help="more results of the same settings and alphas at other d: combined along d",
    )
    p.add_argument(
        "--out",
        help="PNG path of the comparison figure (default: RESULTS with .png); the Nishimori "
        "figure goes next to it as NAME_nishimori.png, with free-entropy columns "
        "([evidence]) NAME_free_entropy.png, with learners ([estimators]) "
        "NAME_estimators.png and with several d NAME_sizes.png (eps_bayes and the paired "
        "difference against 1/d)",
    )
    p.set_defaults(func=cmd_plot)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"dgep: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, OSError) as err:
        print(f"dgep: error: {err}".splitlines()[0], file=sys.stderr)
        return 2
    except (FailedPointsError, StaleDocumentsError) as err:
        print(f"dgep: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "dgep: interrupted; finished points are kept: rerun to resume, or `dgep rebuild DIR` "
            "for results.nc and the figures of what finished",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
