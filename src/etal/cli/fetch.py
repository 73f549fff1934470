"""``etal fetch SOURCE ... --out FILE``: materials databases -> one tidy, cached table.

Sources: ``jarvis-dft3d`` (JARVIS-DFT via jarvis-tools), ``mp`` (Materials Project via
mp-api; API key in ``$MP_API_KEY``), ``optimade`` (OQMD and other OPTIMADE providers, plain
HTTP). Columns: ``id, formula, crystal_system, spacegroup_number, spacegroup,
formation_energy_per_atom`` (eV/atom), the source's other properties, ``structure``.
Results are cached (``--cache-dir``, ``$ETAL_CACHE_DIR`` or ``~/.cache/etal``); ``--refresh``
fetches again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError

_CITATIONS = {
    "jarvis": "JARVIS-DFT: K. Choudhary et al., npj Comput. Mater. 6, 173 (2020).",
    "mp": "Materials Project: A. Jain et al., APL Mater. 1, 011002 (2013).",
    "optimade": "OPTIMADE: C. W. Andersen et al., Sci. Data 8, 217 (2021); cite the provider's "
    "database too (OQMD: Saal et al., JOM 65, 1501 (2013); Kirklin et al., npj Comput. Mater. 1, 15010 (2015)).",
}

_EPILOG = """\
examples:
  etal fetch jarvis-dft3d --out jarvis.parquet
  etal fetch jarvis-dft3d --dataset dft_3d_2021 --out jarvis2021.parquet     # the paper's release
  MP_API_KEY=... etal fetch mp --elements Fe,O --out fe_o.csv
  etal fetch optimade --provider oqmd --filter 'elements HAS ALL "Co","Al" AND nelements=2' --out coal.csv
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="FILE", help="output table: *.csv, *.csv.gz or *.parquet")
    parser.add_argument("--cache-dir", metavar="DIR", help="cache folder (default $ETAL_CACHE_DIR or ~/.cache/etal)")
    parser.add_argument("--refresh", action="store_true", help="ignore the cache and fetch again")
    parser.add_argument("--no-structures", action="store_true", help="leave the 'structure' column out of the output")


def register(sub: argparse._SubParsersAction) -> None:
    from .common import plain_help

    parser = sub.add_parser(
        "fetch",
        help="download JARVIS-DFT / Materials Project / OPTIMADE (OQMD, ...) data as a tidy, cached table",
        description=plain_help(__doc__),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE")

    jarvis = sources.add_parser("jarvis-dft3d", help="JARVIS-DFT 3-D materials (needs etal[materials-full])")
    jarvis.add_argument(
        "--dataset",
        default="dft_3d",
        choices=("dft_3d", "dft_3d_2022", "dft_3d_2021"),
        help="jarvis-tools dataset (default dft_3d, the latest; dft_3d_2021 is the paper's CFID release)",
    )
    _common(jarvis)
    jarvis.set_defaults(func=run)

    mp = sources.add_parser("mp", help="Materials Project summary data (needs etal[materials-full] and MP_API_KEY)")
    mp.add_argument("--elements", help="comma-separated elements every material must contain, e.g. Fe,O")
    mp.add_argument("--chemsys", help="chemical system, e.g. Fe-O (materials made of exactly these elements)")
    mp.add_argument("--exclude-elements", help="comma-separated elements to leave out")
    _common(mp)
    mp.set_defaults(func=run)

    optimade = sources.add_parser("optimade", help="any OPTIMADE provider (OQMD by default)")
    optimade.add_argument("--provider", default="oqmd", help="provider name: oqmd (default), mp, alexandria, jarvis, cod, mc3d, odbx")
    optimade.add_argument("--filter", required=True, help="OPTIMADE filter, e.g. 'elements HAS ALL \"Co\",\"Al\" AND nelements=2'")
    optimade.add_argument("--base-url", help="provider base URL (before /v1), for providers not listed")
    optimade.add_argument("--max-entries", type=int, help="stop after this many structures")
    optimade.add_argument("--page-limit", type=int, default=100, help="entries per page (default 100)")
    optimade.add_argument("--energy-field", help="provider field holding the formation energy in eV/atom (e.g. _oqmd_delta_e)")
    optimade.add_argument("--symprec", type=float, default=0.1, help="spglib tolerance in Å when the provider gives no space group")
    optimade.add_argument("--angle-tolerance", type=float, default=5.0, help="spglib angle tolerance in degrees")
    _common(optimade)
    optimade.set_defaults(func=run)

    def no_source(args: argparse.Namespace) -> int:
        parser.print_help()
        raise InputError("name a source: jarvis-dft3d, mp or optimade (see above).")

    parser.set_defaults(func=no_source)


def run(args: argparse.Namespace) -> int:
    from ..materials import fetch
    from ..materials.tables import table_kind, write_table
    from ..provenance import write_manifest
    from .common import manifest_arguments

    out = Path(args.out)
    if table_kind(out) not in ("csv", "parquet"):
        raise InputError(f"--out {out}: name the output *.csv, *.csv.gz or *.parquet.")
    common = {"cache_dir": args.cache_dir, "refresh": args.refresh, "include_structures": not args.no_structures}
    if args.source == "jarvis-dft3d":
        frame = fetch.fetch_jarvis(args.dataset, **common)
    elif args.source == "mp":
        frame = fetch.fetch_mp(args.elements, chemsys=args.chemsys, exclude_elements=args.exclude_elements, **common)
    else:
        frame = fetch.fetch_optimade(
            args.provider,
            filter=args.filter,
            base_url=args.base_url,
            max_entries=args.max_entries,
            page_limit=args.page_limit,
            energy_field=args.energy_field,
            symprec=args.symprec,
            angle_tolerance=args.angle_tolerance,
            **common,
        )
    info = frame.attrs.get("etal_fetch", {})
    where = "from cache" if info.get("from_cache") else "downloaded"
    print(f"{len(frame)} materials ({where}; cache file {info.get('cache_file')})")
    if info.get("dropped"):
        print(f"dropped {info['dropped']} entries: {info.get('dropped_reason')}")
    if info.get("disordered_or_incomplete"):
        print(f"{info['disordered_or_incomplete']} entries have no usable ordered structure (structure left empty)")
    if info.get("note"):
        print(f"note: {info['note']}")
    counts = frame["crystal_system"].value_counts()
    print("per crystal system: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    labelled = int(frame["formation_energy_per_atom"].notna().sum())
    print(f"formation_energy_per_atom present for {labelled} of {len(frame)}")
    write_table(frame, out)
    write_manifest(
        out.parent,
        command=f"fetch {args.source}",
        arguments=manifest_arguments(args),
        extra={"rows": len(frame), "fetch": info},
        filename=f"{out.name}.manifest.json",
    )
    print(f"wrote {out} and {out.name}.manifest.json")
    print(f"please cite: {_CITATIONS[info.get('source', 'optimade')]}")
    return 0
