#!/usr/bin/env python3
"""The bookkeeping of bench/gateway.sh: reads wrk's output, refuses runs that are not
clean, measures the database, and turns the runs into medians, ratios, target checks and
the files in artifacts/bench/.

  results.py run WRK_OUTPUT KEY=VALUE...   one run as a JSON line (exit 3: refused)
  results.py show RUN_JSON                 that run on one line
  results.py dbsize DATA_DIR               checkpoints the WAL, prints the sizes as JSON
  results.py report WORK_DIR OUT_DIR       the tables, ratios and targets of a whole run
"""

import datetime
import glob
import json
import os
import re
import sqlite3
import statistics
import sys

REFUSED = 3

# Display names, in the order of the tables.
TARGETS = {
    "upstream": "fixed upstream alone",
    "nginx": "nginx proxy_pass",
    "floor": "bare proxy hop, tokio without hyper",
    "floor_hyper": "bare proxy hop through hyper",
    "lua": "nginx+Lua allowed",
    "tg": "Tollgate allowed batched",
    "tg_strict": "Tollgate allowed strict",
    "lua402": "nginx+Lua 402",
    "tg402": "Tollgate 402",
    "tg_base": "baseline build, allowed batched",
    "tg_base_strict": "baseline build, allowed strict",
    "tg_base402": "baseline build, 402",
    "tg_header": "Tollgate metered by header",
    "tg_usage": "Tollgate metered by usage",
}

# Tollgate's threads, grouped as bench/gateway.sh's thread_ticks reports them: its gateway
# threads, SQLite's thread, and the main runtime (the settlement writer and the console; with
# one CPU the gateway runs there too).
THREAD_GROUPS = {"gateway": "gateway", "sqlite": "SQLite", "runtime": "main runtime"}

# (numerator, denominator, label): every ratio of the issue, of req/s unless said.
RATIOS = [
    ("tg", "nginx", "allowed vs nginx proxy_pass"),
    ("tg", "lua", "allowed vs nginx+Lua"),
    ("floor", "nginx", "bare hop without hyper vs nginx proxy_pass"),
    ("floor_hyper", "nginx", "bare hop through hyper vs nginx proxy_pass"),
    ("tg", "floor_hyper", "allowed vs the bare hop through hyper"),
    ("tg402", "lua402", "402 vs nginx+Lua 402"),
    ("tg_strict", "tg", "strict vs batched"),
    ("tg", "tg_base", "allowed vs the baseline build"),
    ("tg_strict", "tg_base_strict", "strict vs the baseline build's strict"),
    ("tg402", "tg_base402", "402 vs the baseline build's 402"),
    ("tg_header", "tg", "metered by header vs fixed cost"),
    ("tg_usage", "tg", "metered by usage vs fixed cost"),
]


def refuse(message):
    print(f"REFUSED: {message}", file=sys.stderr)
    sys.exit(REFUSED)


