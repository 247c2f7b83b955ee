import json

import pytest

import optograph as og


def params():
    with og.Run():
        return [og.node(1.5, trainable=True, name="lr"), og.node(["a", "b"], trainable=True, name="shots")]


def test_save_and_load_round_trip(tmp_path):
    ps = params()
    path = tmp_path / "p.json"
    og.save_parameters(ps, path)
    assert json.loads(path.read_text()) == {"lr": 1.5, "shots": ["a", "b"]}
    ps[0].set(9.0)
    ps[1].set([])
    og.load_parameters(ps, path)
    assert ps[0].data == 1.5 and ps[1].data == ["a", "b"]


def test_non_json_value_is_reported(tmp_path):
    with og.Run():
        p = og.node({1, 2}, trainable=True, name="s")
    with pytest.raises(og.GraphError, match="'s' holds set"):
        og.save_parameters([p], tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_unknown_name_changes_nothing(tmp_path):
    ps = params()
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"lr": 3.0, "nope": 1}))
    with pytest.raises(og.GraphError, match="unknown parameter.*'nope'"):
        og.load_parameters(ps, path)
    assert ps[0].data == 1.5


@pytest.mark.parametrize("text, message", [("[1, 2]", "JSON object"), ("{bad", "line 1")])
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(og.GraphError, match=message) as info:
        og.load_parameters(params(), path)
    assert "\n" not in str(info.value)
