"""Schemathesis against the real service at full size: every check, every phase, the count printed.

    .venv/bin/python bench/bench_fuzz.py [--home DIR] [--max-examples 150] [--seed 7]

The test suite runs the same fuzzing (``tests/serving/test_service_fuzz.py``); this prints its
figures: cases generated and passed, and the server's answers by status class read from its
access log (any 5xx is a failure). The service runs on a *copy* of a home with a champion (without
``--home`` a smoke home is built in a temporary folder first), with the load average beside the
figures (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.serving.live import build_home, copy_serving_home, running_server, schemathesis

STATUS = re.compile(r"status=(\d)\d\d")
"""BentoML's access log: ``... (scheme=http,method=POST,path=/predict,...) (status=200,...)``."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a home with a champion (default: build one)")
    parser.add_argument("--max-examples", type=int, default=150, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = args.home
        if source is None:
            source = tmp / "source"
            print("building a smoke home ...", flush=True)
            build_home(source)
        home = copy_serving_home(source, tmp / "home")
        log = tmp / "server.log"
        env = {"ORDERLENS_SERVING__FEATURE_TIMEOUT_MS": "1500"}
        with running_server(home, log, **env) as server:
            began = time.monotonic()
            generated, passed, output = schemathesis(
                server.url,
                tmp,
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
            )
            spent = time.monotonic() - began
        answers = Counter(f"{m.group(1)}xx" for m in STATUS.finditer(log.read_text()))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    summary = [line for line in output.splitlines() if "generated" in line or "passed" in line]
    print("\n".join(summary[-3:]))
    print(
        f"schemathesis --checks all --mode all --max-examples {args.max_examples} --seed"
        f" {args.seed}: {generated} cases generated, {passed} passed,"
        f" {generated - passed} failed, in {spent:.0f} s; server answers {dict(answers)}"
        f" [load {load}]"
    )


if __name__ == "__main__":
    main()
