"""The map's scene view on a real scene workspace (the 29RKH tile cut into 8,281 patches of 1,200 m), without a
browser: the imagery under the patch outlines, colour-by QA, click and box on scene footprints, one scale at a
time."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import by_id, patch_ops, run_callback

from dashboard import ids
from dashboard.app import create_app
from dashboard.data import AppData, AppState, color_options
from dashboard.panels import map_panel as M
from dashboard.scene import scene_corners
from dashboard.selection import describe_selection, selection_mask
from mining.qa import QA_COLORS, QA_NAMES
from mining.raster import hex_to_rgb

pytestmark = pytest.mark.realdata

SIZE = {"w": 960, "h": 640}
READY = (0, 0, True, SIZE, 0)  # edits / scores versions, URL ready, plot size, predictions version


@pytest.fixture(scope="module")
def sdata(scene_ws) -> AppData:
    return AppData.load(scene_ws)


@pytest.fixture(scope="module")
def sapp(scene_ws, sdata):
    return create_app(scene_ws, state=AppState(sdata))


def pixel(res: dict, x: float, y: float) -> tuple[int, int]:
    """Image (row, col) of plot point (x, Mercator y) in a render_map result."""
    H, W = res["rgba"].shape[:2]
    (x0, x1), (y0, y1) = res["box"]["x"], res["box"]["y"]
    return int((y1 - y) / (y1 - y0) * H), int((x - x0) / (x1 - x0) * W)


def centre(data: AppData, row: int) -> tuple[float, float]:
    c = scene_corners(data)[row]
    return float(c[:, 0].mean()), float(c[:, 1].mean())


def row_at(data: AppData, col: int, grow: int) -> int:
    cat = data.cat
    return int(np.flatnonzero((cat.grid_col == col) & (cat.grid_row == grow))[0])


def test_the_quicklook_is_under_the_grid_when_on_and_absent_when_off(sdata):
    view = M.full_view(sdata)
    on = M.render_map(sdata, view, "label", scene=True)
    off = M.render_map(sdata, view, "label", scene=False)
    assert on["mode"] == "scene" and on["scene"]["scale"] == 1200.0 and len(on["scene"]["rows"]) == sdata.n
    assert off["mode"] == "raster" and off["scene"] is None and on["footprints"] == off["footprints"] == []
    img = on["scene"]["image"]
    r, c = pixel(on, *centre(sdata, row_at(sdata, 45, 45)))
    assert img[r, c, 3] == 255 and tuple(on["rgba"][r, c, :3]) == tuple(img[r, c, :3])  # the scene shows there
    assert not np.array_equal(on["rgba"], off["rgba"])
    # the imagery is the patches' own composite: the pixel at a patch's centre is its composite's centre pixel
    row = row_at(sdata, 20, 70)
    tile = sdata.renderer.render_many([sdata.pixel_row[row]], "true_color", on["scene"]["tile"])[0]
    t = on["scene"]["tile"]
    x, y = centre(sdata, row)
    r, c = pixel(on, x, y)
    near = tile[t // 2 - 1: t // 2 + 1, t // 2 - 1: t // 2 + 1, :3].reshape(-1, 3).tolist()
    assert img[r, c, :3].tolist() in near
    # (no label) is a grey: at this size the grid is left out, the whole scene reads as imagery
    assert on["layer"] is None or not on["layer"][..., 3].any()


def test_colour_by_qa_rings_the_cloudy_patches(sdata):
    assert "qa" in [o["value"] for o in color_options(sdata)]
    cloud = np.flatnonzero(sdata.scheme("qa").codes == QA_NAMES.index("cloud"))
    assert len(cloud) >= 30
    row = int(cloud[0])
    x, y = centre(sdata, row)
    view = M.from_plot({"x": [x - 0.06, x + 0.06], "y": [y - 0.04, y + 0.04]})
    res = M.render_map(sdata, view, "qa", scene=True)
    assert res["mode"] == "scene"
    c = scene_corners(sdata)[row]
    # halfway down, from just left of the patch's left edge to its centre: its outline, in the cloud colour, then
    # the open inside
    r, c0 = pixel(res, float(c[0, 0] + c[3, 0]) / 2, float(c[0, 1] + c[3, 1]) / 2)
    c1 = pixel(res, x, y)[1]
    seg = res["layer"][r, c0 - 1: c1 + 1]
    purple = hex_to_rgb([QA_COLORS[QA_NAMES.index("cloud")]])[0].tolist()
    assert purple in seg[seg[:, 3] > 0, :3].tolist() and seg[-1, 3] == 0
    # filtered out: no outline, the imagery stays
    hide = M.render_map(sdata, view, "qa", {"flags": ["clear"]}, scene=True)
    seg = hide["layer"][r, c0 - 1: c1 + 1] if hide["layer"] is not None else np.zeros((1, 4), np.uint8)
    assert purple not in seg[seg[:, 3] > 0, :3].tolist() and hide["scene"]["image"][r, c1, 3] == 255


def test_the_toggle_and_the_callback(sapp, sdata):
    layout = by_id(M.layout(sdata))
    assert layout[ids.MAP_SCENE].value == ["on"]  # a scene workspace starts with the scene view
    view = M.full_view(sdata)
    fig, _, info = run_callback(sapp, M.update_map, None, "label", None, None, None, view, *READY, ["on"],
                                "true_color", triggered=[f"{ids.MAP_SCENE}.value"])
    assert "scene 1,200 m" in info
    ops = patch_ops(fig)
    assert ops[("layout", "images", 0)]["source"].startswith("data:image/webp;base64,")
    assert ops[("data", M.T_FP, "x")] == []  # the toggle clears the footprint traces
    fig, _, info = run_callback(sapp, M.update_map, None, "label", None, None, None, view, *READY, [],
                                "true_color", triggered=[f"{ids.MAP_SCENE}.value"])
    assert "scene" not in info
    # a change of composite redraws the map only while the scene view is on
    assert run_callback(sapp, M.update_map, None, "label", None, None, None, view, *READY, [], "false_color",
                        triggered=[f"{ids.COMPOSITE}.value"]) == (M.no_update,) * 3
    fig, _, _ = run_callback(sapp, M.update_map, None, "label", None, None, None, view, *READY, ["on"],
                             "false_color", triggered=[f"{ids.COMPOSITE}.value"])
    assert not [k for k in patch_ops(fig) if k[0] == "data"]  # the view kept: the image alone


def test_click_focuses_and_box_selects_scene_patches(sapp, sdata):
    row = row_at(sdata, 30, 40)
    x, y = centre(sdata, row)
    view = M.from_plot({"x": [x - 0.1, x + 0.1], "y": [y - 0.07, y + 0.07]})
    c = scene_corners(sdata)[row]
    # a click near the patch's corner (inside it) still focuses it, not the neighbour whose box overlaps there
    px, py = 0.9 * c[1, 0] + 0.1 * x, 0.9 * c[1, 1] + 0.1 * y
    click = {"points": [{"x": px, "y": py}]}
    assert run_callback(sapp, M.map_click, click, view, None, ["on"], SIZE, "true_color") == sdata.ids[row]
    # a box over 3 x 2 patch centres selects exactly those
    cx = [centre(sdata, row_at(sdata, 30 + i, 40))[0] for i in (0, 2)]
    cy = [centre(sdata, row_at(sdata, 30, 40 + j))[1] for j in (0, 1)]
    sel = M.selection_from_box({"range": {"x": [cx[0] - 0.002, cx[1] + 0.002], "y": [cy[1] - 0.002, cy[0] + 0.002]}})
    got = sorted(sdata.ids[selection_mask(sdata, sel)].tolist())
    want = sorted(sdata.ids[row_at(sdata, 30 + i, 40 + j)] for i in range(3) for j in range(2))
    assert got == want
    res = M.render_map(sdata, view, "label", None, sel, scene=True)
    assert res["selected"] == 6 and res["mode"] == "scene"


def test_one_scale_at_a_time(shared_data, tmp_path, monkeypatch):
    from mining.datasets import SceneDataset
    from mining.ingest import ingest

    item = shared_data / "scenes" / "s2-l2a-29RKH-20200219-100m" / "S2A_29RKH_20200219_0_L2A.json"
    ingest(SceneDataset(item, scales=[4800, 2400]), tmp_path / "ws", progress=False)
    d = AppData.load(tmp_path / "ws")
    view = M.full_view(d)
    res = M.render_map(d, view, "label", scene=True)
    assert res["scene"]["scale"] == 2400.0  # the finest that fits: 2,025 patches
    assert set(d.cat["scale_m"].to_numpy()[res["scene"]["rows"]]) == {2400.0}
    # the figure names the scale shown, and a box drawn on it selects that scale's patches only
    assert patch_ops(M.update_patch(d, view, res, None))[("layout", "meta")] == {"scene_scale": 2400.0}
    box = {"kind": "map", "range": [[-180.0, 180.0], [-90.0, 90.0]]}
    everything, one = selection_mask(d, box), selection_mask(d, {**box, "scale": 2400.0})
    assert everything.sum() == len(d.cat) and one.sum() == (d.cat["scale_m"] == 2400).sum() < len(d.cat)
    assert describe_selection({**box, "scale": 2400.0}, int(one.sum())).endswith("(2,400 m patches)")
    monkeypatch.setattr("dashboard.scene.MAX_PATCHES", 1000)
    d2 = AppData.load(tmp_path / "ws")  # fresh caches
    assert M.render_map(d2, view, "label", scene=True)["scene"]["scale"] == 4800.0
    monkeypatch.setattr("dashboard.scene.MAX_PATCHES", 100)
    d3 = AppData.load(tmp_path / "ws")
    res = M.render_map(d3, view, "label", scene=True)
    assert res["scene"] is False and res["mode"] != "scene"  # too many patches: the map draws as without it
    assert "zoom in for the scene view" in M.info_text(d3, res)


def test_a_workspace_without_scenes(data):
    """The demo workspace (generated patches, no QA fractions): no QA colouring; the toggle offered (footprints
    and pixels) but off."""
    assert "qa" not in [o["value"] for o in color_options(data)]
    assert by_id(M.layout(data))[ids.MAP_SCENE].value == []


def test_the_scene_view_goes_into_the_link_only_when_it_differs_from_the_default(sapp):
    from dash import no_update

    from dashboard.urlstate import scene_from_search, search_with_scene

    # a scene workspace starts with the view on: switching it off writes scene=0, on again removes the key
    off = run_callback(sapp, M.scene_to_url, [], "?color=qa", True)
    assert off == "?color=qa&scene=0"
    assert run_callback(sapp, M.scene_to_url, ["on"], off, True) == "?color=qa"
    assert run_callback(sapp, M.scene_to_url, [], "", False) is no_update  # before the URL is applied: nothing
    # a link with scene=0 switches it off on load; one without leaves the default
    assert run_callback(sapp, M.scene_from_url, "/", "?scene=0") == []
    assert run_callback(sapp, M.scene_from_url, "/", "?color=qa") is no_update
    assert scene_from_search("?scene=1", False) and not scene_from_search("?scene=0", True)
    assert scene_from_search("?scene=x", True) and search_with_scene("?a=1&scene=0", True, True) == "?a=1"
    # a single-scale scene: the figure names no scale (a box selects every patch in it)
    res = M.render_map(sapp.server.extensions["eomine"].current, M.full_view(sapp.server.extensions["eomine"].current),
                       "label", scene=True)
    assert M.scene_scale(sapp.server.extensions["eomine"].current, res) is None
