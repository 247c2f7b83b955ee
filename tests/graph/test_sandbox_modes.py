"""Choosing the sandbox: bubblewrap by default, a refusal with the way to opt in where it is
missing, the weaker process mode only when chosen (and said so); what crosses the boundary."""

from __future__ import annotations

import math
import warnings

import pytest
from sandbox_helpers import MODES, requires_bwrap, run_code

import optograph as og
from optograph.graph.sandbox import SandboxConfig, SandboxUnavailable, WeakSandboxWarning, scrub
from optograph.graph.sandbox.runner import NotSendable, decode, encode

pytestmark = pytest.mark.filterwarnings("ignore::optograph.graph.sandbox.WeakSandboxWarning")

LIMIT = 7  # a plain global of the defining module: sent in as JSON


def test_a_missing_bwrap_refuses_with_the_way_to_opt_in(monkeypatch, tmp_path):
    monkeypatch.setenv("OPTOGRAPH_BWRAP", str(tmp_path / "no-bwrap"))
    monkeypatch.delenv("OPTOGRAPH_SANDBOX", raising=False)
    f = og.bundle(trainable=True)(identity)
    f.code.set("def identity(n):\n    return n * 1\n")
    with pytest.raises(SandboxUnavailable) as info:
        f(og.node(1))
    message = str(info.value)
    assert "\n" not in message and "no-bwrap" in message
    assert "sandbox='process'" in message and "OPTOGRAPH_SANDBOX=process" in message


def identity(n):
    return n


def test_the_weaker_mode_runs_when_chosen_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("OPTOGRAPH_BWRAP", str(tmp_path / "no-bwrap"))
    monkeypatch.setenv("OPTOGRAPH_SANDBOX", "process")
    f = og.bundle(trainable=True)(identity)
    f.code.set("def identity(n):\n    return n + 1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert f(og.node(1)).data == 2
    assert any(issubclass(w.category, WeakSandboxWarning) for w in caught)


def test_a_bad_mode_is_one_line(monkeypatch):
    with pytest.raises(og.GraphError, match=r"bundle|identity.*sandbox='docker'"):
        og.bundle(trainable=True, sandbox="docker")(identity)
    monkeypatch.setenv("OPTOGRAPH_SANDBOX", "none")
    f = og.bundle(trainable=True)(identity)
    f.code.set("def identity(n):\n    return n * 1\n")
    with pytest.raises(og.GraphError, match=r"\$OPTOGRAPH_SANDBOX='none'"):
        f(1)


@pytest.mark.parametrize("mode", MODES)
def test_arguments_that_are_not_json_are_named(mode):
    got = run_code("def attack(a, b):\n    return a\n", 1, object(), sandbox=mode)
    assert got.startswith("ERROR:") and "argument 1 is a object" in got and "JSON" in got


@pytest.mark.parametrize("mode", MODES)
def test_the_code_sees_modules_plain_globals_and_importable_functions(mode):
    code = (
        "def attack(x):\n"
        "    return (math.floor(x), LIMIT, encode((1,)), run_code is not None)\n"
    )
    # run_code's defining module is sandbox_helpers: give it this module's globals instead
    fn = og.bundle(trainable=True, sandbox=mode)(uses_globals)
    fn.code.set(code.replace("attack", "uses_globals"))
    with og.no_trace():
        assert fn(2.5) == (2, 7, {"__og__": ["tuple", [1]]}, True)


def uses_globals(x):
    return (math.floor(x), LIMIT)


@pytest.mark.parametrize("mode", MODES)
def test_a_global_that_is_not_data_is_named_when_used(mode):
    fn = og.bundle(trainable=True, sandbox=mode)(uses_globals)
    fn.code.set("def uses_globals(x):\n    return pytestmark\n")
    with pytest.raises(og.ExecutionError, match="name 'pytestmark'.*not available in the sandbox"):
        fn(1)


@pytest.mark.parametrize("mode", MODES)
def test_allow_listed_variables_enter_and_secrets_are_scrubbed(mode, monkeypatch):
    monkeypatch.setenv("MY_API_TOKEN", "tok-abcdef-123456")
    monkeypatch.setenv("OPTOGRAPH_SANDBOX_ENV", "MY_API_TOKEN")
    monkeypatch.setenv("NOT_ALLOWED", "x")
    code = "import os\ndef attack():\n    return [os.environ.get('NOT_ALLOWED'), os.environ['MY_API_TOKEN']]\n"
    assert run_code(code, sandbox=mode) == [None, "[redacted $MY_API_TOKEN]"]
    raising = "import os\ndef attack():\n    raise ValueError(os.environ['MY_API_TOKEN'])\n"
    got = run_code(raising, sandbox=mode)
    assert "tok-abcdef" not in got and "[redacted $MY_API_TOKEN]" in got


@requires_bwrap
def test_an_oversized_reply_is_refused():
    config = SandboxConfig(mode="bwrap", reply_mb=1, timeout_s=5.0)
    got = run_code("def attack():\n    return 'x' * (3 * 2**20)\n", sandbox=config)
    assert "sent back more than 1 MB" in got


def test_the_codec_round_trips_plain_data_and_refuses_the_rest():
    value = {"a": (1, 2.5, None), 3: {b"raw", "s"}, "n": [True, frozenset({1})], "__og__": 1}
    assert decode(encode(value)) == value
    assert math.isnan(decode(encode(float("nan"))))
    for bad in (object(), [1, {2: og}], 1j):
        with pytest.raises(NotSendable):
            encode(bad)


def test_scrub_replaces_secret_looking_values_only():
    env = {"OPENAI_API_KEY": "sk-123456789", "DB_PASSWORD": "hunter22", "HOME": "/home/me",
           "SHORT_KEY": "abc"}
    text = "key sk-123456789 pw hunter22 home /home/me abc"
    assert scrub(text, env) == (
        "key [redacted $OPENAI_API_KEY] pw [redacted $DB_PASSWORD] home /home/me abc"
    )


@pytest.mark.parametrize("mode", MODES)
def test_an_object_argument_goes_in_as_a_read_only_view(mode):
    import dataclasses

    @dataclasses.dataclass
    class Context:
        suffix: str
        client: object

    @dataclasses.dataclass
    class Runtime:  # shaped like LangGraph's: data plus live objects
        context: Context

    code = (
        "def attack(runtime):\n"
        "    try:\n"
        "        runtime.context.client.call()\n"
        "    except AttributeError as exc:\n"
        "        missing = str(exc)\n"
        "    return runtime.context.suffix * 2, missing\n"
    )
    got = run_code(code, Runtime(Context("ab", object())), sandbox=mode)
    assert got[0] == "abab" and "Context.client (a object) is not available" in got[1]


async def twice(n):
    """Double n."""
    return n + n


@pytest.mark.parametrize("mode", MODES)
def test_an_async_function_is_awaited_inside(mode):
    import asyncio

    fn = og.bundle(trainable=True, sandbox=mode)(twice)
    fn.code.set("import asyncio\nasync def twice(n):\n    await asyncio.sleep(0)\n    return n * 3\n")
    assert asyncio.run(fn(og.node(2))).data == 6
