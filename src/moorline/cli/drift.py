"""``moorline drift``: compare two data files column by column; the exit code is the verdict.

The command is a thin shell: it opens the two files (CSV or Parquet, chosen
by extension), calls :func:`moorline.monitoring.drift.compute_drift`, and
renders the report as a table, as JSON (``report.to_dict()``), and/or as the
self-contained HTML page of :mod:`moorline.monitoring.html`. It needs no
store and no server.

Memory: a Parquet file is handed over as a ``pyarrow.parquet.ParquetFile``,
which the engine reads one column at a time; a CSV file is parsed by
PyArrow's CSV reader into Arrow columns (about the size of the data, a
fraction of what a pandas frame of Python strings takes), with only the
columns the check needs, and pandas' reading conventions (see
:func:`read_csv_arrow`). The reference is profiled whole only for the HTML
page, which draws its distributions.

Exit codes follow ``cli/errors.py``: 0 no dataset drift, 1 dataset drift,
2 a mistake in the input (missing or unreadable file, unknown column, bad
option), so scripts and CI jobs can branch on the verdict alone.

Progress is shown on the terminal's stderr for work worth watching only:
inputs above :data:`LARGE_ROWS` rows (or :data:`LARGE_BYTES` bytes on disk),
or any run still going after :data:`SHOW_AFTER` seconds. Small runs print
nothing but their result; nothing is drawn when stderr is not a terminal.
"""

from __future__ import annotations

import functools
import gzip
import io
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from moorline.cli.context import console, err_console, handle_errors
from moorline.errors import InvalidArgument, MoorlineError, NotFound

if TYPE_CHECKING:
    from moorline.monitoring.drift import Preset
    from moorline.monitoring.report import ColumnDrift, DriftReport

#: Inputs with more rows than this get a progress display from the start.
LARGE_ROWS = 200_000
#: Files bigger than this get a reading progress display from the start (~200k rows of CSV).
LARGE_BYTES = 32 * 1024 * 1024
#: Any run still going after this many seconds shows its progress.
SHOW_AFTER = 1.0

_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_COMPRESSED = {".gz"}


# --------------------------------------------------------------------------- progress


class LazyProgress:
    """A rich progress display that appears only when the work is worth watching.

    It becomes visible as soon as :meth:`mark_large` is called (big inputs), or
    once :data:`SHOW_AFTER` seconds have passed; a quick run never draws it.
    Nothing is drawn when ``console`` is not a terminal (pipes, CI logs).
    """

    def __init__(self, console: Console, *, show_after: float = SHOW_AFTER) -> None:
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._lock = threading.Lock()
        self._shown = False
        self._closed = False
        self._timer = threading.Timer(show_after, self.show)
        self._timer.daemon = True

    def __enter__(self) -> LazyProgress:
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._shown:
                self._progress.stop()

    @property
    def shown(self) -> bool:
        return self._shown

    def show(self) -> None:
        """Start drawing (idempotent; a no-op once the work is over)."""
        with self._lock:
            if self._shown or self._closed:
                return
            self._shown = True
            self._progress.start()

    def mark_large(self, size: int, limit: int) -> None:
        """Show the display now if ``size`` exceeds ``limit``."""
        if size > limit:
            self.show()

    def add(self, description: str, total: float | None) -> TaskID:
        return self._progress.add_task(description, total=total)

    def advance(self, task: TaskID, amount: float) -> None:
        self._progress.advance(task, amount)

    def update(self, task: TaskID, completed: float, total: float) -> None:
        self._progress.update(task, completed=completed, total=total)

    def finish(self, task: TaskID) -> None:
        """Mark ``task`` complete (a step of unknown size becomes 1 of 1)."""
        total = next(t.total for t in self._progress.tasks if t.id == task)
        if total is None:
            total = 1
        self._progress.update(task, completed=total, total=total)


class _CountingReader(io.RawIOBase):
    """A binary file that reports every chunk read, so parsing can show its progress."""

    def __init__(self, raw: io.BufferedReader, on_read: Callable[[int], None]) -> None:
        super().__init__()
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self._on_read(count)
        return count or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


# --------------------------------------------------------------------------- reading


