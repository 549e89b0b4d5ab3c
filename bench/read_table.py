#!/usr/bin/python3
"""Reading a CSV table: ldm::read_table against pandas.read_csv, side by side, in one run.

  /usr/bin/python3 bench/read_table.py [--build-dir DIR] [--bench PATH] [--folder /tmp] [--repeat 1]

Writes two files (once; kept in --folder): ldm_numeric.csv, 200,000 rows x 64 columns of
decimals (about 116 MB), and ldm_mixed.csv, 540,000 rows of 8 text columns, 16 numeric and 6
integer ones, a third of the columns with 3% of their cells missing (NA), about 100 MB. Then reads each with
bench/read_table.cpp (ldm::read_table; for the numeric file also the older ldm::read_csv; built Release with LDM_BUILD_BENCH=ON unless --bench names it) and with
Debian's pandas (python3-pandas; a peer only, never a dependency), each in its own process under
/usr/bin/time -v, and prints the seconds of the read itself, the whole process's wall time and
its peak resident memory. pandas' figure includes the interpreter with pandas imported, which
is also printed ("import only") so both ways of counting can be read off. --repeat N keeps the
best time and the lowest peak of N runs. On a shared machine run it with chrt -f 50.
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PANDAS = ("import sys, time, json\nimport pandas as pd\nt = time.perf_counter()\n"
          "df = pd.read_csv(sys.argv[1])\ns = time.perf_counter() - t\n"
          "print(json.dumps({'rows': len(df), 'columns': df.shape[1], 'seconds': s}))\n")
IMPORT_ONLY = "import pandas as pd\n"


def make_files(folder):
    import numpy as np
    import pandas as pd
    numeric, mixed = folder / "ldm_numeric.csv", folder / "ldm_mixed.csv"
    rng = np.random.default_rng(0)
    rows = 200_000
    if not numeric.exists():
        x = rng.normal(size=(rows, 64)) * rng.uniform(1, 100, size=64)
        pd.DataFrame(x, columns=[f"x{i}" for i in range(64)]).to_csv(numeric, index=False, float_format="%.5f")
    if not mixed.exists():
        rows = 540_000
        words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
        cols = {}
        for i in range(8):
            k = 3 + 7 * i
            labels = np.array([f"{words[j % 10]}_{j}" for j in range(k)], dtype=object)
            cols[f"text{i}"] = labels[rng.integers(0, k, size=rows)]
        for i in range(16):
            cols[f"num{i}"] = np.round(rng.lognormal(3, 1, size=rows), 1 + i % 4)
        for i in range(6):
            cols[f"int{i}"] = rng.integers(0, 10 ** (1 + i), size=rows).astype(float)
        df = pd.DataFrame(cols)
        for i, name in enumerate(df.columns):
            if i % 3 == 0:
                df.loc[rng.random(rows) < 0.03, name] = np.nan
        df.to_csv(mixed, index=False, na_rep="NA", float_format="%.10g")
    return [numeric, mixed]


def timed(command):
    """Runs command under /usr/bin/time -v: its JSON line, wall seconds and peak MB."""
    run = subprocess.run(["/usr/bin/time", "-v"] + command, capture_output=True, text=True, check=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
    seconds = float(wall.group(1) or 0) * 3600 + float(wall.group(2)) * 60 + float(wall.group(3))
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) / 1024
    out = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else {}
    return out, seconds, peak


def best(command, repeat):
    runs = [timed(command) for _ in range(repeat)]
    return runs[0][0], min(r[0].get("seconds", 0) for r in runs), min(r[1] for r in runs), min(r[2] for r in runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default="/tmp/build-read-table-bench")
    parser.add_argument("--bench", help="a built ldm_read_table (skips the build)")
    parser.add_argument("--folder", default="/tmp")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    bench = args.bench
    if not bench:
        subprocess.run(["cmake", "-S", str(ROOT), "-B", args.build_dir, "-DCMAKE_BUILD_TYPE=Release",
                        "-DLDM_BUILD_BENCH=ON", "-DLDM_BUILD_TESTS=OFF", "-DLDM_BUILD_EXAMPLES=OFF"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", args.build_dir, "-j1", "--target", "ldm_read_table"], check=True,
                       stdout=subprocess.DEVNULL)
        bench = str(Path(args.build_dir) / "bench" / "ldm_read_table")
    files = make_files(Path(args.folder))
    _, _, _, import_peak = best([sys.executable, "-c", IMPORT_ONLY], 1)
    print(f"{'file':<18}{'MB':>6}  {'reader':<8}{'read s':>8}{'wall s':>8}{'peak MB':>9}  shape")
    for path in files:
        size = path.stat().st_size / 2 ** 20
        readers = [("ldm", [bench, str(path)]), ("pandas", [sys.executable, "-c", PANDAS, str(path)])]
        if path.name == "ldm_numeric.csv":  # the numeric-only reader the table reader replaces
            readers.insert(1, ("read_csv", [bench, "--read-csv", str(path)]))
        for name, command in readers:
            out, read_s, wall_s, peak = best(command, args.repeat)
            shape = f"{out.get('rows')} x {out.get('columns')}"
            if "categorical" in out:
                shape += f", {out['categorical']} categorical"
            print(f"{path.name:<18}{size:>6.0f}  {name:<8}{read_s:>8.2f}{wall_s:>8.2f}{peak:>9.0f}  {shape}")
    print(f"(pandas imported, nothing read: peak {import_peak:.0f} MB)")


if __name__ == "__main__":
    main()
