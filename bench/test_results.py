"""Tests of bench/results.py, the benchmark's bookkeeping: what it refuses, how it measures a
database, and how it turns runs into ratios and target checks. `make test` runs them."""

import io
import json
import os
import sqlite3
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

import results

WRK_OK = """Running 10s test @ http://127.0.0.1:19602/
  50 connections
  Latency Distribution
     50%  1.10ms
     99%    2.50ms
  300000 requests in 10.00s, 40.00MB read
Requests/sec:  30000.00
"""


def run(target, rep, rps, requests=1_000_000, files=0, logical=0, mode="pinned", conns=50):
    r = {"target": target, "rep": rep, "mode": mode, "conns": conns, "rps": rps,
         "p50_ms": 1.0, "p99_ms": 2.0, "requests": requests}
    if target.startswith("tg") and not target.startswith("tg_base"):
        r["db_growth_bytes"], r["db_logical_growth_bytes"] = files, logical
    return r


def lines(checks, word):
    return [(ok, line) for ok, line in checks if word in line]


class Wrk(unittest.TestCase):
    def test_a_clean_run_is_read(self):
        out = results.parse_wrk(WRK_OK)
        self.assertEqual(out["requests"], 300000)
        self.assertEqual(out["rps"], 30000.0)
        self.assertEqual(out["p50_ms"], 1.1)
        self.assertEqual(out["p99_ms"], 2.5)
        self.assertIsNone(out["socket_errors"])

    def test_socket_errors_and_stray_statuses_are_refused(self):
        broken = WRK_OK + "  Socket errors: connect 0, read 3, write 0, timeout 0\n"
        with self.assertRaises(SystemExit) as e, redirect_stderr(io.StringIO()) as said:
            results.check(results.parse_wrk(broken), "2xx")
        self.assertIn("socket errors", said.getvalue())
        self.assertEqual(e.exception.code, results.REFUSED)
        stray = WRK_OK + "status 402 10\nstatus 500 1\n"
        with self.assertRaises(SystemExit) as e, redirect_stderr(io.StringIO()) as said:
            results.check(results.parse_wrk(stray), "402")
        self.assertIn("unexpected statuses {'500': 1}", said.getvalue())
        self.assertEqual(e.exception.code, results.REFUSED)
        results.check(results.parse_wrk(WRK_OK + "status 402 10\n"), "402")


    def test_context_switches_are_per_request_and_reported(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "wrk.txt")
            with open(out, "w") as f:
                f.write(WRK_OK)
            with redirect_stdout(io.StringIO()) as said:
                results.cmd_run(out, ["target=tg", "rep=1", "mode=pinned", "conns=50", "expect=2xx",
                                      "switches=[3000, 225000]", "upstream_switches=[222000, 0]"])
        r = json.loads(said.getvalue())
        self.assertEqual(r["switches"], [0.01, 0.75])  # over 300,000 requests
        self.assertEqual(r["upstream_switches"], [0.74, 0.0])
        with redirect_stdout(io.StringIO()) as shown:
            results.cmd_show(json.dumps({**r, "rps": 30000.0}))
        self.assertIn("server 0.01 + 0.75; upstream 0.74 + 0.00", shown.getvalue())
        summary = results.summarize([{**r, "rps": 30000.0}], {})
        text = results.markdown(summary, [], {"date": "d", "command": "c", "commit": "x", "settings": "s"})
        self.assertIn("Tollgate allowed batched 0.01 + 0.75, upstream 0.74 + 0.00", text)


