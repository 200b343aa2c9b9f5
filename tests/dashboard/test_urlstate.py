"""The view in the URL (:mod:`dashboard.urlstate`): a copied link reproduces what a curator sees."""

from __future__ import annotations

from dashboard.urlstate import decode_selection, decode_state, encode_selection, encode_state, keep_other_keys


def test_state_round_trips_through_the_url():
    state = {"color": "split", "composite": "ndvi", "selected": "P_1",
             "filters": {"labels": ["Urban fabric", "__no_label__"], "label_mode": "all", "splits": ["test"],
                         "countries": ["Austria"], "flags": ["clear"]},
             "scatter": {"x": [0.5, 2.25], "y": [-1.0, 3.0]}, "map": {"x": [5.0, 7.0], "y": [45.0, 46.5]},
             "page": 3, "selection": {"kind": "lasso", "points": [[0.0, 0.0], [1.5, 0.0], [1.0, 2.0]],
                                      "name": "coastal towns"}}
    back = decode_state(encode_state(state))
    assert back["filters"] == state["filters"] and back["color"] == "split" and back["page"] == 3
    assert back["scatter"] == state["scatter"] and back["map"] == state["map"]
    assert back["selection"] == state["selection"]


def test_selections_encode_compactly_and_bad_ones_are_dropped():
    box = {"kind": "box", "range": [[0.123456789, 1.0], [-2.0, 3.0]]}
    assert encode_selection(box) == "box:0.123457,1,-2,3"
    assert decode_selection("map:-5,12.5,42,52") == {"kind": "map", "range": [[-5.0, 12.5], [42.0, 52.0]]}
    for bad in ("lasso:1,2;3,4", "lasso:1,2;3;5,6", "box:1,2,3", "circle:1,2,3,4", "box:a,b,c,d", "", None):
        assert decode_selection(bad) is None
    assert encode_selection(None) is None and encode_selection({"kind": "nope"}) is None
    # the tour's keys are kept when the view writes the URL
    assert keep_other_keys("?color=label", "?sel=box%3A1%2C2%2C3%2C4&tour=grand") == "?color=label&tour=grand"



def test_a_map_box_on_one_scale_keeps_its_scale_in_the_link():
    from dashboard.urlstate import decode_selection, encode_selection

    sel = {"kind": "map", "range": [[-8.25, -8.0], [37.0, 37.5]], "scale": 2400.0}
    text = encode_selection(sel)
    assert text == "map:-8.25,-8,37,37.5@2400" and decode_selection(text) == sel
    assert decode_selection("map:-8.25,-8,37,37.5") == {"kind": "map", "range": [[-8.25, -8.0], [37.0, 37.5]]}
    assert decode_selection("map:-8.25,-8,37,37.5@-1") is None and decode_selection("map:1,2,3,4@x") is None
