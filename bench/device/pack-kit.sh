#!/usr/bin/env bash
# Builds the stack kit: everything the whole service needs on the GPU device host, which has no .NET, RabbitMQ, Redis,
# PostgreSQL, wrk or internet (Python, CUDA 13 and cuDNN 9 are there). Then packs it into device-carry parts.
#   bash bench/device/pack-kit.sh            # build .kit/stack-kit, pack .carry/stack-kit-NN (needs a Debian bookworm host)
#   NO_PACK=1 ... builds only; NO_BUILD=1 ... packs the kit already built; PART_MB (36): part size
# Kit contents (unpacked on the device at /root/carry/stack-kit):
#   dotnet/        the .NET runtime (host, Microsoft.NETCore.App, Microsoft.AspNetCore.App; no SDK)
#   apps/api, apps/worker, apps/load, apps/bench   framework-dependent Release publishes; worker and bench on
#                  Microsoft.ML.OnnxRuntime.Gpu.Linux (-p:OnnxRuntimeGpu=true: Worker:Onnx:Device=Cuda, and Cpu)
#   root/          Debian bookworm packages unpacked (dpkg -x): Erlang, RabbitMQ, Redis, PostgreSQL 15, wrk, curl
#   lib/           every shared library those need beyond glibc and libstdc++ (copied from this bookworm host)
#   icu/           ICU 72 for .NET, where the host has no libicu
#   bin/           wrappers on PATH: wrk, curl, redis-cli, redis-server, psql, erl, epmd
#   env.sh, servers.sh   (bench/device/kit/; interface at the top of each and in docs/benchmarks.md)
# Identical files across apps/ are hard links, which tar stores once. ONNX Runtime's CUDA provider (290 MB, 180 MB
# packed) is apart, in .kit/stack-cuda -> parts .carry/stack-cuda-NN -> /root/carry/stack-cuda; env.sh links it in.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
KIT="${KIT_DIR:-$ROOT/.kit/stack-kit}"
CUDA="$(dirname "$KIT")/stack-cuda"  # the CUDA provider alone: packed apart, so a CPU-only run can leave it behind
DEBS="$ROOT/.kit/debs"
EXCLUDE="$(git rev-parse --git-common-dir)/info/exclude"
grep -qxF '/.kit/' "$EXCLUDE" 2>/dev/null || echo '/.kit/' >> "$EXCLUDE"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
if [ -z "${NO_BUILD:-}" ]; then  # NO_BUILD=1: pack the kit already built
rm -rf "$KIT" "$CUDA"; mkdir -p "$KIT"/{apps,lib,icu,bin} "$DEBS" "$CUDA"

log ".NET runtime"
DOTNET_HOME="$(dirname "$(readlink -f "$(command -v dotnet)")")"
mkdir -p "$KIT/dotnet/shared"
cp -a "$DOTNET_HOME/dotnet" "$DOTNET_HOME/host" "$DOTNET_HOME/LICENSE.txt" "$DOTNET_HOME/ThirdPartyNotices.txt" "$KIT/dotnet/" 2>/dev/null || true
cp -a "$DOTNET_HOME/shared/Microsoft.NETCore.App" "$DOTNET_HOME/shared/Microsoft.AspNetCore.App" "$KIT/dotnet/shared/"

log "apps (framework-dependent Release publishes)"
publish() {  # NAME PROJECT [extra args]
  local name=$1 proj=$2; shift 2
  # linux-x64 only: a portable publish carries every platform's native libraries (the load tool's Skia: 150 MB).
  dotnet publish "$proj" -c Release -r linux-x64 --no-self-contained -o "$KIT/apps/$name" -nologo -v q "$@" >&2
}
publish worker src/Embedding.Worker/Embedding.Worker.csproj -p:OnnxRuntimeGpu=true
# Bench references both the worker and the API, whose appsettings.json are the same (logging levels only).
publish bench tools/Embedding.Bench/Embedding.Bench.csproj -p:OnnxRuntimeGpu=true -p:ErrorOnDuplicatePublishOutputFiles=false
publish api src/Embedding.Api/Embedding.Api.csproj
publish load tools/Embedding.Load/Embedding.Load.csproj
# The GPU builds restored the worker's obj/ for the GPU package; a plain build here should get the CPU one back.
dotnet restore src/Embedding.Worker/Embedding.Worker.csproj -v q >/dev/null 2>&1 || true
dotnet restore tools/Embedding.Bench/Embedding.Bench.csproj -v q >/dev/null 2>&1 || true
# TensorRT is not on the device and no tier uses it.
find "$KIT/apps" -name libonnxruntime_providers_tensorrt.so -delete
# Hard-link identical files (the CUDA provider alone is 290 MB, in worker and bench).
find "$KIT/apps" -type f -print0 | xargs -0 sha256sum | sort | awk '{ if ($1 == h) print f "\t" $2; else { h = $1; f = $2 } }' |
  while IFS=$'\t' read -r first dup; do ln -f "$first" "$dup"; done
