# The stack kit's environment, sourced by benchmark scripts on the GPU device host (no .NET or servers there):
#   source /root/carry/stack-kit/env.sh        (or: KIT=/elsewhere source .../env.sh)
# Sets:
#   KIT              the kit's folder (this file's, else $KIT, else /root/carry/stack-kit)
#   DOTNET_ROOT      $KIT/dotnet (the .NET 10 runtime; `dotnet X.dll` runs the apps)
#   PATH             $KIT/bin ($KIT/dotnet's dotnet, wrk, curl, redis-cli, redis-server, psql, erl, epmd) first
#   LD_LIBRARY_PATH  the kit's ICU 72 (.NET takes the newest libicu it finds, the host's if newer), CUDA 13 and
#                    cuDNN 9 (ONNX Runtime's CUDA provider); the servers' libraries are set only by their wrappers
#                    and servers.sh
#   KIT_API KIT_WORKER KIT_LOAD KIT_BENCH   the apps' dlls: `dotnet "$KIT_WORKER"` (worker and bench are built on
#                    ONNX Runtime's GPU package: Worker__Onnx__Device=Cuda or Cpu)
#   KIT_HAS_CUDA     1 when ONNX Runtime's CUDA provider is in place (the stack-cuda parts, unpacked beside the kit
#                    at /root/carry/stack-cuda: apps/*/libonnxruntime_providers_cuda.so link there), else 0
#   KIT_SERVERS      $KIT/servers.sh: `eval "$(bash "$KIT_SERVERS" start)"` exports EMBEDDING_TEST_REDIS,
#                    EMBEDDING_TEST_RABBITMQ, EMBEDDING_TEST_RABBITMQ_MANAGEMENT, EMBEDDING_TEST_POSTGRES;
#                    `bash "$KIT_SERVERS" stop` stops them (STATE, ports: see servers.sh)
_kit_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -x "$_kit_here/dotnet/dotnet" ]; then KIT="$_kit_here"; else KIT="${KIT:-/root/carry/stack-kit}"; fi
unset _kit_here
[ -x "$KIT/dotnet/dotnet" ] || { echo "env.sh: no stack kit at $KIT (send the stack-kit parts first)" >&2; return 1 2>/dev/null || exit 1; }
export KIT
export DOTNET_ROOT="$KIT/dotnet" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export PATH="$KIT/bin:$PATH"
export LD_LIBRARY_PATH="$KIT/icu:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export KIT_API="$KIT/apps/api/Embedding.Api.dll" KIT_WORKER="$KIT/apps/worker/Embedding.Worker.dll" \
       KIT_LOAD="$KIT/apps/load/Embedding.Load.dll" KIT_BENCH="$KIT/apps/bench/Embedding.Bench.dll" \
       KIT_SERVERS="$KIT/servers.sh"
if [ -f "$KIT/apps/worker/libonnxruntime_providers_cuda.so" ]; then export KIT_HAS_CUDA=1; else export KIT_HAS_CUDA=0; fi
