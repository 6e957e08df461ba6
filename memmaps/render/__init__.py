"""Renderings of maps for people: vmmap-style reports, HTML, SVG pictures.

Each module takes the portable objects (Maps, Region, Usage, Summary,
MapsDiff) and returns text; none of them reads a process.
"""