# ONNX Runtime loads it from libonnxruntime.so's folder, only for Device=Cuda; env.sh puts it back in place
# (a hard link from /root/carry/stack-cuda) when those parts came too.
for f in "$KIT"/apps/*/libonnxruntime_providers_cuda.so; do
  [ -f "$CUDA/libonnxruntime_providers_cuda.so" ] || mv "$f" "$CUDA/"
  ln -sf ../../../stack-cuda/libonnxruntime_providers_cuda.so "$f"
done

log "Debian packages"
PKGS=(erlang-base erlang-asn1 erlang-crypto erlang-eldap erlang-inets erlang-mnesia erlang-os-mon erlang-parsetools
      erlang-public-key erlang-runtime-tools erlang-ssl erlang-syntax-tools erlang-tools erlang-xmerl
      rabbitmq-server redis-server redis-tools postgresql-15 postgresql-client-15 libpq5 wrk libluajit-5.1-2 curl libcurl4)
missing=(); for p in "${PKGS[@]}"; do compgen -G "$DEBS/${p}_*.deb" >/dev/null || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || (cd "$DEBS" && apt-get download "${missing[@]}" 2>&1 | grep -v unsandboxed >&2)
for p in "${PKGS[@]}"; do dpkg -x "$(ls "$DEBS/${p}"_*.deb | tail -1)" "$KIT/root"; done
# Not needed to serve: docs, translations, the JIT (it would need libLLVM, 100 MB), redis' benchmark tools.
rm -rf "$KIT/root/usr/share/doc" "$KIT/root/usr/share/man" "$KIT/root/usr/share/locale" "$KIT/root/usr/share/lintian" \
       "$KIT/root/usr/lib/postgresql/15/lib/bitcode" "$KIT/root/usr/lib/postgresql/15/lib/llvmjit"* \
       "$KIT/root/usr/bin/redis-benchmark" "$KIT/root/usr/bin/redis-check-aof" "$KIT/root/etc" "$KIT/root/var" "$KIT/root/lib"
# Trimmed so that the kit without the CUDA provider packs into 4 parts of 36 MiB, about 119 MiB (with erlang-snmp, -ftp and -tftp, which no
# RabbitMQ application lists, left out above): PostgreSQL's tools beyond psql/initdb/pg_ctl and its contrib modules,
# .NET's debugger support.
rm -rf "$KIT/root/usr/share/postgresql/15/man" "$KIT/root/usr/lib/ocf" "$KIT/root/usr/bin/rabbitmqadmin"
( cd "$KIT/root/usr/lib/postgresql/15/bin" &&
  ls | grep -vxE 'postgres|postmaster|initdb|psql|pg_ctl|pg_isready|pg_config|pg_controldata' | xargs rm -f )
( cd "$KIT/root/usr/lib/postgresql/15/lib" &&
  ls | grep -vxE 'plpgsql\.so|dict_snowball\.so|libpqwalreceiver\.so|pgoutput\.so|.*_and_.*\.so|euc2004_sjis2004\.so' | xargs rm -rf )
( cd "$KIT/root/usr/share/postgresql/15/extension" && ls | grep -v '^plpgsql' | xargs rm -f )
rm -f "$KIT"/dotnet/shared/Microsoft.NETCore.App/*/{libmscordaccore.so,libmscordbi.so,createdump}
# RabbitMQ's plugins beyond the management API and what the broker itself loads.
for d in "$KIT"/root/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_*; do
  case "$(basename "$d")" in
    rabbitmq_management-*|rabbitmq_management_agent-*|rabbitmq_web_dispatch-*|rabbitmq_prelaunch-*|rabbitmq_peer_discovery_common-*) ;;
    *) rm -rf "$d" ;;
  esac
done

# Debian's erl scripts pin ROOTDIR=/usr/lib/erlang; these find the root from where they are.
ERL="$KIT/root/usr/lib/erlang"
sed -i 's|^\( *\)ROOTDIR=/usr/lib/erlang$|\1ROOTDIR="$(cd "$(dirname "$(readlink -f "$0")")/.." \&\& pwd)"|' "$ERL/bin/erl"
sed -i 's|^\( *\)ROOTDIR=/usr/lib/erlang$|\1ROOTDIR="$(cd "$(dirname "$(readlink -f "$0")")/../.." \&\& pwd)"|' "$ERL"/erts-*/bin/erl
grep -q '/usr/lib/erlang' "$ERL/bin/erl" "$ERL"/erts-*/bin/erl && { echo "erl still names /usr/lib/erlang" >&2; exit 1; }

log "shared libraries"
is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
KIT_LIBPATH="$KIT/root/usr/lib/x86_64-linux-gnu:$KIT/root/usr/lib/postgresql/15/lib"
# glibc and the C++ runtime stay the host's (the device has both, newer: it runs torch).
SKIP='^(linux-vdso|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libresolv|libutil\.so|ld-linux|libstdc\+\+|libgcc_s)'
find "$KIT/root" -type f \( -perm -u+x -o -name '*.so*' \) | while read -r f; do is_elf "$f" && echo "$f"; done |
  xargs -r env LD_LIBRARY_PATH="$KIT_LIBPATH" ldd 2>/dev/null | awk '/=> \// { print $1, $3 }' | sort -u |
  while read -r name path; do
    [[ $name =~ $SKIP ]] && continue
    [ -e "$KIT/lib/$name" ] || cp -L "$path" "$KIT/lib/$name"
  done
