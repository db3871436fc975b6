"""How ``moorline drift`` reads its inputs: CSV through PyArrow with pandas' conventions and
only the columns the check needs, Parquet one column at a time, in a lean process.

The eager path these are held to is the one ``moorline drift`` took before: every file read
whole by pandas (``pandas.read_csv`` with its defaults), every column tested. The reports
must be the same JSON, column types included.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from moorline.cli.drift import read_csv_arrow
from moorline.cli.main import cli
from moorline.monitoring._frames import Frame
from moorline.monitoring.drift import compute_drift

ROWS = 1500


def csv_text(seed: int, *, shift: float) -> str:
    """A CSV as people write them: missing values spelled many ways, booleans, dates and
    times as strings, quoted fields with commas, unicode, an all-empty column."""
    rng = np.random.default_rng(seed)
    na = ["", "NA", "null", "None", "n/a", "NaN", "<NA>"]
    lines = ["x,ints,few,maybe_int,flag,maybe_flag,plan,city,day,stamp,note,blank,ratio"]
    for i in range(ROWS):
        x = rng.normal(shift, 1.0)
        x_text = "inf" if i == 3 else ("-inf" if i == 4 else repr(float(x)))
        if rng.random() < 0.05:
            x_text = str(rng.choice(na))
        maybe_int = "" if rng.random() < 0.1 else str(int(rng.integers(0, 50)))
        maybe_flag = "" if rng.random() < 0.1 else str(bool(rng.random() < 0.5))
        plan = str(rng.choice(["basic", "pro", "team", "NA", ""], p=[0.5, 0.3, 0.1, 0.05, 0.05]))
        city = str(rng.choice(['"Paris, FR"', "Zürich", "Köln", '"New York, NY"']))
        day = f"2024-0{1 + int(shift * 4) + i % 3}-1{i % 10}"
        stamp = f"2024-01-01 1{i % 10}:00:00"
        note = f'"note {int(rng.integers(10**6))}, about {plan or "nothing"}"'
        ratio = f"{rng.uniform(0, 1 + shift):.3f}"
        lines.append(
            ",".join(
                [
                    x_text,
                    str(int(rng.integers(0, 1000))),
                    str(int(rng.integers(0, 4))),
                    maybe_int,
                    str(bool(rng.random() < 0.3 + shift / 3)),
                    maybe_flag,
                    plan,
                    city,
                    day,
                    stamp,
                    note,
                    "",
                    ratio,
                ]
            )
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("csv-inputs")
    out = {}
    for name, seed, shift in (("ref", 1, 0.0), ("cur", 2, 0.5)):
        text = csv_text(seed, shift=shift)
        out[name] = root / f"{name}.csv"
        out[name].write_text(text, encoding="utf-8")
        out[f"{name}.gz"] = root / f"{name}.csv.gz"
        out[f"{name}.gz"].write_bytes(gzip.compress(text.encode()))
    return out


def arrow(path: Path, columns: Any = None, *, gz: bool = False) -> Any:
    return read_csv_arrow(path, ",", gz, lambda n: None, columns)


def test_csv_columns_get_the_dtypes_pandas_gives_them(files: dict[str, Path]) -> None:
    eager = pd.read_csv(files["ref"], low_memory=False)
    table = arrow(files["ref"])
    frame = Frame(table, role="reference")
    assert frame.names == tuple(eager.columns)
    for name in eager.columns:
        assert str(frame.series(name).dtype) == str(eager[name].dtype), name
    # dates and times stay strings, an all-empty column is float, as pandas reads them
    assert {str(eager[c].dtype) for c in ("day", "stamp")} == {"str"}
    assert str(eager["blank"].dtype) == "float64"


@pytest.mark.parametrize("preset", ["default", "evidently"])
def test_csv_read_by_arrow_gives_the_eager_pandas_report(
    files: dict[str, Path], preset: str
) -> None:
    ref, cur = pd.read_csv(files["ref"]), pd.read_csv(files["cur"])
    # Evidently's preset stops on the empty column: test the others
    tested = compute_drift(ref, cur).columns
    columns = [c.column for c in tested if c.error is None] if preset == "evidently" else None
    eager = compute_drift(ref, cur, preset=preset, columns=columns)  # type: ignore[arg-type]
    lazy = compute_drift(
        arrow(files["ref"]),
        arrow(files["cur.gz"], gz=True),
        preset=preset,  # type: ignore[arg-type]
        columns=columns,
    )
    assert json.loads(lazy.to_json()) == json.loads(eager.to_json())
    assert {c.type for c in eager.columns if c.type is not None} == {"num", "cat", "text"}


def test_only_the_columns_the_check_needs_are_read(files: dict[str, Path]) -> None:
    table = arrow(files["ref"], lambda name: name in ("plan", "x", "absent"))
    assert table.column_names == ["x", "plan"]  # file order; a name not in it is no error


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(cli, ["drift", *map(str, args)], catch_exceptions=False)


def test_the_command_with_columns_gives_the_eager_report_for_them(
    files: dict[str, Path],
) -> None:
    result = run(
        files["ref"], files["cur"], "--columns", "x,plan,note", "--target", "flag", "--json", "-"
    )
    assert result.exit_code in (0, 1), result.output
    eager = compute_drift(
        pd.read_csv(files["ref"]),
        pd.read_csv(files["cur"]),
        columns=["x", "plan", "note"],
        column_mapping={"target": "flag", "ignored": []},
    )
    assert json.loads(result.stdout) == json.loads(eager.to_json())


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("a,a,b\n1,2,x\n3,4,y\n5,6,x\n", ["a", "a.1", "b"]),  # repeated names: pandas renames
        ("a,b\n1,x\n2\n3,y\n4,x\n", ["a", "b"]),  # a short row: pandas fills it with NaN
    ],
    ids=["repeated names", "short row"],
)
def test_files_arrow_refuses_are_read_by_pandas(
    tmp_path: Path, text: str, names: list[str]
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(text)
    read = arrow(path)
    assert isinstance(read, pd.DataFrame)
    assert list(read.columns) == names
    expected = compute_drift(pd.read_csv(path), pd.read_csv(path))
    assert compute_drift(read, read) == expected


def test_a_command_process_stays_lean(files: dict[str, Path], tmp_path: Path) -> None:
    """``moorline drift`` imports its own module only, reads Parquet without pandas, and
    lets Arrow allocate with the system allocator unless the user chose one."""
    ref = pd.read_csv(files["ref"]).drop(columns=["blank"])
    cur = pd.read_csv(files["cur"]).drop(columns=["blank"])
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    code = textwrap.dedent(
        """
        import sys
        from moorline.cli.main import main
        sys.argv = ["moorline", "drift", *sys.argv[1:]]
        try:
            main()
        except SystemExit as exit:
            code = exit.code
        import pyarrow as pa
        server = "moorline.cli.server" in sys.modules
        scikit = "sklearn" in sys.modules  # the text tests' library imports pandas itself
        pandas = "pandas" in sys.modules and not scikit
        print("process:", code, server, pandas, pa.default_memory_pool().backend_name)
        """
    )
    chosen_columns = ["x", "ints", "few", "plan", "city", "day"]
    verdict = str(int(compute_drift(ref, cur, columns=chosen_columns).dataset_drift))
    out = tmp_path / "report.json"
    args = [str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--json", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    for chosen, backend in ((None, "system"), ("mimalloc", "mimalloc")):
        if chosen is not None:
            env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
        done = subprocess.run(
            [sys.executable, "-c", code, *args, "--columns", ",".join(chosen_columns)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=True,
        )
        (line,) = [line for line in done.stdout.splitlines() if line.startswith("process:")]
        assert line.split()[1:] == [verdict, "False", "False", backend], done.stderr
    report = json.loads(out.read_text())
    assert [c["column"] for c in report["columns"]] == chosen_columns
    listing = subprocess.run(
        [sys.executable, "-c", "from moorline.cli.main import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert " drift " in listing.stdout and " server " in listing.stdout
