"""Does one strategy meet issue 10's goal? Reads ``per_split.csv`` files of benchmarks/quality.py.

For ``--strategy`` (default ``etal-deficit``, the shipped default) and each dataset: mean share of the
clairvoyant D-reduction, median picks to reach random's D at the budget, and the splits in
which its area under the D curve is the lowest of all non-clairvoyant strategies, its own
variants named in ``--twins`` left out (they are the same method computed differently).

    python benchmarks/quality_wins.py benchmarks/results/shipped-*/per_split.csv
"""

from __future__ import annotations

import argparse

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--strategy", default="etal-deficit")
    p.add_argument("--twins", default="", help="comma list of variants of the same method")
    p.add_argument("--table", action="store_true", help="print the merged strategies x metrics tables (Markdown)")
    args = p.parse_args(argv)
    twins = {t for t in args.twins.split(",") if t}
    # Files may overlap (e.g. one strategy re-run later on the same splits): the first
    # row of each dataset x split x strategy is kept; the splits are deterministic.
    t = pd.concat([pd.read_csv(f) for f in args.files], ignore_index=True)
    t = t.drop_duplicates(["dataset", "split_seed", "strategy"])
    if args.table:
        import sys

        sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
        from quality import markdown

        from etal.benchmark.runner import summary_table

        t["seeds"] = ["0-4" if s < 5 else "5-9" for s in t.split_seed]
        for (ds, seeds), part in t.groupby(["dataset", "seeds"]):
            part = part.copy()
            real = ~part.strategy.isin(["oracle"])
            best = part[real].groupby("split_seed").auc.transform("min")
            part["best_auc"] = False
            part.loc[real, "best_auc"] = part.loc[real, "auc"] <= best + 1e-12
            summary = summary_table(part.drop(columns=["seeds"])).sort_values("auc_mean")
            print(f"\n#### {ds}, split seeds {seeds}\n")
            print(markdown(summary))
        return 0
    rows = []
    if True:
        f = "all"
        for (ds, seed), part in t.groupby(["dataset", "split_seed"]):
            if args.strategy not in set(part.strategy):
                continue
            rivals = part[~part.strategy.isin({"oracle", args.strategy} | twins)]
            me = part[part.strategy == args.strategy].iloc[0]
            best_rival = rivals.loc[rivals.auc.idxmin()]
            rows.append({
                "file": f, "dataset": ds, "split_seed": seed, "share": me.share, "picks_to_random": me.picks_to_random,
                "auc": me.auc, "best_rival": best_rival.strategy, "rival_auc": best_rival.auc,
                "lowest_auc": bool(me.auc < best_rival.auc),
            })  # fmt: skip
    t = pd.DataFrame(rows)
    print(t.drop(columns=["file"]).round(3).to_string(index=False))
    t["seeds"] = ["0-4" if s < 5 else "5-9" for s in t.split_seed]
    g = t.groupby(["dataset", "seeds"])
    print(pd.DataFrame({
        "splits": g.size(), "share_mean": g.share.mean().round(3), "picks_median": g.picks_to_random.median(),
        "lowest_auc_splits": g.lowest_auc.sum(),
    }).to_string())  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
