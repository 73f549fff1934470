"""The ET-AL paper's JARVIS-DFT pipeline, end to end, as one documented script.

What it does (Zhang et al., Appl. Phys. Rev. 10, 021403 (2023), section "JARVIS-DFT"):

1. fetch JARVIS-DFT 3-D (``dft_3d_2021`` is the CFID 2021 release the paper used; cached
   under ``$ETAL_CACHE_DIR`` or ``~/.cache/etal`` after the first run);
2. keep the materials with DFT bulk *and* shear moduli (``bulk_modulus_kv``,
   ``shear_modulus_gv``, Voigt averages in GPa);
3. remove compounds containing H, halogens, noble gases, lanthanides, actinides or Tc,
   as the paper did (the paper reports 10,898 materials after steps 2-3);
4. crystal systems from the space-group numbers (already in the fetched table);
5. composition + structure descriptors (matminer Magpie if installed, else etal's basic
   set) - the paper used matminer descriptors for the downstream moduli models, and
   32-d CGCNN embeddings as the GP features of ET-AL; etal has no PyTorch, so pass your
   own CGCNN/ALIGNN vectors with ``--embeddings FILE.npy`` (one row per material, in the
   order of ``jarvis_moduli.parquet``) if you want the paper's GP features;
6. the bias report of formation energy per crystal system (``etal bias``);
7. the retrospective experiment (``etal experiment DATA --config FILE.toml --out DIR``):
   biased labelled set / pool / test split, ET-AL vs random acquisition, and downstream
   models of bulk and shear moduli (R² on the test set, 30 seeds).

Needs: ``pip install 'etal[materials-full]'`` and the internet (first run only).
Run:   python examples/jarvis_pipeline.py --out-dir jarvis_run
Time:  the download is ~100 MB; featurizing ~11,000 structures takes a few minutes on one
       core; the experiment's cost is set by the config written in step 7.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="dft_3d_2021", help="jarvis-tools dataset (default: the paper's dft_3d_2021)")
    parser.add_argument("--out-dir", default="jarvis_run", help="folder for every output (default jarvis_run)")
    parser.add_argument("--descriptors", default="auto", choices=("auto", "magpie", "basic"))
    parser.add_argument("--embeddings", help="optional .npy with one embedding row per material (see step 5)")
    parser.add_argument("--skip-experiment", action="store_true", help="stop after the bias report")
    args = parser.parse_args(argv)

    from etal.cli import main as etal_cli
    from etal.materials import PAPER_EXCLUDED_ELEMENTS, featurize_table, fetch_jarvis, parse_formula

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # 1. Fetch (cached: a second run reads the local copy, no download).
    raw = fetch_jarvis(args.dataset)
    print(f"1. JARVIS {args.dataset}: {len(raw)} materials with a space group")

    # 2. Materials with both moduli. JARVIS writes "na" for a missing value; the loader has
    #    turned those into NaN, so "has a modulus" is "is finite".
    moduli = raw[np.isfinite(raw["bulk_modulus_kv"]) & np.isfinite(raw["shear_modulus_gv"])]
    print(f"2. with bulk and shear moduli: {len(moduli)}")

    # 3. The paper's element filter, on the reduced formula's elements.
    def allowed(formula: str) -> bool:
        return not (set(parse_formula(formula)) & PAPER_EXCLUDED_ELEMENTS)

    kept = moduli[moduli["formula"].map(allowed)].reset_index(drop=True)
    print(f"3. without H, halogens, noble gases, lanthanides, actinides, Tc: {len(kept)} (paper: 10,898)")

    # 4. Crystal systems: the loader derived them from JARVIS's space-group numbers.
    print("4. per crystal system: " + ", ".join(f"{s} {n}" for s, n in kept["crystal_system"].value_counts().items()))

    # 5. Descriptors from the structures (the 'structure' column); the space groups are
    #    kept as JARVIS reports them. Optional user embeddings become emb_0.. columns.
    embeddings = np.load(args.embeddings) if args.embeddings else None
    result = featurize_table(kept, descriptors=args.descriptors, embeddings=embeddings, source=f"JARVIS {args.dataset}")
    table = result.frame
    for line in result.summary_lines()[1:]:
        print("   " + line)
    data_path = out_dir / "jarvis_moduli.parquet"
    table.to_parquet(data_path, index=False)
    print(f"5. {len(table)} rows x {table.shape[1]} columns ({result.descriptors} descriptors) -> {data_path}")

    # 6. Bias of formation energy (eV/atom) across crystal systems.
    code = etal_cli([
        "bias", str(data_path), "--group-col", "crystal_system", "--target-col", "formation_energy_per_atom",
        "--id-col", "id", "--out", str(out_dir / "bias"),
    ])  # fmt: skip
    if code != 0 or args.skip_experiment:
        return code

    # 7. The paper's experiment. Features for ET-AL's GP: the embeddings if given, else the
    #    descriptors; the moduli are downstream targets, never features.
    descriptor_cols = [c for c in table.columns if c.startswith(("emb_",))] or [
        c for c in table.columns
        if c.startswith(("magpie_", "mean_", "std_", "min_", "max_", "range_"))
        or c in ("volume_per_atom", "density", "packing_fraction")
    ]  # fmt: skip
    complete = [c for c in descriptor_cols if table[c].notna().all()]
    config = out_dir / "experiment.toml"
    # The schema is etal.experiment.ExperimentConfig (see docs/experiment.md); the data
    # table and its columns come from the command line below.
    config.write_text(
        textwrap.dedent(
            f"""\
            # ET-AL on JARVIS-DFT moduli, as in Zhang et al. (2023), section 5.
            title = "ET-AL on JARVIS-DFT (dft_3d): bias of formation energy per crystal system"

            [data]
            group_col = "crystal_system"
            target_col = "formation_energy_per_atom"   # eV/atom; bias is measured on it
            id_col = "id"
            feature_cols = {complete!r}

            [split]
            test_fraction = 0.46      # ~5,000 of 10,898 held out
            pool_size = 4900          # labelled set ~1,000, the rest is the pool
            seed = 0
            # the paper's depletion: unstable tetragonal, stable orthorhombic, unstable trigonal
            rules = {{ tetragonal = "target > 0", orthorhombic = "target < 0", trigonal = "target > 0" }}

            [run]
            strategies = ["etal", "random"]
            budget = 1000             # the paper ran up to 1,000 iterations
            patience = 5              # a group leaves after 5 acquisitions without entropy gain
            seeds = 5

            [downstream]
            targets = ["bulk_modulus_kv", "shear_modulus_gv"]   # GPa
            models = ["gradient_boosting", "random_forest", "svr", "adaboost", "mlp"]
            seeds = 30
            """
        )
    )
    print(f"7. experiment config -> {config}")
    return etal_cli(["experiment", str(data_path), "--config", str(config), "--out", str(out_dir / "experiment")])


if __name__ == "__main__":
    sys.exit(main())