def duration_ms(text):
    """wrk's latency figures: 850.00us, 1.23ms, 1.02s, 2.00m."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"latency {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_wrk(text):
    out = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+)", text, re.M)
    if not m:
        refuse("wrk printed no request count:\n" + text)
    out["requests"] = int(m.group(1))
    out["rps"] = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        out[f"p{pct}_ms"] = duration_ms(m.group(1)) if m else None
    m = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    statuses = {}
    for code, n in re.findall(r"^status (\d+) (\d+)$", text, re.M):
        statuses[code] = statuses.get(code, 0) + int(n)
    out["statuses"] = statuses
    return out


def check(run, expect):
    """Refuses a run with socket errors or an answer other than the expected ones."""
    where = f"{run.get('mode')} c{run.get('conns')} rep {run.get('rep')} {run.get('target')}"
    if run["socket_errors"]:
        refuse(f"{where}: socket errors ({run['socket_errors']})")
    if run["requests"] == 0:
        refuse(f"{where}: no request completed")
    if expect == "2xx":
        if run["non_2xx"]:
            refuse(f"{where}: {run['non_2xx']} answers were not 2xx")
        return
    allowed = {"402": {"402"}, "4xx": {"401", "404", "414", "429", "431"}}[expect]
    counted = sum(run["statuses"].values())
    if counted == 0:
        refuse(f"{where}: the wrk script counted no status")
    other = {c: n for c, n in run["statuses"].items() if c not in allowed}
    if other:
        refuse(f"{where}: unexpected statuses {other} (expected {sorted(allowed)})")


def cmd_run(path, fields):
    run = {}
    for field in fields:
        k, v = field.split("=", 1)
        try:
            run[k] = json.loads(v)
        except json.JSONDecodeError:
            run[k] = v
    with open(path) as f:
        run.update(parse_wrk(f.read()))
    check(run, str(run.pop("expect")))
    hz = os.sysconf("SC_CLK_TCK")
    for part in ("server", "upstream"):
        ticks = run.pop(f"{part}_ticks", None)
        if ticks is not None:
            run[f"{part}_cpu_us"] = ticks * 1e6 / hz / run["requests"]
    # Context switches per request, [waits, preemptions]: how often a server (or the upstream
    # behind it) went to sleep or was pushed off its CPU, the cost the pinned runs turn on.
    for part in ("switches", "upstream_switches"):
        if part in run:
            run[part] = [max(0, n) / run["requests"] for n in run[part]]
    before, after = run.pop("threads_before", None), run.pop("threads_after", None)
    if before is not None and after is not None:
        run["thread_cpu_us"] = {g: (after[g] - before[g]) * 1e6 / hz / run["requests"] for g in THREAD_GROUPS}
    if "busy_ticks" in run:
        # What the rest of the machine used during the run, in % of all its CPUs: the servers'
        # and wrk's own CPU taken out of the machine's busy time. High values mean a noisy run.
        ours = run.get("server_cpu_us", 0) + run.get("upstream_cpu_us", 0)
        wrk_s, wall_s = run.pop("wrk_cpu_s"), run.pop("wall_ns") / 1e9
        ours_s = ours * run["requests"] / 1e6 + wrk_s
        busy_s = run.pop("busy_ticks") / hz
        run["others_cpu_pct"] = max(0.0, busy_s - ours_s) * 100 / (os.cpu_count() * wall_s)
        # wrk near 100% of a CPU per thread is the load generator, not the server, at its limit.
        run["wrk_cpu_pct"] = wrk_s * 100 / wall_s
    if "db_before" in run and "db_after" in run:
        run["db_growth_bytes"] = run["db_after"]["files"] - run["db_before"]["files"]
        run["db_logical_growth_bytes"] = run["db_after"]["logical"] - run["db_before"]["logical"]
    print(json.dumps(run))


def cmd_show(line):
    """One run on one line of the console."""
    r = json.loads(line)
    cpu = f"{r['server_cpu_us']:6.1f}" if "server_cpu_us" in r else "     —"
    db = f"  db {r['db_growth_bytes'] / r['requests']:6.1f} B/req" if "db_growth_bytes" in r else ""
    others = f"  wrk {r['wrk_cpu_pct']:3.0f}%  others {r['others_cpu_pct']:3.0f}% CPU" if "others_cpu_pct" in r else ""
    print(f"  {r['target']:10} {r['rps']:>9,.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  server {cpu} µs/req{db}{others}")
    if "switches" in r:
        up = r.get("upstream_switches")
        behind = f"; upstream {up[0]:.2f} + {up[1]:.2f}" if up else ""
        print(f"             context switches per request, waits + preemptions: server {r['switches'][0]:.2f} + {r['switches'][1]:.2f}{behind}")
    if "thread_cpu_us" in r:
        print("             by thread: " + ", ".join(f"{THREAD_GROUPS[g]} {r['thread_cpu_us'][g]:.1f}" for g in THREAD_GROUPS) + " µs/req")


def cmd_dbsize(data_dir):
    """tollgate.db + its WAL after a TRUNCATE checkpoint (so a WAL that is merely reused
    does not count as growth), the bytes of the pages in use, and every other file of the
    data directory (the request log, if any) on its own."""
    db = os.path.join(data_dir, "tollgate.db")
    con = sqlite3.connect(db, timeout=30)
    try:
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        page = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        free = con.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        con.close()
    size = lambda p: os.path.getsize(p) if os.path.exists(p) else 0
    others = {}
    for p in glob.glob(os.path.join(data_dir, "**"), recursive=True):
        name = os.path.relpath(p, data_dir)
        if os.path.isfile(p) and not name.startswith("tollgate.db") and name not in ("tollgate.lock", "admin-token", "serve.json"):
            # On disk, not the apparent size: the request log is a sparse file of its full size.
            others[name] = os.stat(p).st_blocks * 512
    print(json.dumps({"files": size(db) + size(db + "-wal"), "logical": (pages - free) * page, "others": others}))


def load(work):
    runs = []
    with open(os.path.join(work, "runs.jsonl")) as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))
    extra = {}
    path = os.path.join(work, "extra.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    extra.setdefault(record.pop("kind"), []).append(record)
    return runs, extra


def fmt_int(x):
    return f"{x:,.0f}" if x is not None else "—"


def fmt_ms(x):
    return f"{x:.2f} ms" if x is not None else "—"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs, extra):
    """Medians per mode, connections and target; per-repetition ratios; storage; memory."""
    groups = {}
    for r in runs:
        groups.setdefault((r["mode"], r["conns"]), []).append(r)
    tables = []
    for (mode, conns), rs in groups.items():
        rows = {}
        for t in TARGETS:
            mine = [r for r in rs if r["target"] == t]
            if not mine:
                continue
            rows[t] = {
                "name": TARGETS[t],
                "reps": len(mine),
                "rps": med(r["rps"] for r in mine),
                "p50_ms": med(r["p50_ms"] for r in mine),
                "p99_ms": med(r["p99_ms"] for r in mine),
                "server_cpu_us": med(r.get("server_cpu_us") for r in mine),
                "upstream_cpu_us": med(r.get("upstream_cpu_us") for r in mine),
                "others_cpu_pct": med(r.get("others_cpu_pct") for r in mine),
                "per_rep_rps": [r["rps"] for r in sorted(mine, key=lambda r: r["rep"])],
            }
            for part in ("switches", "upstream_switches"):
                counted = [r[part] for r in mine if part in r]
                if counted:
                    rows[t][part] = [med(c[i] for c in counted) for i in (0, 1)]
            split = [r["thread_cpu_us"] for r in mine if "thread_cpu_us" in r]
            if split:
                rows[t]["thread_cpu_us"] = {g: med(s[g] for s in split) for g in THREAD_GROUPS}
        ratios = []
        for a, b, label in RATIOS + [("tg", "lua", "allowed p99 vs nginx+Lua p99")]:
            if a not in rows or b not in rows:
                continue
            key = "p99_ms" if "p99" in label else "rps"
            per_rep = []
            for rep in sorted({r["rep"] for r in rs}):
                x = [r[key] for r in rs if r["rep"] == rep and r["target"] == a]
                y = [r[key] for r in rs if r["rep"] == rep and r["target"] == b]
                if x and y and y[0]:
                    per_rep.append(x[0] / y[0])
            ratios.append({"label": label, "of_medians": rows[a][key] / rows[b][key], "per_rep": per_rep})
        tables.append({"mode": mode, "conns": conns, "targets": rows, "ratios": ratios})

    def growth(targets):
        mine = [r for r in runs if r["target"] in targets and "db_growth_bytes" in r]
        n = sum(r["requests"] for r in mine)
        if not n:
            return None
        return {
            "requests": n,
            "bytes": sum(r["db_growth_bytes"] for r in mine),
            "bytes_per_request": sum(r["db_growth_bytes"] for r in mine) / n,
            "logical_bytes_per_request": sum(r["db_logical_growth_bytes"] for r in mine) / n,
        }

    # Every run of this build writes to one data directory, so the file's growth over all of
    # them is the database's growth per request, served or denied: the figure. A path's
    # own file growth can mislead: pages one run frees (the strict journal's rows, deleted once
    # folded) are taken up by the next run's writes, so they count as growth for the run that
    # freed them and are missing from the one that reused them. What a path keeps is its pages
    # in use.
    storage = {
        "all": growth({r["target"] for r in runs if "db_growth_bytes" in r}),
        "allowed": growth({"tg", "tg_strict"}),
        "allowed batched": growth({"tg"}),
        "allowed strict": growth({"tg_strict"}),
        "denied (402)": growth({"tg402"}),
    }
    # Other files of the data directory (a request log): the largest size each reached.
    largest = {}
    for r in runs:
        for name, size in r.get("db_after", {}).get("others", {}).items():
            largest[name] = max(size, largest.get(name, 0))
    for o in extra.get("others", []):
        for name, size in o["files"].items():
            largest[name] = max(size, largest.get(name, 0))
    return {"tables": tables, "storage": storage, "other_files_largest": largest, "extra": extra}


def targets(summary):
    """The issue's targets as (ok, line) pairs; None when not measured in this run."""
    out = []

    def table(mode, conns):
        for t in summary["tables"]:
            if t["mode"] == mode and t["conns"] == conns:
                return t
        return None

    def ratio(t, label):
        for r in t["ratios"]:
            if r["label"] == label:
                return r
        return None

    def per_rep(r):
        return ", ".join(f"{x:.2f}" for x in r["per_rep"])

    t = table("pinned", 50)
    if t:
        for label, goal in (("allowed vs nginx proxy_pass", 1.0), ("402 vs nginx+Lua 402", 1.0)):
            r = ratio(t, label)
            if r:
                out.append((r["of_medians"] >= goal, f"pinned c50: {label} ≥ {goal:.1f}×: {r['of_medians']:.2f}× (per repetition {per_rep(r)})"))
        r = ratio(t, "allowed p99 vs nginx+Lua p99")
        if r:
            a, b = t["targets"]["tg"]["p99_ms"], t["targets"]["lua"]["p99_ms"]
            out.append((r["of_medians"] <= 1.0, f"pinned c50: allowed p99 ≤ nginx+Lua's: {a:.2f} ms vs {b:.2f} ms ({r['of_medians']:.2f}×)"))
    for t in summary["tables"]:
        if t["mode"] == "free":
            for label in ("allowed vs nginx+Lua", "402 vs nginx+Lua 402"):
                r = ratio(t, label)
                if r:
                    out.append((r["of_medians"] >= 1.0, f"free c{t['conns']}: {label} ≥ 1.0×: {r['of_medians']:.2f}× (per repetition {per_rep(r)})"))
    for t in summary["tables"]:
        r = ratio(t, "strict vs batched")
        if r:
            out.append((r["of_medians"] >= 0.5, f"{t['mode']} c{t['conns']}: strict ≥ 0.5× batched: {r['of_medians']:.2f}× (per repetition {per_rep(r)})"))
    for name, g in summary["storage"].items():
        if not g or name == "allowed":
            continue
        if name == "all":
            out.append((g["bytes_per_request"] <= 5, f"database growth ≤ 5 B/request, served or denied (the data directory's files over every run of this build): {g['bytes_per_request']:.1f} B/request ({g['bytes']:,} B over {g['requests']:,} requests; pages in use {g['logical_bytes_per_request']:.1f} B/request)"))
        else:
            out.append((g["logical_bytes_per_request"] <= 5, f"pages in use ≤ 5 B/request, {name}: {g['logical_bytes_per_request']:.1f} B/request (its runs' file growth {g['bytes_per_request']:.1f} B/request, {g['bytes']:,} B over {g['requests']:,} requests)"))
    for f in summary["extra"].get("flood", []):
        out.append((f["peak_rss_mb"] < 100, f"{f['name']} ({f['seconds']} s, {f['rps']:,.0f} req/s): peak RSS < 100 MB: {f['peak_rss_mb']:.1f} MB"))
        out.append((f["cpu_ms_second_1_to_2"] <= 20, f"{f['name']}: idle within 1 s of the end: {f['cpu_ms_first_second']:.0f} ms CPU in the first second after wrk ended, {f['cpu_ms_second_1_to_2']:.0f} ms in the next (idle: ≤ 20 ms)"))
    for r in summary["extra"].get("ready", [])[-1:]:
        enough = r["history_requests"] >= 10_000_000
        line = f"ready < 1 s with {r['keys']:,} keys ({r.get('tenants', 0):,} tenants) and {r['history_requests']:,} requests answered ({r.get('served', 0):,} served, {r.get('denied', 0):,} denied): {r['ms']:.0f} ms (median of {r['samples']}; database {r['db_mb']:.1f} MB)"
        out.append((r["ms"] < 1000 if enough else None, line + ("" if enough else " — history below 10 M, not the target's condition")))
    return out


