"""The mediated return of children: lists reconciled without handing them over (PSI), then
the journeys home scheduled with CP-SAT, checked and drawn.

Modules: :mod:`~planner.repatriation.keys` (normalised names, phonetic codes),
:mod:`~planner.repatriation.reconcile` (blind, reblind, match), ``spec`` (the scenario
section), ``model`` (CP-SAT), ``schedule`` (solve and result), ``check`` (verifier rules),
``draw`` (map layers), :mod:`~planner.repatriation.cli` (``planner reconcile``).
"""
