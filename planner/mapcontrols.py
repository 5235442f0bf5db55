"""Leaflet controls of the planner's maps: a legend, a summary box and a vehicle picker.

Each is a real Leaflet control (``L.Control``), so Leaflet stacks it in its corner with the
others (layers, zoom, scale, the time bar) and no box covers another.  The vehicle picker
shows all vehicles, those of one value of a grouping field (``type``, and ``corridor`` or
``convoy`` where the plan's vehicles carry them) or a single vehicle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from branca.element import MacroElement
from jinja2 import Template

from planner.mapcontext import safe_json

VEHICLE_GROUP_FIELDS = ("type", "corridor", "convoy")
"""Fields of a plan's vehicles the picker groups by, where the vehicles have them."""

_CONTROLS_CSS = """
<style>
.pl-box{background:#fff;padding:6px 8px;font:12px/1.35 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.4);
  border-radius:4px;max-width:min(340px,28vw)}
.pl-legend{max-height:45vh;overflow:auto}
.pl-summary{max-width:min(300px,24vw)}
.pl-picker select{font-size:12px;max-width:220px}
</style>
"""

_BOX_JS = r"""
(function () {
  var map = __MAP__;
  var Box = L.Control.extend({
    options: {position: __POSITION__},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'pl-box ' + __CLASS__);
      d.innerHTML = __HTML__;
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    }
  });
  new Box().addTo(map);
})();
"""

_PICKER_JS = r"""
(function () {
  var D = __DATA__, map = __MAP__, parent = __PARENT__, groups = [__GROUPS__], P = D;
  var Picker = L.Control.extend({
    options: {position: 'topright'},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'pl-box pl-picker');
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      var lab = document.createElement('label');
      lab.textContent = 'Vehicles: ';
      var sel = document.createElement('select');
      sel.className = 'pl-pick';
      sel.setAttribute('aria-label', 'vehicles shown');
      P.options.forEach(function (o, i) {
        var opt = document.createElement('option');
        opt.value = String(i);
        opt.textContent = o.label;
        sel.appendChild(opt);
      });
      sel.addEventListener('change', function () { pick(Number(sel.value)); });
      lab.appendChild(sel);
      d.appendChild(lab);
      return d;
    }
  });
  function pick(i) {
    var keep = {};
    P.options[i].members.forEach(function (k) { keep[k] = true; });
    groups.forEach(function (g, k) {
      if (keep[k] && !parent.hasLayer(g)) { parent.addLayer(g); }
      if (!keep[k] && parent.hasLayer(g)) { parent.removeLayer(g); }
    });
    current = i;
  }
  var current = 0;
  new Picker().addTo(map);
  window.plannerVehicles = {
    options: P.options.map(function (o) { return o.label; }),
    pick: function (i) { var s = document.querySelector('.pl-pick'); if (s) { s.value = String(i); } pick(i); },
    shown: function () { return groups.map(function (g) { return parent.hasLayer(g); }); },
    current: function () { return current; }
  };
})();
"""

_Template = Template(
    "{% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}"
    "{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}"
)


class ControlBox(MacroElement):
    """A box of HTML as a Leaflet control.

    Parameters
    ----------
    map_name
        JavaScript name of the folium map.
    html_text
        The box's content: HTML whose text the caller has escaped.
    css_class
        Class of the box (``pl-legend``, ``pl-summary``).
    position
        Leaflet corner: ``topleft``, ``topright``, ``bottomleft`` or ``bottomright``.
    """

    _template = _Template

    def __init__(
        self, map_name: str, html_text: str, css_class: str, position: str = "bottomright"
    ) -> None:
        super().__init__()
        self._name = "PlannerBox"
        self.css = _CONTROLS_CSS
        self.code = (
            _BOX_JS.replace("__MAP__", map_name)
            .replace("__POSITION__", safe_json(position))
            .replace("__CLASS__", safe_json(css_class))
            .replace("__HTML__", safe_json(html_text))
        )


def picker_options(
    vehicles: Sequence[Any], fields: Iterable[str] = VEHICLE_GROUP_FIELDS
) -> list[dict[str, Any]]:
    """The vehicle picker's choices: all, one per value of each grouping field, one per vehicle.

    Parameters
    ----------
    vehicles
        The vehicles drawn (plan vehicles, or anything with ``id`` and the fields as
        attributes or mapping keys).
    fields
        Grouping fields, in order; a field no vehicle has a value for is left out.

    Returns
    -------
    list of dict
        ``{"label", "members"}`` where ``members`` are indices into ``vehicles``.
    """

    def value(v: Any, f: str) -> Any:
        return v.get(f) if isinstance(v, dict) else getattr(v, f, None)

    every = list(range(len(vehicles)))
    options: list[dict[str, Any]] = [{"label": f"all vehicles ({len(every)})", "members": every}]
    for f in fields:
        by: dict[str, list[int]] = {}
        for i, v in enumerate(vehicles):
            x = value(v, f)
            if x is not None and x != "":
                by.setdefault(str(x), []).append(i)
        if f != "type" and not by:
            continue
        for x, members in sorted(by.items()):
            options.append({"label": f"{f}: {x} ({len(members)})", "members": members})
    if len(vehicles) > 1:
        options += [
            {"label": f"vehicle {value(v, 'id')}", "members": [i]} for i, v in enumerate(vehicles)
        ]
    return options


class VehiclePicker(MacroElement):
    """A Leaflet control choosing which vehicles the "Vehicles" layer shows.

    Parameters
    ----------
    map_name
        JavaScript name of the folium map.
    parent
        JavaScript name of the "Vehicles" layer group.
    groups
        JavaScript names of each vehicle's own layer group (children of ``parent``).
    options
        From :func:`picker_options`.
    """

    _template = _Template

    def __init__(
        self, map_name: str, parent: str, groups: list[str], options: list[dict[str, Any]]
    ) -> None:
        super().__init__()
        self._name = "PlannerPicker"
        self.css = ""
        self.code = (
            _PICKER_JS.replace("__MAP__", map_name)
            .replace("__PARENT__", parent)
            .replace("__GROUPS__", ", ".join(groups))
            .replace("__DATA__", safe_json({"options": options}))
        )