def _format(path: Path) -> tuple[str, str | None, bool]:
    """(kind, CSV separator, gzip) chosen by the file name, or InvalidArgument."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] in _COMPRESSED
    main = suffixes[-2] if gz and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if main in _CSV_SUFFIXES:
        return "csv", _CSV_SUFFIXES[main], gz
    if main in _PARQUET_SUFFIXES and not gz:
        return "parquet", None, False
    raise InvalidArgument(
        f"Cannot read {str(path)!r}: the format is chosen by the file extension, and "
        f"{''.join(path.suffixes) or 'no extension'!r} is not one of .csv, .tsv, .csv.gz, "
        ".tsv.gz, .parquet, .pq"
    )


def _check_input(path: Path, role: str) -> None:
    if not path.exists():
        raise NotFound(f"The {role} file {str(path)!r} does not exist")
    if not path.is_file():
        raise InvalidArgument(f"The {role} path {str(path)!r} is not a file")
    _format(path)


def _check_output(target: str, option: str) -> None:
    if target == "-":
        return
    path = Path(target)
    if path.is_dir():
        raise InvalidArgument(f"{option} {target!r} is a directory: give a file name")
    if not path.parent.is_dir():
        raise InvalidArgument(f"{option} {target!r}: folder {str(path.parent)!r} does not exist")


def read_table(
    path: Path, role: str, progress: LazyProgress, columns: Callable[[str], bool] | None = None
) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` (read lazily, one column at a time, by the
    engine) or, for CSV, a PyArrow Table of the columns ``columns`` accepts (all by
    default).

    Anything the parsers refuse becomes an :class:`InvalidArgument` that names
    the file, so a bad input exits with code 2 and a readable message.
    """
    kind, sep, gz = _format(path)
    size = path.stat().st_size
    task = progress.add(f"reading {role} ({path.name})", total=size)
    progress.mark_large(size, LARGE_BYTES)
    try:
        if kind == "parquet":
            table = _open_parquet(path, progress)
        else:
            assert sep is not None
            table = read_csv_arrow(path, sep, gz, lambda n: progress.advance(task, n), columns)
    except MoorlineError:
        raise
    except Exception as exc:  # the parsers raise many unrelated types
        what = "Parquet" if kind == "parquet" else "CSV"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(
            f"Cannot read the {role} file {str(path)!r} as {what}: {message}"
        ) from exc
    progress.finish(task)
    return table


#: The strings pandas' ``read_csv`` reads as missing by default (``na_values``).
PANDAS_NA_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)


def read_csv_arrow(
    path: Path,
    sep: str,
    gz: bool,
    on_read: Callable[[int], None],
    columns: Callable[[str], bool] | None = None,
) -> Any:
    """A CSV file as a PyArrow Table, typed as ``pandas.read_csv`` types it.

    PyArrow parses, with pandas' conventions: its missing-value markers (also in
    string columns), ``True``/``true``/``TRUE`` and ``False``/... as booleans, an
    all-empty column as float, and no date parsing (date and time strings stay
    strings). Only the columns ``columns`` accepts are kept (all by default).
    A file PyArrow refuses (ragged rows, repeated or invalid UTF-8 names or
    values) is read by pandas itself, which accepts or refuses it as it does.
    Where the two parsers still disagree (numbers written ``+5`` or ``0x10``, a
    ``NAN`` spelled in capitals, integers beyond 64 bits), PyArrow's reading is
    the one used.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def open_stream(counted: bool = False) -> Any:
        """The file's bytes (unzipped); ``counted``: the read that progress follows."""
        raw: Any = open(path, "rb")  # noqa: SIM115 - closed with the stream
        if counted:
            raw = io.BufferedReader(_CountingReader(raw, on_read), buffer_size=1 << 20)
        return gzip.GzipFile(fileobj=raw) if gz else raw

    parse = pcsv.ParseOptions(delimiter=sep)
    with open_stream() as stream:
        first = stream.read(1)
    if not first:
        raise InvalidArgument(f"The file {str(path)!r} is empty: no header, no rows")
    try:
        with open_stream() as stream:
            names = pcsv.open_csv(stream, parse_options=parse).schema.names
        if len(set(names)) != len(names):
            raise _PandasReads
        wanted = [name for name in names if columns is None or columns(name)]
        table = _arrow_csv(lambda: open_stream(counted=True), parse, wanted)
        temporal = [
            name
            for name, type_ in zip(table.column_names, table.schema.types, strict=True)
            if pa.types.is_temporal(type_)
        ]
        if temporal:  # pandas does not parse dates: read those columns again, as strings
            again = _arrow_csv(open_stream, parse, temporal, as_strings=True)
            for name in temporal:
                index = table.column_names.index(name)
                table = table.set_column(index, name, again.column(name))
    except (_PandasReads, pa.ArrowInvalid, UnicodeDecodeError):
        return _pandas_csv(path, sep, gz, on_read, columns)
    return table


class _PandasReads(Exception):
    """The file is one PyArrow reads differently from pandas: pandas reads it."""


