#!/usr/bin/python3
"""Draw issue 19's cost curves from bench/cmd/costcurves -json output.

    /usr/bin/python3 bench/plot_costs.py bench/charts/costcurves.json bench/charts

One PNG per curve, log-scale x: token checks per second and p99 against
cached accounts, heap per cached account and verdict, Redis memory per
revocation and per lock, and the token check rate against revocations
present. Needs Debian's python3-matplotlib.
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def chart(path, title, xlabel, ylabel, series, hline=None, ylog=False):
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for label, xs, ys in series:
        ax.plot(xs, ys, marker="o", label=label)
    if hline is not None:
        y, label = hline
        ax.axhline(y, color="grey", linestyle="--", linewidth=1, label=label)
    ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print("wrote", path)


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        r = json.load(f)
    os.makedirs(out, exist_ok=True)

    acc = r.get("accounts") or []
    if acc:
        xs = [p["accounts"] for p in acc]
        rate = [("default GOGC", xs, [p["rate"] for p in acc])]
        p99 = [("default GOGC", xs, [p["p99_ms"] for p in acc])]
        if acc[0].get("tuned"):
            g = acc[0]["tuned"]["gogc"]
            rate.append((f"GOGC={g}", xs, [p["tuned"]["rate"] for p in acc]))
            p99.append((f"GOGC={g}", xs, [p["tuned"]["p99_ms"] for p in acc]))
        chart(os.path.join(out, "token-rate-vs-accounts.png"),
              "Token checks/s, two instances, all accounts cached",
              "cached accounts", "token checks per second", rate,
              hline=(0.8 * acc[0]["rate"], "80% of the rate at 10³"))
        chart(os.path.join(out, "token-p99-vs-accounts.png"),
              "Token check p99, two instances, all accounts cached",
              "cached accounts", "p99 latency (ms)", p99)
        if "cpu_us_per_request" in acc[0]:
            cpu = [("default GOGC", xs, [p["cpu_us_per_request"] for p in acc])]
            if acc[0].get("tuned"):
                cpu.append((f"GOGC={g}", xs, [p["tuned"]["cpu_us_per_request"] for p in acc]))
            chart(os.path.join(out, "cpu-per-request-vs-accounts.png"),
                  "Process CPU per token check (servers + load generator)",
                  "cached accounts", "CPU µs per request", cpu)
        chart(os.path.join(out, "heap-per-cached-entry.png"),
              "Heap per cached entry (after GC)",
              "cached entries", "bytes", [
                  ("sqlstore account", xs, [p["heap_per_account"] for p in acc]),
                  ("redisstore verdict", xs, [p["heap_per_verdict"] for p in acc]),
              ])

    revs = r.get("revocations") or []
    locks = r.get("locks") or []
    mem = []
    if revs:
        mem.append(("revocation", [p["revocations"] for p in revs], [p["per_revocation"] for p in revs]))
    if locks:
        mem.append(("locked login", [p["locks"] for p in locks], [p["per_lock"] for p in locks]))
    if mem:
        chart(os.path.join(out, "redis-memory-per-entry.png"),
              "Redis used_memory per entry", "entries in Redis", "bytes", mem)
    if revs and all(p.get("load") for p in revs):
        xs = [p["revocations"] for p in revs]
        chart(os.path.join(out, "token-rate-vs-revocations.png"),
              "Token checks/s with N revocations in Redis (10⁴ accounts)",
              "revocations in Redis", "token checks per second",
              [("two instances", xs, [p["load"]["rate"] for p in revs])])


if __name__ == "__main__":
    main()
