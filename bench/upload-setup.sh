# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034  # the settings come from, and $port goes to, the sourcing script
# Sourced by bench/upload.sh and bench/compare.sh, after bench/build-binaries.sh ($mock): makes the
# benchmark trees under $bench_dir (big: $big_count JPEGs of 200 KiB; small: $small_count files of
# 1 KiB; large: $LARGE_COUNT (100) camera-sized JPEGs of 4 MiB; each made once), a certificate and a token, and starts `ximup-mock --discard` over TLS on
# loopback with $mock_threads threads ($mock_pid, $port; killed on exit). Also defines
# mock_cpu_ticks and median.
mkdir -p "$bench_dir"
make_tree() {  # name count size-kib
  local dir="$bench_dir/$1"
  if [[ ! -f "$dir/.complete" ]]; then
    rm -rf "$dir"
    python3 tools/gen_images.py "$dir" --count "$2" --size-kib "$3" --nested --seed 7 >/dev/null
    touch "$dir/.complete"
  fi
}
for tree in $trees; do
  case $tree in
    big) make_tree big "$big_count" 200 ;;
    small) make_tree small "$small_count" 1 ;;
    large) make_tree large "${LARGE_COUNT:-100}" 4096 ;;
    *) echo "unknown tree '$tree' (big, small, large)" >&2; exit 2 ;;
  esac
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -keyout "$bench_dir/key.pem" \
  -out "$bench_dir/cert.pem" -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
openssl rand -hex 16 >"$bench_dir/token"
rm -f "$bench_dir/port"
"$mock" --listen 127.0.0.1:0 --cert "$bench_dir/cert.pem" --key "$bench_dir/key.pem" --token-file "$bench_dir/token" \
  --port-file "$bench_dir/port" --discard --threads "$mock_threads" >"$bench_dir/mock.log" 2>&1 &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "$bench_dir/port" ]] && break; sleep 0.1; done
port=$(cat "$bench_dir/port")

mock_cpu_ticks() { awk '{print $14 + $15}' "/proc/$mock_pid/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