def _arrow_csv(
    open_stream: Callable[[], Any], parse: Any, names: list[str], *, as_strings: bool = False
) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(
        include_columns=names,
        null_values=list(PANDAS_NA_VALUES),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        true_values=["True", "TRUE", "true"],
        false_values=["False", "FALSE", "false"],
        column_types=dict.fromkeys(names, pa.string()) if as_strings else None,
    )
    with open_stream() as stream:
        table = pcsv.read_csv(stream, parse_options=parse, convert_options=convert)
    for index, (name, type_) in enumerate(zip(names, table.schema.types, strict=True)):
        if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
            raise _PandasReads  # not valid UTF-8: pandas refuses the file with its message
        if pa.types.is_null(type_) and table.num_rows:  # all empty: pandas reads NaN floats
            table = table.set_column(index, name, pa.nulls(table.num_rows, pa.float64()))
    return table


def _pandas_csv(
    path: Path,
    sep: str,
    gz: bool,
    on_read: Callable[[int], None],
    columns: Callable[[str], bool] | None,
) -> Any:
    import pandas as pd

    with open(path, "rb") as raw:
        counted = io.BufferedReader(_CountingReader(raw, on_read), buffer_size=1 << 20)
        handle: Any = gzip.GzipFile(fileobj=counted) if gz else counted
        try:
            frame = pd.read_csv(handle, sep=sep, low_memory=False)
        except pd.errors.EmptyDataError:
            raise InvalidArgument(f"The file {str(path)!r} is empty: no header, no rows") from None
    if columns is not None:
        frame = frame[[name for name in frame.columns if columns(str(name))]]
    return frame


def _open_parquet(path: Path, progress: LazyProgress) -> Any:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    progress.mark_large(parquet.metadata.num_rows, LARGE_ROWS)
    return parquet


def _column_names(table: Any) -> list[str]:
    """The data columns of a ParquetFile, Table or DataFrame (not a pandas index)."""
    schema = getattr(table, "schema_arrow", None) or getattr(table, "schema", None)
    if schema is not None:  # Arrow
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        return [str(n) for n in schema.names if n not in index]
    return [str(n) for n in table.columns]


def _rows(table: Any) -> int:
    metadata = getattr(table, "metadata", None)
    if metadata is not None and hasattr(metadata, "num_rows"):  # ParquetFile
        return int(metadata.num_rows)
    rows = getattr(table, "num_rows", None)
    return int(rows) if rows is not None else len(table)


# --------------------------------------------------------------------------- output


def _score(col: ColumnDrift) -> str:
    from moorline.charts import format_number

    if col.error is not None and col.stattest is None:
        return "—"
    return format_number(col.score, digits=4)


def _verdict(col: ColumnDrift) -> Text:
    if col.error is not None:
        return Text("error", style="bold yellow")
    if col.drift_detected:
        return Text("DRIFT", style="bold red")
    return Text("ok", style="green")