def markdown(summary, checks, meta):
    lines = [f"# Gateway benchmark {meta['date']}", "", f"`{meta['command']}` on commit {meta['commit']}: {meta['settings']}", ""]
    for t in summary["tables"]:
        lines += [f"## {t['mode']}, {t['conns']} connections", "",
                  "| target | req/s (median) | p50 | p99 | server CPU µs/req | upstream CPU µs/req | other processes' CPU | req/s per repetition |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in t["targets"].values():
            cpu = lambda x: f"{x:.1f}" if x is not None else "—"
            lines.append(f"| {row['name']} | {fmt_int(row['rps'])} | {fmt_ms(row['p50_ms'])} | {fmt_ms(row['p99_ms'])} | {cpu(row['server_cpu_us'])} | {cpu(row['upstream_cpu_us'])} | {cpu(row['others_cpu_pct'])}% | {', '.join(fmt_int(x) for x in row['per_rep_rps'])} |")
        split = [(row["name"], row["thread_cpu_us"]) for row in t["targets"].values() if "thread_cpu_us" in row]
        if split:
            lines += ["", "Tollgate's server CPU by thread, µs per request (medians; gateway threads / SQLite's thread / "
                      "main runtime, where the settlement writer and the console run, and with one CPU the gateway too): "
                      + "; ".join(f"{name} " + " / ".join(f"{us[g]:.1f}" for g in THREAD_GROUPS) for name, us in split) + "."]
        switched = [row for row in t["targets"].values() if "switches" in row]
        if switched:
            pair = lambda s: f"{s[0]:.2f} + {s[1]:.2f}" if s else "—"
            lines += ["", "Context switches per request (medians; waits + preemptions), server and the upstream behind it: "
                      + "; ".join(f"{row['name']} {pair(row['switches'])}, upstream {pair(row.get('upstream_switches'))}" for row in switched) + "."]
        others = med(row["others_cpu_pct"] for row in t["targets"].values())
        if others is not None and others > 10:
            lines += ["", f"**Noisy:** other processes used {others:.0f}% of the machine's CPU (median over targets) during these runs; take the ratios with care."]
        lines += ["", "| ratio | of medians | per repetition |", "|---|---|---|"]
        for r in t["ratios"]:
            lines.append(f"| {r['label']} | {r['of_medians']:.2f}× | {', '.join(f'{x:.2f}' for x in r['per_rep'])} |")
        lines.append("")
    lines += ["## Storage and memory", ""]
    for name, g in summary["storage"].items():
        if g:
            lines.append(f"- database growth, {name}: {g['bytes_per_request']:.1f} B/request ({g['bytes']:,} B over {g['requests']:,} requests; pages in use {g['logical_bytes_per_request']:.1f} B/request)")
    largest = summary["other_files_largest"]
    lines.append("- other files in the data directory (the request log), largest size on disk: "
                 + (", ".join(f"{name} {size:,} B" for name, size in sorted(largest.items())) or "none"))
    for f in summary["extra"].get("flood", []):
        lines.append(f"- {f['name']}: {f['seconds']} s at {f['rps']:,.0f} req/s ({f['requests']:,} requests, statuses {json.dumps(f['statuses'])}), peak RSS {f['peak_rss_mb']:.1f} MB (RSS {f['rss_before_mb']:.1f} MB before), CPU {f['cpu_ms_first_second']:.0f} ms in the second after wrk ended and {f['cpu_ms_second_1_to_2']:.0f} ms in the next; database +{f['db_growth_bytes']:,} B ({f['db_growth_bytes'] / f['requests']:.1f} B/request)")
    for r in summary["extra"].get("ready", []):
        lines.append(f"- ready (launch until the gateway answers) with {r['keys']:,} keys on {r.get('tenants', 0):,} tenants, {r['history_requests']:,} requests answered before ({r.get('served', 0):,} served, {r.get('denied', 0):,} denied): {r['ms']:.0f} ms (median of {r['samples']}: {r['all_ms']}), database {r['db_mb']:.1f} MB" + (f"; `verify` {r['verify_s']:.2f} s" if "verify_s" in r else ""))
    lines += ["", "## Targets", ""]
    for ok, line in checks:
        lines.append(f"- {'PASS' if ok else ('FAIL' if ok is False else 'N/A')} {line}")
    return "\n".join(lines) + "\n"


def diagnosis(checks, meta):
    """A run with the upstream on another scheduling policy (UPSTREAM_SCHED) measures where
    the time goes, not the targets: its speed checks become N/A, saying why."""
    policy = meta.get("upstream_sched", "other")
    if policy == "other":
        return checks
    meta["settings"] += f"; **diagnosis: the upstream runs SCHED_{policy.upper()}** (it does not preempt the gateway when a request wakes it), not the targets' conditions"
    speed = lambda line: "×" in line or "p99" in line  # every ratio and latency check
    return [(None, f"{line} — diagnosis run (upstream SCHED_{policy.upper()}), not the target's conditions") if speed(line) else (ok, line)
            for ok, line in checks]


def cmd_report(work, out_dir):
    runs, extra = load(work)
    summary = summarize(runs, extra)
    with open(os.path.join(work, "meta.json")) as f:
        meta = json.load(f)
    checks = diagnosis(targets(summary), meta)
    text = markdown(summary, checks, meta)
    print(text)
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, f"{meta['stamp']}-{meta['modes']}")
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({"meta": meta, "summary": summary, "targets": [{"ok": ok, "line": line} for ok, line in checks], "runs": runs}, f, indent=1)
    print(f"written: {base}.md and {base}.json")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "run":
        cmd_run(args[0], args[1:])
    elif cmd == "show":
        cmd_show(args[0])
    elif cmd == "dbsize":
        cmd_dbsize(args[0])
    elif cmd == "report":
        cmd_report(args[0], args[1])
    else:
        sys.exit(f"unknown command {cmd}")