unresolved=$(find "$KIT/root" -type f \( -perm -u+x -o -name '*.so*' \) | while read -r f; do is_elf "$f" && echo "$f"; done |
  xargs -r env LD_LIBRARY_PATH="$KIT/lib:$KIT_LIBPATH" ldd 2>/dev/null | grep 'not found' | sort -u || true)
[ -z "$unresolved" ] || { echo "unresolved libraries (add their packages to PKGS):"$'\n'"$unresolved" >&2; exit 1; }
for f in "$KIT"/lib/libicu*.so.72; do ln -f "$f" "$KIT/icu/"; done

log "wrappers, env.sh, servers.sh"
wrap() {  # NAME TARGET (relative to the kit)
  cat > "$KIT/bin/$1" <<W
#!/bin/sh
# The kit's $1, with the kit's libraries.
k="\$(cd "\$(dirname "\$(readlink -f "\$0")")/.." && pwd)"
LD_LIBRARY_PATH="\$k/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$k/$2" "\$@"
W
  chmod +x "$KIT/bin/$1"
}
wrap wrk root/usr/bin/wrk
wrap curl root/usr/bin/curl
wrap redis-cli root/usr/bin/redis-cli
wrap redis-server root/usr/bin/redis-server
wrap psql root/usr/lib/postgresql/15/bin/psql
wrap erl root/usr/lib/erlang/bin/erl
wrap epmd root/usr/lib/erlang/bin/epmd
ln -s ../dotnet/dotnet "$KIT/bin/dotnet"
cp bench/device/kit/env.sh bench/device/kit/servers.sh "$KIT/"
chmod +x "$KIT/servers.sh"
{ echo "stack kit built $(date -u +%FT%TZ) from $(git rev-parse --short HEAD) on $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "needs glibc >= $(find "$KIT/root" "$KIT/lib" -type f | while read -r f; do is_elf "$f" && echo "$f"; done | xargs -r objdump -T 2>/dev/null |
    grep -o 'GLIBC_[0-9.]*' | sort -t. -k2,2n -u | tail -1)"
  echo "dotnet $(ls "$KIT/dotnet/shared/Microsoft.NETCore.App")"; } > "$KIT/VERSION"
cat "$KIT/VERSION" >&2
log "kit: $(du -sh "$KIT" | cut -f1) on disk (hard links counted once)"
fi

[ -n "${NO_PACK:-}" ] && exit 0
log "packing"
# device-carry writes .git/info/exclude, which a git worktree does not have: it packs in a scratch repository.
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
git init -q "$scratch"
grep -qxF '/.carry/' "$EXCLUDE" || echo '/.carry/' >> "$EXCLUDE"
mkdir -p .carry
# A device call carries the working tree too, 64 MiB in all: 36 MiB parts leave 28 MiB for the tree (25 MiB here);
# PART_MB=N packs smaller parts for a bigger tree.
PART_MB=${PART_MB:-36}
sed "s/split -b 40M/split -b ${PART_MB}M/" "${DEVICE_CARRY:-$ROOT/../shared/tools/device-carry}" > "$scratch/device-carry"
tree_mib=$(( $(git ls-files -co --exclude-standard -z | xargs -0 stat -c %s | awk '{ s += $1 } END { print s }') / 1048576 ))
[ $(( tree_mib + ${PART_MB} )) -lt 64 ] || log "WARNING: working tree $tree_mib MiB + ${PART_MB} MiB parts: over 64 MiB a call (set PART_MB)"
pack() {  # DIR NAME
  (cd "$scratch" && bash "$scratch/device-carry" pack "$1" "$2") | grep -v '^ *carry \[' >&2
  rm -rf .carry/"$2"-[0-9][0-9]; mv "$scratch"/.carry/"$2"-[0-9][0-9] .carry/
}
pack "$KIT" stack-kit
# The provider is the NuGet package's file: unchanged since the last pack, its parts stay.
sum="$(sha256sum "$CUDA/libonnxruntime_providers_cuda.so" | cut -d' ' -f1) ${PART_MB}"
if [ "$(cat .carry/stack-cuda.sha256 2>/dev/null)" != "$sum" ] || ! ls -d .carry/stack-cuda-[0-9][0-9] >/dev/null 2>&1; then
  pack "$CUDA" stack-cuda; echo "$sum" > .carry/stack-cuda.sha256
fi
for n in stack-kit stack-cuda; do
  log "$n: $(du -ch .carry/$n-[0-9][0-9]/part* | tail -1 | cut -f1) in $(ls -d .carry/$n-[0-9][0-9] | wc -l) parts"
done
echo "Send in order, one device call each (no pause over the machine's warm window); stack-cuda only for Device=Cuda:"
for d in .carry/stack-kit-[0-9][0-9] .carry/stack-cuda-[0-9][0-9]; do echo "  carry [\"$d\"]  command: bash $d/recv"; done
