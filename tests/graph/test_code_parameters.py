import pytest
from sandbox_helpers import MODES

import optograph as og

# every test taking `mode` runs once in the bubblewrap boundary (skipped where bwrap is
# missing) and once in the weaker process mode (the JSON boundary without namespaces)
pytestmark = pytest.mark.filterwarnings("ignore::optograph.graph.sandbox.WeakSandboxWarning")


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


def fresh_solve(sandbox="bwrap"):
    @og.bundle(trainable=True, timeout_s=2.0, memory_mb=256, sandbox=sandbox)
    def solve(n):
        """Return n squared."""
        return n + n

    return solve


def test_code_is_a_parameter_and_a_parent():
    f = fresh_solve("inline")
    assert f.code.trainable and f.code.data.startswith("def solve(n):")
    y = f(og.node(3))
    assert y.data == 6
    assert ("__code", f.code) in y.parents
    y.backward("should be 9")
    assert f.code.feedback and f.parameters() == [f.code]


def test_new_code_runs_in_a_separate_process(mode):
    f = fresh_solve(mode)
    f.code.set("import os\ndef solve(n):\n    return (n * n, os.getpid())\n")
    (value, pid) = f(og.node(3)).data  # a tuple comes back as a tuple (tagged JSON)
    import os

    assert value == 9 and pid != os.getpid()
    assert isinstance(f(og.node(3)).data, tuple)


def test_inline_sandbox_runs_in_process():
    f = fresh_solve("inline")
    f.code.set("import os\ndef solve(n):\n    return (n * n, os.getpid())\n")
    import os

    assert f(og.node(4)).data == (16, os.getpid())


def test_hanging_code_becomes_exception_node(mode):
    f = fresh_solve(mode)
    f.code.set("def solve(n):\n    while True:\n        pass\n")
    with pytest.raises(og.ExecutionError) as info:
        f(og.node(3))
    assert "did not finish" in info.value.exception_node.data


def test_crashing_code_becomes_exception_node(mode):
    f = fresh_solve(mode)
    f.code.set("import os\ndef solve(n):\n    os._exit(9)\n")
    with pytest.raises(og.ExecutionError) as info:
        f(og.node(3))
    assert "crashed" in info.value.exception_node.data


def test_memory_hog_is_stopped(mode):
    f = fresh_solve(mode)
    f.code.set("def solve(n):\n    return len(bytearray(2 * 1024 ** 3))\n")
    with pytest.raises(og.ExecutionError) as info:
        f(og.node(3))
    assert "MemoryError" in info.value.exception_node.data


def test_error_in_new_code_marks_its_line(mode):
    f = fresh_solve(mode)
    f.code.set("def solve(n):\n    x = n\n    return x / 0\n")
    with pytest.raises(og.ExecutionError) as info:
        f(og.node(3))
    node = info.value.exception_node
    assert "ZeroDivisionError" in node.data
    marked = [ln for ln in node.info["source"].splitlines() if "<-- error here" in ln]
    assert len(marked) == 1 and "return x / 0" in marked[0]
    node.backward("fix the division")
    assert f.code.feedback


def test_restoring_the_original_source_runs_the_original_function(mode):
    f = fresh_solve(mode)
    original = f.code.data
    f.code.set("def solve(n):\n    return -1\n")
    assert f(og.node(2)).data == -1
    f.code.set(original)
    assert f(og.node(2)).data == 4