def summary_table(report: DriftReport) -> Table:
    """One row per tested column (then prediction and target), for the terminal."""
    from moorline.charts import format_number

    errors = report.number_of_errors > 0 or any(
        c is not None and c.error is not None
        for c in (report.prediction_drift, report.target_drift)
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name, justify in (
        ("column", "left"),
        ("type", "left"),
        ("test", "left"),
        ("score", "right"),
        ("threshold", "right"),
        ("verdict", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if errors:
        table.add_column("error", overflow="fold")
    roles = [(c, "") for c in report.columns]
    roles += [
        (c, role)
        for c, role in ((report.prediction_drift, "prediction"), (report.target_drift, "target"))
        if c is not None
    ]
    for col, role in roles:
        label = Text(col.column)
        if role:
            label.append(f" ({role})", style="magenta")
        cells = [
            label,
            Text(col.type.value if col.type is not None else "—"),
            Text(col.stattest_display_name or col.stattest or "—"),
            Text(_score(col)),
            Text("—" if col.threshold is None else format_number(col.threshold, digits=4)),
            _verdict(col),
        ]
        if errors:
            cells.append(Text(col.error or "", style="yellow"))
        table.add_row(*cells)
    return table


def _headline(report: DriftReport) -> Text:
    share = f"{report.share:.0%}" if report.number_of_columns else "n/a"
    text = Text()
    if report.dataset_drift:
        text.append("Dataset drift detected", style="bold red")
    else:
        text.append("No dataset drift", style="bold green")
    text.append(
        f": {report.number_of_drifted_columns} of {report.number_of_columns} columns drifted "
        f"({share}; dataset drift at {report.drift_share:.0%} or more). "
        f"Preset {report.preset}; {report.reference_rows:,} reference rows, "
        f"{report.current_rows:,} current rows."
    )
    if report.number_of_errors:
        text.append(f" {report.number_of_errors} column(s) could not be tested.", style="yellow")
    return text


def _print_summary(report: DriftReport, out: Console) -> None:
    table = summary_table(report)
    if out.is_terminal:
        out.print(table)
    else:  # a pipe or file: print at natural width instead of folding to 80 columns
        natural = out.measure(table, options=out.options.update_width(100_000)).maximum
        Console(file=out.file, width=max(out.width, natural), no_color=True).print(table)
    out.print(_headline(report), highlight=False, soft_wrap=not out.is_terminal)


def _write(target: str, text: str, what: str) -> None:
    if target == "-":
        click.echo(text)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"Cannot write the {what} to {target!r}: {exc.strerror}") from exc


# --------------------------------------------------------------------------- the command


def _names(values: tuple[str, ...]) -> list[str]:
    """Column names from repeatable, comma-separated option values."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _errors_are_never_verdicts(func: Callable[..., None]) -> Callable[..., None]:
    """Exit 2 (with the traceback) on an unexpected failure, which Python would report
    as exit 1: a script must never read a crash as "drift detected"."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except (MoorlineError, click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            err_console.print_exception(max_frames=8)
            err_console.print(
                Text.assemble(
                    ("error", "bold red"),
                    f" moorline drift failed unexpectedly: {type(exc).__name__}: {exc}",
                ),
                highlight=False,
            )
            sys.exit(2)

    return wrapper


@contextmanager
def _lean_allocators() -> Iterator[None]:
    """Allocators that give memory back as columns come and go, in a fresh process.

    The engine reads one column at a time and lets it go. Two allocators keep
    what is freed instead (measured by ``benchmarks/drift.py`` at 100,000 x 20):

    - mimalloc, PyArrow's default, keeps per-thread heaps that grow with every
      column read (+9 MB for one 100,000-row string column): Arrow uses the
      system allocator here (about 15 MB less). Arrow reads
      ``ARROW_DEFAULT_MEMORY_POOL`` when PyArrow is imported, and a value the
      user set is kept;
    - glibc raises its mmap threshold each time a large block is freed, so later
      column-sized arrays (NumPy's) come from the heap and stay resident: the
      threshold is fixed at its default, 128 KiB (about 5 MB less).

    Both are process settings, so they are made only in a process that has not
    imported PyArrow yet: the ``moorline`` command, not a program calling it.
    """
    import os

    fresh = "pyarrow" not in sys.modules
    chosen = fresh and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ
    if chosen:
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    if fresh and sys.platform.startswith("linux"):
        import ctypes

        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
        if mallopt is not None:
            mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    try:
        yield
    finally:
        if chosen:
            os.environ.pop("ARROW_DEFAULT_MEMORY_POOL", None)


#: glibc's ``mallopt`` parameter number for the mmap threshold (``malloc.h``).
_M_MMAP_THRESHOLD = -3


@contextmanager
def _progress() -> Iterator[LazyProgress]:
    # A console of its own, made now: whether stderr is an interactive terminal is
    # decided when a console is created, and must be decided for this run.
    with LazyProgress(Console(stderr=True)) as progress:
        yield progress


@click.command("drift")
@click.argument("reference", metavar="REFERENCE")
@click.argument("current", metavar="CURRENT")
@click.option(
    "--preset",
    type=click.Choice(["default", "evidently"]),
    default="default",
    show_default=True,
    help="default: Evidently's choices with its known errors corrected; "
    "evidently: Evidently 0.7's data drift exactly.",
)
@click.option(
    "--columns",
    "columns",
    multiple=True,
    metavar="A,B",
    help="Test only these columns (comma-separated; repeatable). Default: every column.",
)
@click.option("--target", metavar="COL", help="The target column: reported apart.")
@click.option("--prediction", metavar="COL", help="The prediction column: reported apart.")
@click.option(
    "--ignore",
    multiple=True,
    metavar="COL",
    help="A column never to test (comma-separated; repeatable).",
)
@click.option(
    "--threshold",
    type=float,
    metavar="X",
    help="Threshold for every column's test, instead of each test's default.",
)
@click.option(
    "--method",
    metavar="NAME",
    help="Test every column with this test (e.g. ks, wasserstein, psi, chisquare, "
    "jensenshannon), instead of choosing by type and size.",
)
@click.option(
    "--drift-share",
    type=float,
    metavar="S",
    help="Share of drifted columns at which the dataset counts as drifted [default: 0.5].",
)
@click.option(
    "--json",
    "json_out",
    metavar="FILE|-",
    help="Write the report as JSON (moorline.drift-report/1) to FILE, or to stdout with '-'.",
)
@click.option(
    "--html",
    "html_out",
    metavar="FILE",
    help="Write a self-contained HTML report (no network needed to open it).",
)
@handle_errors
@_errors_are_never_verdicts
def drift(
    *,
    reference: str,
    current: str,
    preset: str,
    columns: tuple[str, ...],
    target: str | None,
    prediction: str | None,
    ignore: tuple[str, ...],
    threshold: float | None,
    method: str | None,
    drift_share: float | None,
    json_out: str | None,
    html_out: str | None,
) -> None:
    """Compare CURRENT data with REFERENCE data, column by column.

    REFERENCE and CURRENT are CSV (.csv, .tsv, optionally .gz) or Parquet
    (.parquet, .pq) files; the extension picks the reader. Each column gets
    a statistical test chosen by its type and size; the dataset drifts when
    the share of drifted columns reaches --drift-share.

    \b
    Presets:
      default    Evidently's test choices and thresholds, corrected where
                 they are wrong: two-sample chi-square, two-sided
                 Mann-Whitney, +/-inf dropped on every path, and a column
                 that cannot be tested is an error on that column only.
      evidently  Evidently 0.7's data drift exactly, quirks included
                 (a column that cannot be tested stops the run: exit 2).

    \b
    Exit codes:
      0  no dataset drift
      1  dataset drift
      2  an error: missing or unreadable file, unknown column, bad option

    \b
    Examples:
      moorline drift train.parquet today.parquet
      moorline drift ref.csv cur.csv --target churned --html drift.html
      moorline drift ref.csv cur.csv --json - | jq .dataset
    """
    from moorline.monitoring.drift import compute_drift
    from moorline.monitoring.profile import ReferenceProfile

    ref_path, cur_path = Path(reference), Path(current)
    _check_input(ref_path, "reference")
    _check_input(cur_path, "current")
    if json_out is not None:
        _check_output(json_out, "--json")
    if html_out is not None:
        _check_output(html_out, "--html")
    selected = _names(columns) or None
    mapping: dict[str, Any] = {"ignored": _names(ignore)}
    if target is not None:
        mapping["target"] = target
    if prediction is not None:
        mapping["prediction"] = prediction

    skipped = set(mapping["ignored"])

    def needed(name: str) -> bool:
        """The columns the check reads: the selected ones (all but the ignored by
        default), the target and the prediction."""
        if name in (target, prediction):
            return True
        return name not in skipped and (selected is None or name in selected)

    started = time.monotonic()
    with _lean_allocators(), _progress() as progress:
        ref_table = read_table(ref_path, "reference", progress, needed)
        cur_table = read_table(cur_path, "current", progress, needed)
        rows = max(_rows(ref_table), _rows(cur_table))
        progress.mark_large(rows, LARGE_ROWS)
        ref_data: Any = ref_table  # read lazily by the engine, unless profiled whole
        profile = None
        if html_out is not None:
            # Profiled whole once, for the tests and the HTML page's distributions alike.
            task = progress.add("profiling reference", total=None)
            wanted = [name for name in _column_names(ref_table) if needed(name)]
            ref_data = profile = ReferenceProfile.from_frame(ref_table, columns=wanted)
            progress.finish(task)
        testing = progress.add("testing columns", total=None)
        report = compute_drift(
            ref_data,
            cur_table,
            preset=cast("Preset", preset),
            columns=selected,
            column_mapping=mapping,
            progress=lambda done, total: progress.update(testing, done, total),
            low_memory=True,  # one run, then exit: peak memory over CPU
            **_test_options(threshold, method, drift_share),
        )
        del ref_data, ref_table
        if html_out is not None:
            task = progress.add("writing HTML report", total=None)
            from moorline.monitoring.html import render_html

            page = render_html(report, profile, cur_table)
            _write(html_out, page, "HTML report")
            progress.finish(task)
    elapsed = time.monotonic() - started

    out = err_console if json_out == "-" else console
    _print_summary(report, out)
    if html_out is not None:
        out.print(Text(f"HTML report written to {html_out}", style="dim"))
    if json_out is not None:
        _write(json_out, report.to_json(indent=2), "JSON report")
    if elapsed > SHOW_AFTER:
        out.print(Text(f"done in {elapsed:.1f}s", style="dim"))
    sys.exit(1 if report.dataset_drift else 0)


def _test_options(
    threshold: float | None, method: str | None, drift_share: float | None
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if threshold is not None:
        options["threshold"] = threshold
    if method is not None:
        options["method"] = method
    if drift_share is not None:
        options["drift_share"] = drift_share
    return options
