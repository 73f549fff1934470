"""Database loaders with an on-disk cache: JARVIS-DFT, Materials Project, OPTIMADE (OQMD, ...).

Each ``fetch_*`` function returns a tidy DataFrame, one row per material:

``id``, ``formula`` (reduced), ``crystal_system``, ``spacegroup_number`` (1..230),
``spacegroup`` (symbol, where the source gives one), ``formation_energy_per_atom``
(eV/atom), then the source's other scalar properties, and ``structure`` (etal's structure
JSON, see :func:`etal.materials.structures.structure_to_json`) unless
``include_structures=False``. Rows without a usable space group are dropped and counted in
``frame.attrs["etal_fetch"]["dropped"]``.

* JARVIS-DFT (:func:`fetch_jarvis`): ``jarvis.db.figshare.data(dataset)`` from
  jarvis-tools (``materials-full`` extra). Keeps JARVIS's names for other properties, e.g.
  ``bulk_modulus_kv`` and ``shear_modulus_gv`` (Voigt averages, GPa),
  ``optb88vdw_bandgap`` (eV), ``ehull`` (eV/atom). ``"na"`` becomes NaN.
* Materials Project (:func:`fetch_mp`): ``mp_api.client.MPRester`` summary search
  (``materials-full`` extra); API key from ``api_key=`` or the ``MP_API_KEY`` environment
  variable. Adds ``energy_above_hull`` (eV/atom), ``band_gap`` (eV), ``density`` (g/cm^3),
  ``volume`` (Å^3), ``nsites``, ``bulk_modulus_kv`` / ``shear_modulus_gv`` (Voigt, GPa, the
  same quantity as JARVIS's columns) and ``bulk_modulus_vrh`` / ``shear_modulus_vrh`` (GPa).
* OPTIMADE (:func:`fetch_optimade`): plain HTTP GETs with the standard library
  (``urllib``), following ``links.next`` page by page. Chosen over the ``optimade``
  client package because the REST API is a few lines to page through, it adds no
  dependency (pydantic, httpx), and one small network function is easy to replace in
  offline tests. Provider fields ``_<provider>_x`` become column ``x``; OQMD's
  ``_oqmd_delta_e`` and Alexandria's formation energy become
  ``formation_energy_per_atom``. The space group is the entry's ``space_group_it_number``
  where the provider gives it, else spglib on the returned structure (``materials``
  extra, ``symprec``).

Cache: ``cache_dir`` argument, else ``$ETAL_CACHE_DIR``, else ``~/.cache/etal``. One Parquet
file (JSON lines without pyarrow) per query, named ``<source>-<hash of the query>``, with a
``.meta.json`` beside it holding the query. ``refresh=True`` fetches again and overwrites.
API keys are never part of the key nor written anywhere.

The network calls are the small functions :func:`_download_jarvis`,
:func:`_download_mp` and :func:`_http_get_json`; everything else works offline.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError, require
from ..params import check_int
from ..provenance import atomic_write_bytes, atomic_write_json
from ._tidy import FetchError, _as_float, _finish, _is_missing, _scalar_columns
from .element_data import parse_formula, reduced_formula
from .optimade import normalize_optimade
from .structures import structure_to_json

__all__ = [
    "CACHE_ENV",
    "JARVIS_DATASETS",
    "OPTIMADE_PROVIDERS",
    "FetchError",
    "cache_path",
    "default_cache_dir",
    "fetch_jarvis",
    "fetch_mp",
    "fetch_optimade",
    "normalize_jarvis",
    "normalize_mp",
    "normalize_optimade",
]

#: Environment variable naming the cache folder.
CACHE_ENV = "ETAL_CACHE_DIR"
#: Bumped whenever the normalised columns change, so old cache files are not reused.
SCHEMA_VERSION = 1
#: JARVIS-DFT 3-D datasets of jarvis-tools (``dft_3d_2021`` is the paper's CFID 2021 release).
JARVIS_DATASETS: tuple[str, ...] = ("dft_3d", "dft_3d_2022", "dft_3d_2021")
#: OPTIMADE base URLs (the part before ``/v1``); ``base_url=`` reaches any other provider.
OPTIMADE_PROVIDERS: dict[str, str] = {
    "oqmd": "https://oqmd.org/optimade",
    "mp": "https://optimade.materialsproject.org",
    "alexandria": "https://alexandria.icams.rub.de/pbe",
    "jarvis": "https://jarvis.nist.gov/optimade/jarvisdft",
    "cod": "https://www.crystallography.net/cod/optimade",
    "mc3d": "https://aiida.materialscloud.org/mc3d/optimade",
    "odbx": "https://optimade.odbx.science",
}
# --------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$ETAL_CACHE_DIR`` if set, else ``~/.cache/etal``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "etal"


def _query_key(source: str, query: Mapping[str, Any]) -> str:
    text = json.dumps({"source": source, "query": query, "schema": SCHEMA_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cache_path(source: str, query: Mapping[str, Any], cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache file of a query (``.parquet``, or ``.jsonl`` without pyarrow)."""
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    suffix = ".parquet" if _has_pyarrow() else ".jsonl"
    return folder / f"{source}-{_query_key(source, query)}{suffix}"


