#!/usr/bin/env bash
# The GPU checks and benchmarks of one lent GPU machine, in one call (the machine is lent for
# minutes: one prepared script, results under $OUT). Stages run in the order given:
#
#   bash benchmarks/gpu_session.sh wheels                     # HERE, once: fill .whl/ (below)
#   bash benchmarks/gpu_session.sh setup checks ray          # sampler/FID checks, Ray search
#   bash benchmarks/gpu_session.sh setup fidelity compare    # issue-16 benchmarks, README table
#
# `setup` installs what the machine's image lacks from wheels carried in .whl/ (built with
# `pip download --python-version 3.12 ...`; Ray's wheel is too big to carry whole, so it travels
# as ray-min.tar.xz without its Java jars and ML libraries, which the search does not use) and
# puts this checkout on PYTHONPATH as the `optograph` package. Every stage has a hard timeout and
# writes its log to $OUT/<stage>.txt.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda} IMAGES=${IMAGES:-2048} EVALUATIONS=${EVALUATIONS:-40}  # smaller: a dry run on cpu
export PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
REPO=$(pwd)
SITE=/tmp/optograph-site
SHIM=/tmp/optograph-shim
export PYTHONPATH=$SHIM:$SITE

stage() {  # stage NAME SECONDS FUNCTION: run a function below with a timeout, log to $OUT/NAME.txt
    local name=$1 limit=$2 function=$3
    echo "=== $name ($(date +%T)) ==="
    local started=$SECONDS
    timeout "$limit" bash -c "$function" >>"$OUT/$name.txt" 2>&1
    local rc=$?
    tail -n 40 "$OUT/$name.txt"
    echo "=== $name: exit $rc in $((SECONDS - started)) s ==="
    return $rc
}

wheels() {  # on the development machine: the wheels the GPU image lacks, for its Python 3.12
    grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >>.git/info/exclude
    mkdir -p .whl
    local pins=() name
    # what optograph's diffusion path imports and the image (torch, numpy, scipy, huggingface_hub,
    # torchmetrics, ...) does not hold; versions as installed here
    for name in annotated-types diffusers distro h2 hpack hyperframe httpcore2 httpx2 jsonpatch \
        jsonpointer langchain-core langchain-protocol langgraph langgraph-checkpoint \
        langgraph-checkpoint-sqlite langgraph-prebuilt langgraph-sdk langsmith orjson ormsgpack \
        pydantic pydantic_core requests-toolbelt sniffio tenacity truststore typing-inspection \
        typing_extensions uuid_utils websockets zstandard jsonschema jsonschema-specifications \
        referencing rpds-py aiosqlite sqlite-vec packaging importlib_metadata zipp httpx anyio; do
        pins+=("$name==$(python -c "import importlib.metadata as m; print(m.version('$name'))")")
    done
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${pins[@]}" || return 1
    local ray_version unpacked
    ray_version=$(python -c "import ray; print(ray.__version__)")
    unpacked=$(mktemp -d)
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux2014_x86_64 -d "$unpacked" "ray==$ray_version" || return 1
    (cd "$unpacked" && unzip -q ray-*.whl && rm ray-*.whl &&
        rm -rf ray/jars ray/rllib ray/tune ray/train ray/serve ray/data ray/llm \
            ray/dashboard/client/build && tar cJf "$REPO/.whl/ray-min.tar.xz" .)
    rm -rf "$unpacked"
    du -sh .whl  # the working tree that travels must stay under 64 MiB
}

setup() {
    mkdir -p "$SITE" "$SHIM/optograph"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
        .whl/*.whl || return 1
    tar xJf .whl/ray-min.tar.xz -C "$SITE" || return 1
    cp optograph/*.py "$SHIM/optograph/"
    for part in graph agent tools tasks; do ln -sfn "$REPO/$part" "$SHIM/optograph/$part"; done
    nvidia-smi -L
    python3 -c "import torch, diffusers, ray, optograph.tools.diffusion.session as s; \
print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'ray', ray.__version__, \
torch.cuda.get_device_name())"
}

checks() {
    python3 benchmarks/gpu_check.py
    python3 benchmarks/gpu_check.py --images 10000 --steps 4
    python3 -m pytest -q -p no:cacheprovider -m gpu tests/tools/test_diffusion_fid.py \
        tests/tools/test_diffusion_macs.py tests/tools/test_gpu_check_script.py \
        tests/tools/test_diffusion_sampler.py
}

search() {  # search NAME EXTRA...: a 4-step DPM-Solver++(2M) search of the shipped model
    local name=$1
    shift
    rm -rf "/tmp/search-$name"
    local started=$SECONDS
    python3 -m optograph diffusion search --model digits \
        --solver dpmpp2m --steps 4 --images "$IMAGES" --evaluations "$EVALUATIONS" --device "$DEVICE" \
        --no-baselines --out "/tmp/search-$name" "$@"
    echo "search $name: wall $((SECONDS - started)) s"
    python3 - "/tmp/search-$name/result.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
keys = ("timesteps", "fid", "validation_fid", "evaluations", "search_seconds", "ray")
print({k: r.get(k) for k in keys})
EOF
    cp "/tmp/search-$name/result.json" "$OUT/result-$name.json"
}

ray_stage() {
    search local
    search ray --executor ray
}

fidelity() {
    python3 benchmarks/diffusion_fidelity.py --device cuda --json "$OUT/fidelity.json"
}

compare() {
    for steps in 6 10; do search "k$steps" --steps "$steps"; done
    python3 -m optograph diffusion compare --model digits --device "$DEVICE" --images "$IMAGES" \
        --solver dpmpp2m --steps 4,6,10 --out "$OUT/compare" --results "$OUT"/result-local.json "$OUT"/result-k6.json \
        "$OUT"/result-k10.json
}

export -f wheels setup checks search ray_stage fidelity compare
export OUT SITE SHIM REPO DEVICE IMAGES EVALUATIONS
for name in "$@"; do
    case $name in
        wheels) stage wheels 900 wheels || exit 3 ;;
        setup) stage setup 120 setup || exit 3 ;;
        checks) stage checks 240 checks ;;
        ray) stage ray 300 ray_stage ;;
        fidelity) stage fidelity 300 fidelity ;;
        compare) stage compare 240 compare ;;
        *) echo "unknown stage $name"; exit 2 ;;
    esac
done
