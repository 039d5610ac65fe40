"""Builds static/img/world-110m.svg and static/img/countries.json once, from world-atlas.

Input: countries-110m.json of the npm package world-atlas 2.0.2 (Natural Earth 1:110m admin-0
countries, TopoJSON; `npm pack world-atlas@2.0.2`) and Debian's iso-codes iso_3166-1.json for
the numeric → alpha-2 codes. Output: one <path id="c-XX"> per country in an equirectangular
projection (viewBox 0 0 960 480, Antarctica dropped), inside <g id="countries">, so the deck
can draw the whole map with one <use> and shade single countries with more. Run:
    python3 static/img/build_world_map.py PATH/countries-110m.json /usr/share/iso-codes/json/iso_3166-1.json
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent
W, H = 960.0, 480.0
TOP_LAT, BOTTOM_LAT = 84.0, -60.0


def decode_arcs(topo: dict) -> list[list[tuple[float, float]]]:
    """Delta-decode and de-quantize every arc to (lon, lat)."""
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs: list, indexes: list[int]) -> list[tuple[float, float]]:
    """Stitch a ring from arc indexes (negative = reversed, ~i)."""
    points: list[tuple[float, float]] = []
    for i in indexes:
        part = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        points.extend(part[1:] if points else part)
    return points


def project(lon: float, lat: float) -> tuple[float, float]:
    """Equirectangular, cropped to TOP_LAT..BOTTOM_LAT."""
    return (lon + 180.0) / 360.0 * W, (TOP_LAT - lat) / (TOP_LAT - BOTTOM_LAT) * H


def split_at_antimeridian(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Pieces of a ring that never jump across the map (a ring crossing ±180° would draw a chord).

    The ring is rotated to start just after a jump, so every piece starts and ends at the map's
    edge and closing it runs along that edge.
    """
    jumps = [i for i in range(1, len(points)) if abs(points[i][0] - points[i - 1][0]) > 180]
    if not jumps:
        return [points]
    ring_points = points[jumps[0]:] + points[1:jumps[0]]
    pieces, current = [], [ring_points[0]]
    for previous, point in zip(ring_points, ring_points[1:]):
        if abs(point[0] - previous[0]) > 180:
            pieces.append(current)
            current = []
        current.append(point)
    pieces.append(current)
    return pieces


def path_data(arcs: list, geometry: dict) -> str:
    polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
    parts = []
    for polygon in polygons:
        for indexes in polygon:
            for piece in split_at_antimeridian(ring(arcs, indexes)):
                cmds, last = [], None
                for lon, lat in piece:
                    x, y = project(lon, lat)
                    p = (round(x, 1), round(y, 1))
                    if p != last:
                        cmds.append(f"{p[0]:g},{p[1]:g}")
                        last = p
                if len(cmds) >= 3:
                    parts.append("M" + "L".join(cmds) + "Z")
    return "".join(parts)


def main(topo_path: str, iso_path: str) -> None:
    topo = json.loads(Path(topo_path).read_text())
    iso = json.loads(Path(iso_path).read_text())["3166-1"]
    alpha2 = {c["numeric"]: c["alpha_2"] for c in iso}
    names = {c["alpha_2"]: c.get("common_name") or c["name"] for c in iso}
    arcs = decode_arcs(topo)
    paths = []
    for geometry in topo["objects"]["countries"]["geometries"]:
        code = alpha2.get(geometry.get("id", ""))
        if code is None or code == "AQ" or "arcs" not in geometry:
            continue
        title = names.get(code, geometry["properties"]["name"])
        paths.append(f'<path id="c-{code}" d="{path_data(arcs, geometry)}"><title>{title}</title></path>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W:g} {H:g}">'
           '<!-- Natural Earth 1:110m countries via world-atlas 2.0.2; see LICENSE-world-atlas -->'
           '<g id="countries">' + "".join(paths) + "</g></svg>\n")
    (OUT / "world-110m.svg").write_text(svg)
    (OUT.parent.parent / "static" / "img" / "countries.json").write_text(
        json.dumps(names, ensure_ascii=False, sort_keys=True, indent=0) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