def _has_pyarrow() -> bool:
    try:
        require("pyarrow", "parquet", "Parquet cache")
        return True
    except ImportError:
        return False


def _read_cache(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path, engine="pyarrow")
        return pd.read_json(path, lines=True, dtype=False)
    except Exception as exc:  # a damaged cache file is refetched, not fatal
        warnings.warn(f"ignoring unreadable cache file {path} ({exc}); fetching again", UserWarning, stacklevel=3)
        return None


def _write_cache(path: Path, frame: pd.DataFrame, source: str, query: Mapping[str, Any], info: Mapping[str, Any]) -> None:
    if path.suffix == ".parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, engine="pyarrow")
        atomic_write_bytes(path, buffer.getvalue())
    else:
        atomic_write_bytes(path, frame.to_json(orient="records", lines=True).encode("utf-8"))
    atomic_write_json(
        path.with_name(path.name.rsplit(".", 1)[0] + ".meta.json"),
        {
            "source": source,
            "query": dict(query),
            "schema": SCHEMA_VERSION,
            "rows": len(frame),
            "info": dict(info),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def _cached(
    source: str,
    query: Mapping[str, Any],
    build: Callable[[], tuple[pd.DataFrame, dict[str, Any]]],
    *,
    cache_dir: str | os.PathLike | None,
    refresh: bool,
    include_structures: bool,
) -> pd.DataFrame:
    """The normalised frame of ``query``: from the cache, or from ``build()`` (then cached)."""
    path = cache_path(source, query, cache_dir)
    frame = None if refresh else _read_cache(path)
    from_cache = frame is not None
    info: dict[str, Any] = {}
    if frame is None:
        frame, info = build()
        _write_cache(path, frame, source, query, info)
    else:
        meta = path.with_name(path.name.rsplit(".", 1)[0] + ".meta.json")
        try:
            info = json.loads(meta.read_text()).get("info", {})
        except (OSError, ValueError):
            info = {}
    if not include_structures and "structure" in frame.columns:
        frame = frame.drop(columns=["structure"])
    frame.attrs["etal_fetch"] = {
        "source": source,
        "query": dict(query),
        "cache_file": str(path),
        "from_cache": from_cache,
        **info,
    }
    return frame


# --------------------------------------------------------------------------- JARVIS


def _download_jarvis(dataset: str) -> list[dict[str, Any]]:
    """Network: the JARVIS-DFT records of ``dataset`` via jarvis-tools (figshare download)."""
    require("jarvis", "materials-full", "Fetching JARVIS-DFT")
    figshare = require("jarvis.db.figshare", "materials-full", "Fetching JARVIS-DFT")
    try:
        return list(figshare.data(dataset))
    except Exception as exc:
        raise FetchError(
            f"downloading JARVIS-DFT {dataset!r} failed: {' '.join(str(exc).split())}. Check the "
            f"internet connection (jarvis-tools downloads from figshare.com) and try again."
        ) from None


def _jarvis_structure(atoms: Any) -> str | None:
    if not isinstance(atoms, Mapping):
        return None
    try:
        return structure_to_json(
            atoms["lattice_mat"], atoms["elements"], atoms["coords"], cartesian=bool(atoms.get("cartesian", False))
        )
    except (KeyError, TypeError, ValueError):
        return None


def normalize_jarvis(records: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Tidy frame (see the module docstring) and info from raw JARVIS-DFT records."""
    if not records:
        raise FetchError("JARVIS-DFT returned no records.")
    missing_id = [k for k, r in enumerate(records) if _is_missing(r.get("jid"))]
    if missing_id:
        raise FetchError(f"JARVIS-DFT records without a 'jid' at positions {missing_id[:5]}; the download looks damaged.")
    formulas = []
    for record in records:
        formula = record.get("formula")
        if _is_missing(formula) and isinstance(record.get("atoms"), Mapping):
            elements = record["atoms"].get("elements", [])
            formula = reduced_formula({e: float(elements.count(e)) for e in set(elements)}) if elements else None
        formulas.append(None if _is_missing(formula) else str(formula))
    rows = {
        "id": [r["jid"] for r in records],
        "formula": formulas,
        "spacegroup_number": [_as_float(r.get("spg_number")) for r in records],
        "spacegroup": [None if _is_missing(r.get("spg_symbol")) else str(r.get("spg_symbol")) for r in records],
        "formation_energy_per_atom": [_as_float(r.get("formation_energy_peratom")) for r in records],
    }
    used = {"jid", "formula", "spg_number", "spg_symbol", "formation_energy_peratom", "atoms", "crys"}
    extra = _scalar_columns(records, used)
    structures = [_jarvis_structure(r.get("atoms")) for r in records]
    return _finish(rows, extra, structures)


def fetch_jarvis(
    dataset: str = "dft_3d",
    *,
    cache_dir: str | os.PathLike | None = None,
    refresh: bool = False,
    include_structures: bool = True,
) -> pd.DataFrame:
    """JARVIS-DFT 3-D materials as a tidy DataFrame (cached; see the module docstring).

    ``dataset``: ``dft_3d`` (latest), ``dft_3d_2022`` or ``dft_3d_2021`` (the CFID 2021
    release the ET-AL paper used). Needs jarvis-tools (``materials-full`` extra) and the
    internet unless the query is cached.
    """
    if dataset not in JARVIS_DATASETS:
        raise InputError(f"unknown JARVIS dataset {dataset!r}; choose one of {', '.join(JARVIS_DATASETS)}.")
    return _cached(
        "jarvis",
        {"dataset": dataset},
        lambda: normalize_jarvis(_download_jarvis(dataset)),
        cache_dir=cache_dir,
        refresh=refresh,
        include_structures=include_structures,
    )


# --------------------------------------------------------------------------- Materials Project

_MP_FIELDS = (
    "material_id", "formula_pretty", "symmetry", "formation_energy_per_atom", "energy_above_hull",
    "band_gap", "density", "volume", "nsites", "bulk_modulus", "shear_modulus", "structure",
)  # fmt: skip


def _mp_api_key(api_key: str | None) -> str:
    key = api_key or os.environ.get("MP_API_KEY", "").strip()
    if not key:
        raise InputError(
            "the Materials Project needs an API key, and none was given. Get one at "
            "https://next-gen.materialsproject.org/api (log in, copy 'API key'), then set it "
            "in the shell: export MP_API_KEY=your_key (Windows: set MP_API_KEY=your_key), "
            "or pass api_key= in Python."
        )
    return key


def _download_mp(api_key: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Network: Materials Project summary documents (plain dicts) matching ``query``."""
    require("mp_api", "materials-full", "Fetching from the Materials Project")
    client = require("mp_api.client", "materials-full", "Fetching from the Materials Project")
    try:
        with client.MPRester(api_key, use_document_model=False, mute_progress_bars=True) as rester:
            docs = rester.materials.summary.search(**query, fields=list(_MP_FIELDS))
    except Exception as exc:
        raise FetchError(
            f"Materials Project query {dict(query)} failed: {' '.join(str(exc).split())}. Check "
            f"the API key (MP_API_KEY), the query and the internet connection."
        ) from None
    return [dict(doc) if isinstance(doc, Mapping) else doc.model_dump() for doc in docs]


def _enum_text(value: Any) -> Any:
    return getattr(value, "value", value)


def _mp_structure(structure: Any) -> str | None:
    """etal structure JSON from a pymatgen Structure dict (or object), without pymatgen."""
    if structure is None:
        return None
    if hasattr(structure, "as_dict"):
        structure = structure.as_dict()
    try:
        sites = structure["sites"]
        ordered = all(len(s["species"]) == 1 and abs(float(s["species"][0].get("occu", 1)) - 1) < 1e-8 for s in sites)
        if not ordered:
            return json.dumps(structure, separators=(",", ":"), default=str)
        return structure_to_json(
            structure["lattice"]["matrix"], [s["species"][0]["element"] for s in sites], [s["abc"] for s in sites]
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def normalize_mp(docs: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Tidy frame (see the module docstring) and info from Materials Project summary docs."""
    if not docs:
        raise FetchError("the Materials Project query matched no materials; widen the query.")

    def symmetry(doc: Mapping[str, Any], key: str) -> Any:
        sym = doc.get("symmetry") or {}
        if not isinstance(sym, Mapping):
            sym = getattr(sym, "__dict__", {})
        return _enum_text(sym.get(key))

    def modulus(doc: Mapping[str, Any], name: str, kind: str) -> float:
        value = doc.get(name)
        return _as_float(value.get(kind)) if isinstance(value, Mapping) else math.nan

    rows = {
        "id": [str(_enum_text(d.get("material_id"))) for d in docs],
        "formula": [d.get("formula_pretty") for d in docs],
        "spacegroup_number": [_as_float(symmetry(d, "number")) for d in docs],
        "spacegroup": [symmetry(d, "symbol") for d in docs],
        "formation_energy_per_atom": [_as_float(d.get("formation_energy_per_atom")) for d in docs],
        "energy_above_hull": [_as_float(d.get("energy_above_hull")) for d in docs],
        "band_gap": [_as_float(d.get("band_gap")) for d in docs],
        "density": [_as_float(d.get("density")) for d in docs],
        "volume": [_as_float(d.get("volume")) for d in docs],
        "nsites": [_as_float(d.get("nsites")) for d in docs],
        "bulk_modulus_kv": [modulus(d, "bulk_modulus", "voigt") for d in docs],
        "shear_modulus_gv": [modulus(d, "shear_modulus", "voigt") for d in docs],
        "bulk_modulus_vrh": [modulus(d, "bulk_modulus", "vrh") for d in docs],
        "shear_modulus_vrh": [modulus(d, "shear_modulus", "vrh") for d in docs],
    }
    structures = [_mp_structure(d.get("structure")) for d in docs]
    return _finish(rows, {}, structures)


def fetch_mp(
    elements: Sequence[str] | str | None = None,
    *,
    chemsys: str | None = None,
    exclude_elements: Sequence[str] | str | None = None,
    api_key: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    refresh: bool = False,
    include_structures: bool = True,
) -> pd.DataFrame:
    """Materials Project materials containing all of ``elements`` (e.g. ``["Fe", "O"]``) or
    of chemical system ``chemsys`` (e.g. ``"Fe-O"``), as a tidy DataFrame (cached).

    API key: ``api_key`` or ``$MP_API_KEY`` (needed only when the query is not cached).
    """
    query: dict[str, Any] = {}
    for name, value in (("elements", elements), ("exclude_elements", exclude_elements)):
        if value:
            symbols = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
            for symbol in symbols:
                parse_formula(symbol)  # validates the symbol
            query[name] = sorted(symbols)
    if chemsys:
        query["chemsys"] = chemsys.strip()
    if not query.get("elements") and not query.get("chemsys"):
        raise InputError("fetching from the Materials Project needs elements= (e.g. Fe,O) or chemsys= (e.g. Fe-O).")

    def build() -> tuple[pd.DataFrame, dict[str, Any]]:
        key = _mp_api_key(api_key)
        return normalize_mp(_download_mp(key, query))

    return _cached("mp", query, build, cache_dir=cache_dir, refresh=refresh, include_structures=include_structures)


# --------------------------------------------------------------------------- OPTIMADE


def _http_get_json(url: str, timeout: float = 60.0) -> dict[str, Any]:
    """Network: GET ``url`` and parse the JSON body (also of an HTTP error response, whose
    OPTIMADE ``errors`` list is reported by the caller)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "etal"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return json.loads(body)
        except ValueError:
            raise FetchError(f"GET {url} failed: HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FetchError(f"GET {url} failed: {getattr(exc, 'reason', exc)}. Check the internet connection and the URL.") from None
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"GET {url} did not return JSON; is it an OPTIMADE base URL?") from None


def _optimade_pages(first_url: str, max_entries: int | None) -> list[dict[str, Any]]:
    """All entries of a query, following ``links.next`` (stops at ``max_entries``)."""
    entries: list[dict[str, Any]] = []
    url: str | None = first_url
    visited = set()
    while url and url not in visited:
        visited.add(url)
        page = _http_get_json(url)
        if not isinstance(page, Mapping):
            raise FetchError(f"GET {url} returned {type(page).__name__}, not an OPTIMADE response object.")
        if page.get("errors"):
            details = "; ".join(
                " ".join(str(e.get(k, "")) for k in ("status", "title", "detail") if e.get(k)) for e in page["errors"]
            )
            raise FetchError(f"the OPTIMADE server answered {url} with an error: {details}. Check the filter= syntax.")
        data = page.get("data")
        if not isinstance(data, list):
            raise FetchError(f"GET {url}: the response has no 'data' list; is this an OPTIMADE structures endpoint?")
        entries.extend(data)
        if max_entries is not None and len(entries) >= max_entries:
            return entries[:max_entries]
        links = page.get("links") or {}
        nxt = links.get("next") if isinstance(links, Mapping) else None
        url = nxt.get("href") if isinstance(nxt, Mapping) else nxt
        if not data:
            break
    return entries


def fetch_optimade(
    provider: str = "oqmd",
    *,
    filter: str,
    base_url: str | None = None,
    max_entries: int | None = None,
    page_limit: int = 100,
    energy_field: str | None = None,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    cache_dir: str | os.PathLike | None = None,
    refresh: bool = False,
    include_structures: bool = True,
) -> pd.DataFrame:
    """Structures matching an OPTIMADE ``filter`` (e.g. ``'elements HAS ALL "Co","Al" AND
    nelements=2'``) from ``provider`` (a name in :data:`OPTIMADE_PROVIDERS`, or any name with
    ``base_url``), as a tidy DataFrame (cached)."""
    provider = provider.strip().lower()
    if base_url is None:
        if provider not in OPTIMADE_PROVIDERS:
            raise InputError(
                f"unknown OPTIMADE provider {provider!r}; choose one of {', '.join(OPTIMADE_PROVIDERS)} "
                f"or give its base URL with base_url=."
            )
        base_url = OPTIMADE_PROVIDERS[provider]
    if not filter or not filter.strip():
        raise InputError("an OPTIMADE query needs filter=, e.g. 'elements HAS ALL \"Co\",\"Al\" AND nelements=2'.")
    check_int("max_entries", max_entries, low=1, allow_none=True)
    check_int("page_limit", page_limit, low=1)
    base = base_url.rstrip("/")
    base = base if base.endswith("/v1") else base + "/v1"
    url = f"{base}/structures?" + urllib.parse.urlencode({"filter": filter.strip(), "page_limit": page_limit})
    query = {
        "provider": provider,
        "url": url,
        "max_entries": max_entries,
        "energy_field": energy_field,
        "symprec": symprec,
        "angle_tolerance": angle_tolerance,
    }

    def build() -> tuple[pd.DataFrame, dict[str, Any]]:
        entries = _optimade_pages(url, max_entries)
        return normalize_optimade(
            entries, provider=provider, energy_field=energy_field, symprec=symprec, angle_tolerance=angle_tolerance
        )

    return _cached("optimade", query, build, cache_dir=cache_dir, refresh=refresh, include_structures=include_structures)
