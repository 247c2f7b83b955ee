"""Issue 14: changes that a rewritten method makes to its instance persist under every
sandbox mode; what cannot come back is a one-line error naming the attribute."""

from __future__ import annotations

import pytest
from sandbox_helpers import MODES

import optograph as og

pytestmark = pytest.mark.filterwarnings("ignore::optograph.graph.sandbox.WeakSandboxWarning")


class Counter:
    """An agent-like class: plain state and a node attribute."""

    def __init__(self) -> None:
        self.count = 0
        self.history: list[int] = []
        self.prompt = og.node("be brief", trainable=True, name="prompt")
        self.client = object()  # not JSON: it cannot enter the sandbox

    def step(self, n):
        """Add n to the count."""
        self.count += n
        return self.count

    @og.bundle()
    def double(self, n):
        """A bundled helper method: inside the sandbox it runs on plain values."""
        return 2 * n


def _counter(mode: str) -> Counter:
    counter = Counter()
    step = og.bundle(trainable=True, sandbox=mode, timeout_s=5.0)(Counter.step)
    counter.step = step.__get__(counter)  # type: ignore[method-assign]
    return counter, step


@pytest.mark.parametrize("mode", [*MODES, "inline"])
def test_changes_to_self_persist_after_a_rewrite(mode):
    counter, step = _counter(mode)
    step.code.set(
        "def step(self, n):\n"
        "    self.count += 2 * n\n"
        "    self.history.append(n)\n"
        "    self.label = f'{self.prompt.data}: {self.count}'\n"
        "    return self.count\n"
    )
    assert counter.step(og.node(3)).data == 6
    assert counter.step(4).data == 14
    assert counter.count == 14 and counter.history == [3, 4]
    assert counter.label == "be brief: 14"
    assert isinstance(counter.prompt, og.Node)  # read through, left as it was
    assert isinstance(counter.client, object)


@pytest.mark.parametrize("mode", MODES)
def test_a_change_that_cannot_come_back_names_the_attribute(mode):
    counter, step = _counter(mode)
    step.code.set("def step(self, n):\n    self.count = n\n    self.seen = {1: object}\n    return n\n")
    with pytest.raises(og.ExecutionError) as info:
        counter.step(5)
    message = info.value.exception_node.data
    assert "self.seen" in message and "cannot be sent back" in message
    assert counter.count == 0 and not hasattr(counter, "seen")  # nothing half-applied


@pytest.mark.parametrize("mode", MODES)
def test_an_attribute_that_could_not_enter_says_so_when_used(mode):
    counter, step = _counter(mode)
    step.code.set("def step(self, n):\n    return self.client.complete(n)\n")
    with pytest.raises(og.ExecutionError) as info:
        counter.step(1)
    assert "self.client (a object) is not available in the sandbox" in (
        info.value.exception_node.data
    )


@pytest.mark.parametrize("mode", MODES)
def test_deleting_an_attribute_persists(mode):
    counter, step = _counter(mode)
    step.code.set("def step(self, n):\n    del self.history\n    return n\n")
    counter.step(1)
    assert not hasattr(counter, "history")


@pytest.mark.parametrize("mode", MODES)
def test_a_class_that_cannot_be_imported_still_gets_its_state(mode):
    class Local:  # defined in a function: not importable inside the sandbox
        def __init__(self) -> None:
            self.total = 1

        def add(self, n):
            """Add."""
            self.total += n
            return self.total

    obj = Local()
    add = og.bundle(trainable=True, sandbox=mode)(Local.add)
    add.code.set("def add(self, n):\n    self.total *= n\n    return self.total\n")
    with og.no_trace():
        assert add(obj, 5) == 5
    assert obj.total == 5


@pytest.mark.parametrize("mode", [*MODES, "inline"])
def test_the_rewritten_method_can_call_another_bundled_method(mode):
    counter, step = _counter(mode)
    step.code.set("def step(self, n):\n    self.count = self.double(n)\n    return self.count\n")
    assert counter.step(og.node(4)).data == 8 and counter.count == 8