class Storage(unittest.TestCase):
    def test_dbsize_counts_free_pages_in_the_file_but_not_as_pages_in_use(self):
        with tempfile.TemporaryDirectory() as d:
            db = os.path.join(d, "tollgate.db")
            con = sqlite3.connect(db)
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("CREATE TABLE t (x BLOB)")
            con.executemany("INSERT INTO t VALUES (?)", [(b"x" * 3000,)] * 200)
            con.commit()
            with redirect_stdout(io.StringIO()) as out:
                results.cmd_dbsize(d)
            full = json.loads(out.getvalue())
            con.execute("DELETE FROM t")
            con.commit()
            con.close()
            with redirect_stdout(io.StringIO()) as out:
                results.cmd_dbsize(d)
            emptied = json.loads(out.getvalue())
        self.assertGreater(full["logical"], 200 * 3000)
        self.assertEqual(emptied["files"], full["files"], "deleted rows leave free pages in the file")
        self.assertLess(emptied["logical"], 20_000)

    def test_pages_one_path_frees_and_another_reuses_are_not_growth(self):
        # The strict runs grow the file by a journal's high-water each time; the 402 runs after
        # them fill those free pages, so their own file barely grows.
        runs = [run("tg_strict", 1, 20000, files=5_000_000, logical=1_000_000),
                run("tg402", 1, 80000, files=0, logical=4_000_000),
                run("tg", 1, 30000, files=1_000_000, logical=1_000_000)]
        checks = results.targets(results.summarize(runs, {}))
        (ok, line), = lines(checks, "served or denied")
        self.assertTrue(ok, line)
        self.assertIn("2.0 B/request", line)  # 6 MB over 3 M requests
        (ok, line), = lines(checks, "allowed strict")
        self.assertTrue(ok, line)
        self.assertIn("pages in use ≤ 5 B/request, allowed strict: 1.0 B/request", line)

    def test_a_path_that_keeps_more_than_five_bytes_a_request_fails(self):
        runs = [run("tg", 1, 30000, files=6_000_000, logical=6_000_000),
                run("tg402", 1, 80000, files=0, logical=0, requests=100_000)]
        checks = results.targets(results.summarize(runs, {}))
        (ok, line), = lines(checks, "allowed batched")
        self.assertFalse(ok, line)
        (ok, line), = lines(checks, "served or denied")
        self.assertFalse(ok, line)  # 6 MB over 1.1 M requests


class Ratios(unittest.TestCase):
    def test_ratios_are_of_medians_with_each_repetition_beside(self):
        runs = []
        for rep, (tg, nginx) in enumerate([(30000, 40000), (36000, 40000), (20000, 50000)], 1):
            runs += [run("tg", rep, tg), run("nginx", rep, nginx)]
        summary = results.summarize(runs, {})
        (ratio,) = [r for r in summary["tables"][0]["ratios"] if r["label"] == "allowed vs nginx proxy_pass"]
        self.assertAlmostEqual(ratio["of_medians"], 30000 / 40000)
        self.assertEqual([round(x, 2) for x in ratio["per_rep"]], [0.75, 0.9, 0.4])
        (ok, line), = lines(results.targets(summary), "allowed vs nginx proxy_pass")
        self.assertFalse(ok, line)

    def test_a_diagnosis_run_checks_no_speed_target(self):
        runs = [run("tg", 1, 30000, files=1_000_000, logical=1_000_000), run("nginx", 1, 40000),
                run("lua", 1, 35000), run("tg_strict", 1, 20000, files=1_000_000, logical=1_000_000)]
        checks = results.targets(results.summarize(runs, {}))
        meta = {"settings": "s", "upstream_sched": "batch"}
        marked = results.diagnosis(checks, meta)
        for what in ("allowed vs nginx proxy_pass", "strict", "p99"):
            speed = [(ok, line) for ok, line in marked if what in line and "B/request" not in line]
            self.assertTrue(speed, what)
            for ok, line in speed:
                self.assertIsNone(ok, line)
                self.assertIn("diagnosis run (upstream SCHED_BATCH)", line)
        (ok, line), = lines(marked, "allowed batched")
        self.assertTrue(ok, "storage is measured as usual")
        self.assertIn("SCHED_BATCH", meta["settings"])
        self.assertEqual(results.diagnosis(checks, {"settings": "s"}), checks)


if __name__ == "__main__":
    unittest.main()
