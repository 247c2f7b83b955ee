"""og.Module and @og.model: per-instance parameters, dotted names, state, save/load, copies.
The first tests port Trace's own tests/unit_tests/test_modules.py to optograph's API."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest

import optograph as og


class BaseModule(og.Module):
    def __init__(self) -> None:
        super().__init__()
        self._param = og.node(1, trainable=True)

    @og.bundle(trainable=True)
    def method1(self, x: int) -> int:
        return x

    def method2(self, y: int) -> int:
        return y

    def forward(self, i: int) -> og.Node:
        return self.method1(i)


def dummy_method() -> int:
    return 1


class ChildModule(BaseModule):
    def __init__(self) -> None:
        super().__init__()
        self._extra_param = og.node(1, trainable=True)
        self._extra_method = og.bundle(trainable=True)(dummy_method)
        self._base = BaseModule()

    @og.bundle(trainable=True)
    def method1(self, x: int) -> int:
        return x


@og.model
class BaseClass:
    def __init__(self) -> None:
        super().__init__()
        self._param = og.node(1, trainable=True)

    @og.bundle(trainable=True)
    def method1(self, x: int) -> int:
        return x

    def forward(self, i: int) -> og.Node:
        return self.method1(i)


class NonModuleBase:
    @og.bundle()
    def method1(self) -> int:
        return 1


@og.model
class ChildOfPlain(NonModuleBase):
    @og.bundle(trainable=True)
    def method2(self, x: int) -> og.Node:
        return self.method1() + x

    def forward(self, i: int) -> og.Node:
        return self.method2(i)


def test_trace_counts_for_a_module_and_its_child() -> None:
    assert len(BaseModule().parameters()) == 2
    child = ChildModule()
    assert [name for name, _ in child.named_parameters()] == [
        "method1", "_param", "_extra_param", "_extra_method", "_base.method1", "_base._param",
    ]
    assert len(child.parameters()) == 6


def test_model_decorator_gives_the_same_parameters_and_calls_forward() -> None:
    base = BaseClass()
    assert isinstance(base, og.Module) and type(base).__name__ == "BaseClass"
    assert len(base.parameters()) == 2
    assert base(3).data == 3


def test_a_model_over_a_plain_base_class_runs() -> None:
    assert ChildOfPlain().forward(1).data == 2


def test_each_instance_has_its_own_code_parameter() -> None:
    a, b = BaseModule(), BaseModule()
    code_a, code_b = dict(a.named_parameters())["method1"], dict(b.named_parameters())["method1"]
    assert code_a is not code_b and code_a.name.startswith("__code_BaseModule.method1")
    code_a.set("def method1(self, x):\n    return x * 10\n")
    assert a(2).data == 20 and b(2).data == 2
    assert code_a in a(2).parameters() and code_b not in a(2).parameters()


def test_the_code_parameter_is_created_once_per_instance() -> None:
    a = BaseModule()
    assert a.parameters()[0] is a.parameters()[0]
    assert a.method1.__func__ is a.method1.__func__


class Holder(og.Module):
    def __init__(self) -> None:
        self.prompt = og.node("p", trainable=True, name="prompt")
        self.fixed = og.node("not a parameter")
        self.tools = [BaseModule(), BaseModule()]
        self.by_role = {"planner": BaseModule()}
        self.shared = self.prompt


def test_named_parameters_are_dotted_through_lists_and_dicts() -> None:
    names = [name for name, _ in Holder().named_parameters()]
    assert names == [
        "prompt", "tools.0.method1", "tools.0._param", "tools.1.method1", "tools.1._param",
        "by_role.planner.method1", "by_role.planner._param",
    ]


def test_state_dict_holds_values_and_code_as_text() -> None:
    state = BaseModule().state_dict()
    assert state["_param"] == 1
    assert state["method1"].startswith("def method1(self, x: int) -> int:")


def test_load_state_dict_sets_every_parameter() -> None:
    source, target = Holder(), Holder()
    source.prompt.set("learned")
    dict(source.named_parameters())["tools.1.method1"].set("def method1(self, x):\n    return -x\n")
    target.load_state_dict(source.state_dict())
    assert target.prompt.data == "learned" and target.tools[1](5).data == -5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(extra=1), "unknown parameter(s) 'extra'"),
        (lambda s: s.pop("prompt"), "missing parameter(s) 'prompt'"),
        (lambda s: s.update({"tools.0._param": "one"}), "'tools.0._param': expected a number"),
        (lambda s: s.update({"tools.0.method1": "def other(self, x):\n    return x\n"}),
         "does not define method1()"),
        (lambda s: s.update({"tools.0.method1": "def method1(self, x:\n"}), "does not parse"),
    ],
)
def test_a_state_that_does_not_fit_changes_nothing(change, message) -> None:  # type: ignore[no-untyped-def]
    holder = Holder()
    state = holder.state_dict()
    state["prompt"] = "changed"
    change(state)
    before = holder.state_dict()
    with pytest.raises(og.GraphError) as caught:
        holder.load_state_dict(state)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert holder.state_dict() == before


def test_save_and_load_round_trip_in_json(tmp_path: Path) -> None:
    holder = Holder()
    holder.prompt.set("learned")
    holder.save(tmp_path / "agent.json")
    document = json.loads((tmp_path / "agent.json").read_text())
    assert document["class"].endswith("Holder") and document["parameters"]["prompt"] == "learned"
    fresh = Holder()
    fresh.load(tmp_path / "agent.json")
    assert fresh.state_dict() == holder.state_dict()


def test_save_names_the_attribute_json_cannot_hold(tmp_path: Path) -> None:
    holder = Holder()
    holder.tools[1]._param = og.node({1, 2}, trainable=True)
    with pytest.raises(og.GraphError, match=r"attribute 'tools.1._param' holds set"):
        holder.save(tmp_path / "agent.json")
    assert not (tmp_path / "agent.json").exists()


def test_save_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(og.GraphError, match="does not exist"):
        Holder().save(tmp_path / "missing" / "agent.json")


def test_load_of_a_file_that_does_not_fit_names_it_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"parameters": {"prompt": "x", "nope": 1}}))
    holder = Holder()
    with pytest.raises(og.GraphError) as caught:
        holder.load(path)
    assert str(path) in str(caught.value) and "'nope'" in str(caught.value)
    assert holder.prompt.data == "p"
    path.write_text("{not json")
    with pytest.raises(og.GraphError, match="not valid JSON"):
        holder.load(path)
    with pytest.raises(og.GraphError, match="no such file"):
        holder.load(tmp_path / "absent.json")


def test_deepcopy_and_pickle_give_new_parameters_with_the_same_values() -> None:
    holder = Holder()
    holder.prompt.set("learned")
    dict(holder.named_parameters())["tools.0.method1"].set("def method1(self, x):\n    return x + 1\n")
    for other in (copy.deepcopy(holder), pickle.loads(pickle.dumps(holder))):
        assert other.state_dict() == holder.state_dict()
        assert not set(other.parameters()) & set(holder.parameters())
        assert other.shared is other.prompt
        assert other.tools[0](1).data == 2
        other.prompt.set("changed")
        assert holder.prompt.data == "learned"


def test_copy_copy_shares_the_parameters() -> None:
    holder = Holder()
    shallow = copy.copy(holder)
    assert shallow.parameters() == holder.parameters()


def test_forward_must_be_defined() -> None:
    class Empty(og.Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty.forward"):
        Empty()()


def test_use_parameters_makes_given_nodes_the_modules_parameters() -> None:
    holder = Holder()
    prompt = og.node("from a task file", trainable=True, name="prompt")
    code = og.node("def method1(self, x):\n    return x * 3\n", trainable=True, name="__code_m")
    holder.use_parameters({"prompt": prompt, "tools.1.method1": code})
    params = dict(holder.named_parameters())
    assert params["prompt"] is prompt and params["tools.1.method1"] is code
    assert code in holder.tools[1](2).parameters() and holder.tools[1](2).data == 6


def test_use_parameters_checks_every_name_first() -> None:
    holder = Holder()
    before = holder.parameters()
    with pytest.raises(og.GraphError, match="has no parameter 'nope'"):
        holder.use_parameters({"prompt": og.node("x", trainable=True), "nope": og.node(1, trainable=True)})
    with pytest.raises(og.GraphError, match="must be a trainable node"):
        holder.use_parameters({"prompt": og.node("x")})
    assert holder.parameters() == before


def test_a_model_class_instance_pickles_with_its_learned_method() -> None:
    base = BaseClass()
    dict(base.named_parameters())["method1"].set("def method1(self, x):\n    return x - 1\n")
    other = pickle.loads(pickle.dumps(base))
    assert type(other) is BaseClass and other(5).data == 4
    assert other.parameters()[0] is not base.parameters()[0]


class Slotted:
    __slots__ = ("x",)

    @og.bundle(trainable=True)
    def method(self, v: int) -> int:
        return v


def test_a_trainable_method_on_a_class_without_dict_is_refused_in_one_line() -> None:
    with pytest.raises(og.GraphError, match=r"Slotted.method: .*__slots__"):
        Slotted().method(1)
