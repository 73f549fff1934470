"""``etal featurize PATH --out FILE``: crystal structures in, one tidy table row each out.

PATH is a folder of CIF files (searched recursively), a single ``.cif``, an ASE database
(``.db``), an extended XYZ file (``.extxyz`` / ``.xyz``) or a table with a ``structure``
column (e.g. from ``etal fetch``; CSV / Parquet / JSON lines). The output (CSV, or
Parquet for ``*.parquet``) has ``id, formula, crystal_system, spacegroup_number,
spacegroup``, the source's properties and the descriptors, and goes straight into
``etal bias OUT --group-col crystal_system --target-col <property>``. Needs the
``materials`` extra.
"""

from __future__ import annotations

import argparse
import hashlib
import warnings
from pathlib import Path

from ..errors import InputError

_EPILOG = """\
examples:
  etal featurize my_cifs/ --out features.csv
  etal featurize structures.db --out features.parquet --symprec 0.01
  etal featurize frames.extxyz --out features.csv --embeddings cgcnn.npy
  etal featurize jarvis.parquet --out jarvis_features.parquet --descriptors basic

then:
  etal bias features.csv --group-col crystal_system --target-col formation_energy_per_atom --id-col id
"""


def register(sub: argparse._SubParsersAction) -> None:
    from .common import plain_help

    parser = sub.add_parser(
        "featurize",
        help="crystal structures (CIF folder, ASE .db, extxyz) -> table with crystal systems and descriptors",
        description=plain_help(__doc__),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="CIF folder, .cif, ASE .db, .extxyz/.xyz, or a table with a 'structure' column")
    parser.add_argument("--out", required=True, metavar="FILE", help="output table: *.csv, *.csv.gz or *.parquet")
    parser.add_argument("--symprec", type=float, default=0.1, help="spglib distance tolerance in Å (default 0.1)")
    parser.add_argument(
        "--angle-tolerance", type=float, default=5.0, help="spglib angle tolerance in degrees (default 5)"
    )
    parser.add_argument(
        "--descriptors",
        choices=("auto", "magpie", "basic", "none"),
        default="auto",
        help="composition descriptors: magpie (needs matminer), basic (built in), auto (magpie if "
        "matminer is installed, else basic; default), none (no descriptors at all)",
    )
    parser.add_argument(
        "--embeddings",
        metavar="FILE",
        help="structure embeddings (CGCNN, ALIGNN, ...): a .npy array with one row per structure in "
        "reading order (sorted file paths / db ids / frames, skipped ones included), or a table "
        "with an id column and a vector column (see --embedding-col); become columns emb_0..",
    )
    parser.add_argument(
        "--embedding-col", default="embedding", help="column holding the vectors (default 'embedding')"
    )
    parser.add_argument(
        "--embedding-id-col", default="id", help="id column of an embedding table (default 'id')"
    )
    parser.add_argument(
        "--recompute-symmetry",
        action="store_true",
        help="for a table input: find the space group with spglib instead of keeping the table's",
    )
    parser.set_defaults(func=run)


def _input_hash(path: Path) -> str:
    """SHA-256 of a file, or of the sorted (relative path, content hash) list of a folder's CIFs."""
    from ..provenance import file_sha256

    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".cif"):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def run(args: argparse.Namespace) -> int:
    from ..materials.featurize import featurize_any
    from ..materials.tables import table_kind, write_table
    from ..provenance import write_manifest
    from .common import manifest_arguments

    out = Path(args.out)
    if table_kind(out) not in ("csv", "parquet"):
        raise InputError(f"--out {out}: name the output *.csv, *.csv.gz or *.parquet.")
    path = Path(args.path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped files and notes are printed below
        result = featurize_any(
            path,
            symprec=args.symprec,
            angle_tolerance=args.angle_tolerance,
            descriptors=args.descriptors,
            embeddings=args.embeddings,
            embedding_col=args.embedding_col,
            embedding_id_col=args.embedding_id_col,
            recompute_symmetry=args.recompute_symmetry,
        )
    for line in result.summary_lines():
        print(line)
    if result.n_read == 0:
        raise InputError(f"{path}: no structure could be featurized (all {result.n_found} skipped; reasons above).")
    write_table(result.frame, out)
    inputs = {str(path): _input_hash(path)}
    if args.embeddings:
        inputs[str(args.embeddings)] = _input_hash(Path(args.embeddings))
    write_manifest(
        out.parent,
        command="featurize",
        arguments=manifest_arguments(args),
        inputs=inputs,
        extra={
            "rows": result.n_read,
            "skipped": [{"id": s.id, "source": s.source, "reason": s.reason} for s in result.skipped],
            "descriptors": result.descriptors,
        },
        filename=f"{out.name}.manifest.json",
    )
    print(f"wrote {out} ({result.n_read} rows, {len(result.frame.columns)} columns) and {out.name}.manifest.json")
    return 0
