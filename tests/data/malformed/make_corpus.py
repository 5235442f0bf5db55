"""Write the malformed-input corpus of this folder (run from the repository root).

``python tests/data/malformed/make_corpus.py`` rewrites every case file and ``cases.yaml``,
the index that ``tests/test_malformed.py`` runs: for each file, the command to run it with
and the words the one error line must hold (the field, or the line and column).  The base
files (``base.yaml``, ``base-exchange.yaml``, ``base-events.yaml``, ``base-plan.json``) are
valid; every case breaks one thing of one of them.  ``base-plan.json`` is planned here with
a fixed budget, so it is the same on every machine.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# Coordinates of towns of the bundled regional network (nodes of geodata/, from GeoNames).
ORIKHIV = [35.7833, 47.5761]
POLOHY = [36.2546, 47.4787]
ZAPORIZHZHIA = [35.1171, 47.8517]
MELITOPOL = [35.382, 46.8473]
VASYLIVKA = [35.2821, 47.4422]
TOKMAK_BOX = [[35.65, 47.2], [35.77, 47.2], [35.77, 47.31], [35.65, 47.31]]

BASE: dict[str, Any] = {
    "name": "malformed-base",
    "description": "A small valid scenario on the bundled network; every case breaks one thing.",
    "ceasefire": {
        "windows": [
            {"start": "2022-03-16T08:00:00+02:00", "end": "2022-03-16T16:00:00+02:00"},
            {"start": "2022-03-17T08:00:00+02:00", "end": "2022-03-17T16:00:00+02:00"},
        ],
        "crossing_points": [
            {"id": "cp1", "location": VASYLIVKA, "delay_min": 20, "radius_m": 3000}
        ],
    },
    "hazards": [{"id": "tokmak", "kind": "risk", "factor": 2, "polygon": TOKMAK_BOX}],
    "evacuation": {
        "assembly_points": [
            {
                "id": "orikhiv",
                "name": "Orikhiv",
                "location": ORIKHIV,
                "people": {"general": 40, "wounded": 2},
            },
            {"id": "polohy", "location": POLOHY, "people": {"general": 30, "children": 5}},
        ],
        "reception_centres": [
            {"id": "zap", "name": "Zaporizhzhia", "location": ZAPORIZHZHIA, "capacity": 500}
        ],
        "fleet": [
            {
                "type": "bus",
                "count": 1,
                "seats": 40,
                "groups": ["general", "children"],
                "start": "zap",
            },
            {
                "type": "ambulance",
                "count": 1,
                "seats": 4,
                "groups": ["wounded"],
                "start": "zap",
                "available_from": "2022-03-16T09:00:00+02:00",
            },
        ],
    },
    "disruptions": {
        "window_cut": {"probability": 0.2, "max_hours": 2},
        "breakdown": {"probability": 0.05},
    },
}

EXCHANGE: dict[str, Any] = {
    "name": "malformed-exchange",
    "ceasefire": {
        "windows": [{"start": "2022-09-21T07:00:00+03:00", "end": "2022-09-21T19:00:00+03:00"}]
    },
    "exchange": {
        "parties": ["ua", "ru"],
        "facilities": [
            {"id": "zap-camp", "party": "ua", "location": ZAPORIZHZHIA, "buses": 2, "seats": 40},
            {"id": "mel-sizo", "party": "ru", "location": MELITOPOL, "buses": 2, "seats": 40},
        ],
        "detainees": {
            "ua": {"counts": {"zap-camp": {"civilian": 20}}},
            "ru": {"counts": {"mel-sizo": {"civilian": 20}}},
        },
        "exchange_points": [
            {
                "id": "vasylivka",
                "location": VASYLIVKA,
                "handovers_per_hour": 60,
                "max_per_event": 40,
            }
        ],
        "terms": {"ratio": "1:1", "parity": "exact", "mediator_dates": ["2022-09-21"]},
    },
}

EVENTS: dict[str, Any] = {"events": [{"at": "2022-03-16T11:00:00+02:00", "close_crossing": "cp1"}]}

CASES: list[dict[str, Any]] = []


def case(
    name: str, expect: str, base: dict[str, Any] | None = None, command: str = "plan"
) -> Callable:
    """Register a scenario (or events) case made by a function that edits a copy of ``base``."""

    def deco(fn: Callable[[dict[str, Any]], Any]) -> Callable:
        data = copy.deepcopy(BASE if base is None else base)
        fn(data)
        ext = "yaml"
        CASES.append({"file": f"{name}.{ext}", "command": command, "expect": expect, "data": data})
        return fn

    return deco


def raw(name: str, text: str | bytes, expect: str, command: str = "plan") -> None:
    """Register a case given as the file's text."""
    CASES.append({"file": name, "command": command, "expect": expect, "text": text})


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting a dotted path (list indices as numbers)."""

    def edit(d: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = d
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = d
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        if isinstance(node, list):
            del node[int(keys[-1])]
        else:
            del node[keys[-1]]

    return edit


NAN, INF = float("nan"), float("inf")
AP0, FL0, CP0 = "evacuation.assembly_points.0", "evacuation.fleet.0", "ceasefire.crossing_points.0"

# --- numbers that are not finite, out of range, of the wrong kind (field = the expectation)
VALUE_CASES: list[tuple[str, str, Any]] = [
    ("nan-people", f"{AP0}.people.general", NAN),
    ("inf-people", f"{AP0}.people.wounded", INF),
    ("nan-seats", f"{FL0}.seats", NAN),
    ("inf-count", f"{FL0}.count", INF),
    ("nan-priority", "evacuation.priorities.wounded", NAN),
    ("nan-speed", "network.speeds_kph.primary", NAN),
    ("inf-stop-min", "evacuation.stop_min", INF),
    ("neg-inf-unload", "evacuation.unload_min", -INF),
    ("nan-boarding", "evacuation.boarding_s_per_person", NAN),
    ("inf-wait-loaded", "evacuation.max_wait_loaded_min", INF),
    ("inf-crossing-delay", f"{CP0}.delay_min", INF),
    ("nan-vehicles-per-hour", f"{CP0}.vehicles_per_hour", NAN),
    ("inf-radius", f"{CP0}.radius_m", INF),
    ("nan-factor", "hazards.0.factor", NAN),
    ("inf-capacity", "evacuation.reception_centres.0.capacity", INF),
    ("nan-longitude", f"{AP0}.location.0", NAN),
    ("inf-latitude", f"{AP0}.location.1", INF),
    ("nan-disruption", "disruptions.window_cut.probability", NAN),
    ("huge-count", f"{FL0}.count", 10**12),
    ("huge-people", f"{AP0}.people.general", 10**12),
    ("huge-seats", f"{FL0}.seats", 100_000),
    ("negative-seats", f"{FL0}.seats", -1),
    ("negative-count", f"{FL0}.count", -3),
    ("negative-capacity", "evacuation.reception_centres.0.capacity", -1),
    ("negative-priority", "evacuation.priorities.general", -1),
    ("zero-priority", "evacuation.priorities.children", 0),
    ("zero-speed", "network.speeds_kph.primary", 0),
    ("negative-speed", "network.speeds_kph.trunk", -50),
    ("huge-speed", "network.speeds_kph.motorway", 5000),
    ("negative-delay", f"{CP0}.delay_min", -5),
    ("huge-delay", f"{CP0}.delay_min", 10**7),
    ("negative-stop-min", "evacuation.stop_min", -1),
    ("huge-unload", "evacuation.unload_min", 10**6),
    ("huge-boarding", "evacuation.boarding_s_per_person", 1e9),
    ("negative-wait-loaded", "evacuation.max_wait_loaded_min", -1),
    ("zero-radius", f"{CP0}.radius_m", 0),
    ("zero-vehicles-per-hour", f"{CP0}.vehicles_per_hour", 0),
    ("factor-below-one", "hazards.0.factor", 0.5),
    ("huge-factor", "hazards.0.factor", 1e6),
    ("negative-max-snap", "network.max_snap_m", -1),
    ("huge-max-snap", "network.max_snap_m", 1e9),
    ("fractional-people", f"{AP0}.people.children", 2.5),
    ("fractional-count", f"{FL0}.count", 1.5),
    ("probability-above-one", "disruptions.breakdown.probability", 1.5),
    ("negative-max-hours", "disruptions.window_cut.max_hours", -2),
    ("huge-geonameid", f"{AP0}.location", {"geonameid": 10**15}),
    ("string-count", f"{FL0}.count", "ten"),
    ("list-seats", f"{FL0}.seats", [40]),
    ("list-people", f"{AP0}.people", [40, 2]),
    ("string-capacity", "evacuation.reception_centres.0.capacity", "lots"),
    ("bool-location", f"{AP0}.location", True),
    ("dict-window", "ceasefire.windows.0", "all day"),
]
for _name, _field, _value in VALUE_CASES:
    case(_name, _field)(put(_field, _value))

# --- households (given instead of people, or with people that must agree)
case("households-disagree", "people: disagrees with households")(
    put(f"{AP0}.households", {"sizes": {2: 21}})
)
case("households-file-and-count", f"{AP0}.households")(
    put(f"{AP0}.households", {"file": "h.csv", "count": 3})
)
case("households-negative-size", f"{AP0}.households.sizes.2")(
    put(f"{AP0}.households", {"sizes": {2: -1}})
)
case("households-missing-file", f"{AP0}.households.file")(
    put(f"{AP0}.households", {"file": "missing.csv"})
)

# --- times without a timezone, wrong or absurd times
TIME_CASES: list[tuple[str, str, Any]] = [
    ("naive-window-start", "ceasefire.windows.0.start", "2022-03-16T08:00:00"),
    ("naive-window-end", "ceasefire.windows.1.end", "2022-03-17 16:00"),
    ("naive-available-from", f"{FL0}.available_from", "2022-03-16T09:00:00"),
    ("naive-closed-from", f"{CP0}.closed_from", "2022-03-16T12:00"),
    ("naive-active-from", "hazards.0.active_from", "2022-03-16T12:00:00"),
    ("naive-expect-time", "expect.0.wounded_out_by", "2022-03-17T19:00:00"),
    ("date-only-window", "ceasefire.windows.0", "2022-03-16"),
    ("word-window-start", "ceasefire.windows.0.start", "tomorrow morning"),
    ("end-before-start", "ceasefire.windows.0", "2022-03-15T08:00:00+02:00"),
]
for _name, _field, _value in TIME_CASES:
    target = _field
    if _name in {"date-only-window"}:
        target = "ceasefire.windows.0.start"
    if _name == "end-before-start":
        target = "ceasefire.windows.0.end"
    if _name == "naive-expect-time":
        case(_name, _field)(put("expect", [{"wounded_out_by": _value}]))
        continue
    case(_name, _field)(put(target, _value))


@case("windows-overlap", "windows overlap")
def _overlap(d: dict[str, Any]) -> None:
    d["ceasefire"]["windows"][1]["start"] = "2022-03-16T12:00:00+02:00"


@case("window-years-long", "ceasefire.windows")
def _years(d: dict[str, Any]) -> None:
    d["ceasefire"]["windows"][1]["end"] = "2025-03-17T16:00:00+02:00"


@case("naive-yaml-timestamp", "ceasefire.windows.0.start")
def _naive_yaml(d: dict[str, Any]) -> None:
    from datetime import datetime

    d["ceasefire"]["windows"][0]["start"] = datetime(
        2022, 3, 16, 8, 0
    )  # an unquoted YAML timestamp


# --- coordinates
COORD_CASES: list[tuple[str, str, Any, str]] = [
    ("swapped-assembly", f"{AP0}.location", ORIKHIV[::-1], "swapped"),
    ("swapped-reception", "evacuation.reception_centres.0.location", ZAPORIZHZHIA[::-1], "swapped"),
    ("swapped-fleet-start", f"{FL0}.start", ZAPORIZHZHIA[::-1], "swapped"),
    ("site-in-poland", f"{AP0}.location", [21.0, 52.2], "from the nearest road"),
    (
        "site-at-sea",
        "evacuation.reception_centres.0.location",
        [35.5, 45.9],
        "from the nearest road",
    ),
    ("latitude-95", f"{AP0}.location", [35.0, 95.0], "latitude"),
    ("longitude-200", f"{AP0}.location", [200.0, 47.0], "longitude"),
    ("three-numbers", f"{AP0}.location", [35.0, 47.0, 100.0], ""),
    ("location-string", f"{AP0}.location", "Orikhiv", ""),
    ("unknown-place", f"{AP0}.location", {"place": "Atlantis-on-Dnipro"}, "unknown place"),
    ("empty-location", f"{AP0}.location", [], ""),
    ("swapped-crossing", f"{CP0}.location", VASYLIVKA[::-1], "swapped"),
]
for _name, _field, _value, _words in COORD_CASES:
    case(_name, _field)(put(_field, _value))


@case("swapped-hazard", "hazards.0")
def _swap_hazard(d: dict[str, Any]) -> None:
    d["hazards"][0]["polygon"] = [p[::-1] for p in TOKMAK_BOX]


@case("swapped-frontline", "frontline")
def _swap_front(d: dict[str, Any]) -> None:
    d["frontline"] = {"coordinates": [[47.6, 35.0], [47.6, 36.5]]}


@case("bbox-reversed", "network")
def _bbox(d: dict[str, Any]) -> None:
    d["network"] = {"bbox": [36.0, 47.0, 35.0, 48.0]}


@case("two-point-hazard", "hazards.0")
def _two_points(d: dict[str, Any]) -> None:
    d["hazards"][0]["polygon"] = TOKMAK_BOX[:2]


@case("off-road-with-small-max-snap", f"{AP0}.location")
def _small_snap(d: dict[str, Any]) -> None:
    d["network"] = {"source": "regional", "max_snap_m": 1000}
    d["evacuation"]["assembly_points"][0]["location"] = [
        35.83,
        47.60,
    ]  # ~4.5 km north-east of Orikhiv


# --- geometry and layer files
BOWTIE = [[35.65, 47.2], [35.77, 47.31], [35.77, 47.2], [35.65, 47.31]]
case("self-intersecting-polygon", "hazards.0.polygon")(put("hazards.0.polygon", BOWTIE))


@case("self-intersecting-geometry", "hazards.0.geometry")
def _bow_geom(d: dict[str, Any]) -> None:
    d["hazards"][0] = {
        "id": "bow",
        "kind": "closed",
        "geometry": {"type": "Polygon", "coordinates": [[*BOWTIE, BOWTIE[0]]]},
    }


@case("point-geometry", "hazards.0")
def _point_geom(d: dict[str, Any]) -> None:
    d["hazards"][0] = {
        "id": "pt",
        "kind": "closed",
        "geometry": {"type": "Point", "coordinates": VASYLIVKA},
    }


@case("garbage-geometry", "hazards.0.geometry")
def _garbage_geom(d: dict[str, Any]) -> None:
    d["hazards"][0] = {
        "id": "g",
        "kind": "closed",
        "geometry": {"type": "Polygon", "coordinates": "here"},
    }


@case("geometry-in-metres", "hazards.0.geometry")
def _geom_m(d: dict[str, Any]) -> None:
    ring = [[3980000, 6040000], [3990000, 6040000], [3990000, 6050000], [3980000, 6040000]]
    d["hazards"][0] = {
        "id": "m",
        "kind": "closed",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def _fc(features: list[dict[str, Any]], crs: str | None = None) -> str:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(doc)


def _poly(ring: list[list[float]], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }


METRES = [
    [3980000.0, 6040000.0],
    [3990000.0, 6040000.0],
    [3990000.0, 6050000.0],
    [3980000.0, 6050000.0],
]
LAYERS: dict[str, str] = {
    "layers/metres-no-crs.geojson": _fc([_poly(METRES)]),
    "layers/bogus-crs.geojson": _fc([_poly(TOKMAK_BOX)], crs="EPSG:999999"),
    "layers/empty.geojson": _fc([]),
    "layers/not-geojson.geojson": "this is not a layer\n",
    "layers/bowtie.geojson": _fc([_poly(BOWTIE)]),
    "layers/points.geojson": _fc(
        [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": VASYLIVKA},
            }
        ]
    ),
    "layers/bad-kind.geojson": _fc([_poly(TOKMAK_BOX, kind="shelled")]),
    "layers/bad-factor.geojson": _fc([_poly(TOKMAK_BOX, kind="risk", factor="abc")]),
    "layers/frontline-metres.geojson": _fc(
        [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "LineString", "coordinates": METRES[:2]},
            }
        ]
    ),
    "layers/garbage.graphml": "<graphml><oops",
}
for _file, _words in [
    ("metres-no-crs", "declares no CRS"),
    ("bogus-crs", "not known"),
    ("empty", "no features"),
    ("not-geojson", "cannot read"),
    ("bowtie", "not a valid polygon"),
    ("points", "Polygon"),
    ("bad-kind", "kind"),
    ("bad-factor", "factor"),
]:
    case(f"layer-{_file}", "hazards.0.file")(
        put("hazards.0", {"kind": "closed", "file": f"layers/{_file}.geojson"})
    )
case("layer-missing", "hazards.0.file")(
    put("hazards.0", {"kind": "closed", "file": "layers/nowhere.geojson"})
)
case("frontline-file-empty", "frontline.file")(put("frontline", {"file": "layers/empty.geojson"}))
case("frontline-file-metres", "frontline.file")(
    put("frontline", {"file": "layers/frontline-metres.geojson"})
)
case("network-file-missing", "network.source")(put("network", {"source": "nowhere.osm"}))
case("network-file-garbage", "network.source")(put("network", {"source": "layers/garbage.graphml"}))

# --- types, structure, names
STRUCT_CASES: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("unknown-group", f"{FL0}.groups.0", put(f"{FL0}.groups", ["pets"])),
    ("no-groups", f"{FL0}.groups", put(f"{FL0}.groups", [])),
    ("unknown-start", f"{FL0}.start", put(f"{FL0}.start", "nowhere")),
    ("duplicate-site-id", "evacuation", put("evacuation.reception_centres.0.id", "orikhiv")),
    ("duplicate-vehicle-type", "evacuation", put("evacuation.fleet.1.type", "bus")),
    (
        "duplicate-crossing-id",
        "ceasefire",
        lambda d: d["ceasefire"]["crossing_points"].append(
            dict(d["ceasefire"]["crossing_points"][0])
        ),
    ),
    ("unknown-top-level-key", "evacuaton", put("evacuaton", {})),
    ("unknown-site-key", f"{AP0}.peeple", put(f"{AP0}.peeple", {"general": 3})),
    ("missing-ceasefire", "ceasefire", drop("ceasefire")),
    ("missing-windows", "ceasefire.windows", drop("ceasefire.windows")),
    ("empty-windows", "ceasefire.windows", put("ceasefire.windows", [])),
    ("missing-fleet", "evacuation.fleet", drop("evacuation.fleet")),
    ("empty-receptions", "evacuation.reception_centres", put("evacuation.reception_centres", [])),
    ("empty-assembly-points", "evacuation", put("evacuation.assembly_points", [])),
    (
        "unknown-priority-group",
        "evacuation.priorities.pets",
        put("evacuation.priorities", {"pets": 3}),
    ),
    ("unknown-hazard-kind", "hazards.0.kind", put("hazards.0.kind", "shelled")),
    ("risk-without-factor", "hazards.0", drop("hazards.0.factor")),
    ("closed-with-factor", "hazards.0", put("hazards.0.kind", "closed")),
    ("polygon-and-file", "hazards.0", put("hazards.0.file", "layers/bowtie.geojson")),
    (
        "frontline-two-sources",
        "frontline",
        put("frontline", {"coordinates": [ORIKHIV, POLOHY], "bundled": True}),
    ),
    ("no-sections", "evacuation", lambda d: [d.pop(k) for k in ("evacuation", "disruptions")]),
    ("missing-seats", f"{FL0}.seats", drop(f"{FL0}.seats")),
    ("missing-people", f"{AP0}.people", drop(f"{AP0}.people")),
    (
        "every-count-zero",
        "evacuation.fleet",
        lambda d: [v.update(count=0) for v in d["evacuation"]["fleet"]],
    ),
    (
        "too-many-vehicles",
        "evacuation.fleet",
        lambda d: [v.update(count=6_000) for v in d["evacuation"]["fleet"]],
    ),
    (
        "too-many-people",
        "evacuation.assembly_points",
        lambda d: d["evacuation"]["assembly_points"].extend(
            {"id": f"p{k}", "location": ORIKHIV, "people": {"general": 1_000_000}}
            for k in range(11)
        ),
    ),
    ("name-5000-chars", "name", put("name", "x" * 5000)),
    ("long-description", "description", put("description", "y" * 20_000)),
    ("long-site-name", f"{AP0}.name", put(f"{AP0}.name", "z" * 300)),
    ("long-site-id", f"{AP0}.id", put(f"{AP0}.id", "i" * 500)),
    ("long-key", "disruptions", put("disruptions." + "k" * 200, 1)),
    ("name-with-spaces", "name", put("name", "my scenario")),
    ("empty-name", "name", put("name", "")),
    (
        "unknown-disruption",
        "disruptions.earthquake",
        put("disruptions.earthquake", {"probability": 0.1}),
    ),
]
for _name, _field, _fn in STRUCT_CASES:
    case(_name, _field)(_fn)

# --- whole files that are not scenarios
LOL = "".join(
    [
        "name: lol\n",
        "disruptions:\n",
        '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        "  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n",
        "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
        "  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
        "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
        "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
        "  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
        "  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
        "  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
    ]
)
raw("yaml-alias-bomb.yaml", LOL, "aliases")
raw("yaml-alias-loop.yaml", "name: loop\nvariants: &v [*v]\n", "refers to itself")
raw("yaml-syntax-error.yaml", "name: broken\nceasefire: {windows: [\n", "line 3, column 1")
raw("yaml-tab-indent.yaml", "name: tabs\nceasefire:\n\twindows: []\n", "line 3")
raw("yaml-duplicate-key.yaml", "name: a\nname: b\n", "appears twice")
raw("yaml-empty.yaml", "", "mapping")
raw("yaml-list.yaml", "- name: x\n", "mapping")
raw("yaml-scalar.yaml", "just words\n", "mapping")
raw("yaml-binary.yaml", b"\xff\xfe\x00name", "cannot read")
raw(
    "yaml-deep-nesting.yaml",
    "name: deep\ndisruptions: " + "[" * 3000 + "]" * 3000 + "\n",
    "nested too deeply",
)
raw(
    "yaml-nan-literal.yaml",
    yaml.safe_dump(
        {
            **copy.deepcopy(BASE),
            "evacuation": {**copy.deepcopy(BASE["evacuation"]), "stop_min": None},
        }
    ).replace("stop_min: null", "stop_min: .NaN"),
    "evacuation.stop_min",
)

# --- exchange scenarios
F0, P0 = "exchange.facilities.0", "exchange.exchange_points.0"
EXCHANGE_CASES: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("exchange-swapped-facility", f"{F0}.location", put(f"{F0}.location", ZAPORIZHZHIA[::-1])),
    ("exchange-point-far", f"{P0}.location", put(f"{P0}.location", [30.5, 50.45 + 3])),
    ("exchange-huge-buses", f"{F0}.buses", put(f"{F0}.buses", 10**12)),
    ("exchange-zero-seats", f"{F0}.seats", put(f"{F0}.seats", 0)),
    (
        "exchange-negative-count",
        "exchange.detainees.ua.counts.zap-camp.civilian",
        put("exchange.detainees.ua.counts", {"zap-camp": {"civilian": -4}}),
    ),
    (
        "exchange-nan-count",
        "exchange.detainees.ru.counts.mel-sizo.civilian",
        put("exchange.detainees.ru.counts", {"mel-sizo": {"civilian": NAN}}),
    ),
    ("exchange-zero-handovers", f"{P0}.handovers_per_hour", put(f"{P0}.handovers_per_hour", 0)),
    ("exchange-zero-max-per-event", f"{P0}.max_per_event", put(f"{P0}.max_per_event", 0)),
    (
        "exchange-naive-mediator-date",
        "exchange.terms.mediator_dates.0",
        put("exchange.terms.mediator_dates", ["2022-09-21T10:00"]),
    ),
    (
        "exchange-naive-point-window",
        f"{P0}.windows.0.start",
        put(f"{P0}.windows", [{"start": "2022-09-21T08:00", "end": "2022-09-21T18:00:00+03:00"}]),
    ),
    ("exchange-bad-ratio", "exchange.terms.ratio", put("exchange.terms.ratio", "1:0")),
    ("exchange-unknown-party", f"{F0}.party", put(f"{F0}.party", "nobody")),
    (
        "exchange-negative-weight",
        "exchange.categories.civilian",
        put("exchange.categories", {"civilian": -1}),
    ),
    (
        "exchange-huge-buffer",
        "exchange.transfer_buffer_min",
        put("exchange.transfer_buffer_min", 1e9),
    ),
    ("exchange-zero-event-min", f"{P0}.event_min", put(f"{P0}.event_min", 0)),
    (
        "exchange-unknown-detainee-party",
        "exchange.detainees.xx",
        put("exchange.detainees.xx", {"counts": {}}),
    ),
    ("exchange-one-party", "exchange.parties", put("exchange.parties", ["ua"])),
    (
        "exchange-inf-max-per-day",
        "exchange.terms.max_per_day",
        put("exchange.terms.max_per_day", INF),
    ),
]
for _name, _field, _fn in EXCHANGE_CASES:
    case(_name, _field, base=EXCHANGE)(_fn)

# --- events files (planner replan base.yaml base-plan.json EVENTS)
E0 = "events.0"
EVENT_CASES: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("events-naive-at", f"{E0}.at", put(f"{E0}.at", "2022-03-16T11:00:00")),
    ("events-missing-at", f"{E0}.at", drop(f"{E0}.at")),
    (
        "events-unknown-vehicle",
        f"{E0}.vehicle_lost",
        lambda d: d["events"].__setitem__(
            0, {"at": "2022-03-16T11:00:00+02:00", "vehicle_lost": "bus-99"}
        ),
    ),
    ("events-unknown-crossing", f"{E0}.close_crossing", put(f"{E0}.close_crossing", "nowhere")),
    (
        "events-window-index",
        f"{E0}.window.index",
        lambda d: d["events"].__setitem__(
            0, {"at": "2022-03-16T11:00:00+02:00", "window": {"index": 7, "cancel": True}}
        ),
    ),
    (
        "events-bowtie-hazard",
        f"{E0}.hazard.polygon",
        lambda d: d["events"].__setitem__(
            0, {"at": "2022-03-16T11:00:00+02:00", "hazard": {"kind": "closed", "polygon": BOWTIE}}
        ),
    ),
    (
        "events-nan-factor",
        f"{E0}.hazard.factor",
        lambda d: d["events"].__setitem__(
            0,
            {
                "at": "2022-03-16T11:00:00+02:00",
                "hazard": {"kind": "risk", "factor": NAN, "polygon": TOKMAK_BOX},
            },
        ),
    ),
    ("events-empty", "events", put("events", [])),
    ("events-two-kinds", E0, put(f"{E0}.vehicle_lost", "bus-1")),
    (
        "events-naive-window-end",
        f"{E0}.window.end",
        lambda d: d["events"].__setitem__(
            0,
            {"at": "2022-03-16T11:00:00+02:00", "window": {"index": 0, "end": "2022-03-16T13:00"}},
        ),
    ),
    ("events-unknown-key", f"{E0}.earthquake", put(f"{E0}.earthquake", True)),
    ("events-long-id", f"{E0}.close_crossing", put(f"{E0}.close_crossing", "c" * 400)),
]
for _name, _field, _fn in EVENT_CASES:
    case(_name, _field, base=EVENTS, command="replan")(_fn)
raw(
    "events-syntax-error.yaml",
    "events:\n  - {at: 2022-03-16T11:00:00+02:00, close_crossing: cp1\n",
    "line 3",
    command="replan",
)
raw("events-not-mapping.yaml", "- at: 2022-03-16T11:00:00+02:00\n", "events", command="replan")
raw(
    "events-alias-bomb.yaml",
    "events:\n- at: 2022-03-16T11:00:00+02:00\n  close_crossing: cp1\n  x:\n"
    + LOL.split("disruptions:\n", 1)[1].replace("  ", "    "),
    "aliases",
    command="replan",
)


def plan_cases(plan: dict[str, Any]) -> None:
    """Register the plan-file cases (``verify``, ``replan``, ``render`` and ``sweep`` commands)."""
    text = json.dumps(plan, indent=1)
    raw("plan-truncated.json", text[: len(text) // 2], "line", command="verify")
    raw("plan-not-json.json", "plan: yes\n", "not a JSON plan", command="verify")
    raw("plan-a-list.json", "[1, 2, 3]\n", "not a plan", command="verify")
    raw(
        "plan-other-scenario.json",
        json.dumps({**plan, "scenario": "mariupol-2022"}),
        "scenario",
        command="verify",
    )
    raw(
        "plan-no-scenario.json",
        json.dumps({k: v for k, v in plan.items() if k != "scenario"}),
        "scenario",
        command="verify",
    )
    raw(
        "plan-other-scenario-replan.json",
        json.dumps({**plan, "scenario": "kharkiv-oblast"}),
        "scenario",
        command="replan-plan",
    )
    raw(
        "plan-other-scenario-render.json",
        json.dumps({**plan, "scenario": "kharkiv-oblast"}),
        "scenario",
        command="render",
    )
    raw(
        "plan-other-scenario-sweep.json",
        json.dumps({**plan, "scenario": "kharkiv-oblast"}),
        "scenario",
        command="sweep",
    )
    bad = copy.deepcopy(plan)
    bad["vehicles"] = "none"
    raw("plan-vehicles-not-list.json", json.dumps(bad), "vehicles", command="replan-plan")
    nan = copy.deepcopy(plan)
    nan["distance_km"] = NAN
    raw("plan-nan.json", json.dumps(nan), "distance_km", command="replan-plan")
    naive = copy.deepcopy(plan)
    naive["created"] = "2022-03-16T08:00:00"
    raw("plan-naive-time.json", json.dumps(naive), "created", command="render")
    raw("plan-truncated-replan.json", text[: len(text) // 3], "line", command="replan-plan")


def make_plan() -> dict[str, Any]:
    """Plan ``base.yaml`` with a fixed budget (the same on every machine)."""
    from planner.evacuation import plan_evacuation
    from planner.scenario import load_scenario

    plan = plan_evacuation(load_scenario(HERE / "base.yaml"), budget=50, workers=1, seed=0)
    return json.loads(plan.to_json())


def write_all() -> int:
    """Write the base files, the layer files, every case and ``cases.yaml``; return the count."""
    for old in HERE.glob("*.yaml"):
        old.unlink()
    for old in HERE.glob("*.json"):
        old.unlink()
    (HERE / "base.yaml").write_text(yaml.safe_dump(BASE, sort_keys=False, allow_unicode=True))
    (HERE / "base-exchange.yaml").write_text(yaml.safe_dump(EXCHANGE, sort_keys=False))
    (HERE / "base-events.yaml").write_text(yaml.safe_dump(EVENTS, sort_keys=False))
    plan = make_plan()
    (HERE / "base-plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    plan_cases(plan)
    for rel, text in LAYERS.items():
        (HERE / rel).parent.mkdir(exist_ok=True)
        (HERE / rel).write_text(text)
    index = []
    for c in CASES:
        path = HERE / c["file"]
        if "data" in c:
            path.write_text(
                yaml.dump(
                    c["data"],
                    Dumper=yaml.SafeDumper,
                    sort_keys=False,
                    allow_unicode=True,
                    width=200,
                )
            )
        elif isinstance(c["text"], bytes):
            path.write_bytes(c["text"])
        else:
            path.write_text(c["text"])
        index.append({"file": c["file"], "command": c["command"], "expect": c["expect"]})
    (HERE / "cases.yaml").write_text(
        "# Index of the malformed-input corpus (written by make_corpus.py): file, command, words of the error line.\n"
        + yaml.safe_dump(index, sort_keys=False, width=200)
    )
    return len(index)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[2]))
    print(f"{write_all()} cases")
