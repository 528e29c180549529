# Shared helpers for the ops/ scripts. Sourced, never run.

# The project root, whatever the caller's working directory.
GL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Puts PostgreSQL's server binaries on PATH; Debian keeps them outside it.
find_postgres_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    return 0
  fi
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ]; then
      PATH="$dir:$PATH"
      export PATH
      return 0
    fi
  done
  return 1
}

# Installs the PostgreSQL server and client through apt-get when missing.
ensure_postgres_installed() {
  if find_postgres_bin && command -v psql >/dev/null 2>&1; then
    return 0
  fi
  log "PostgreSQL not found: installing it with apt-get"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-client >/dev/null
  find_postgres_bin || die "PostgreSQL installed, but initdb is still not found"
}

# Installs Debian packages through apt-get when their command is missing:
# ensure_command wrk wrk. Returns 1 (after a warning) when that fails.
ensure_command() {
  local command="$1" package="$2"
  command -v "$command" >/dev/null 2>&1 && return 0
  log "$command not found: installing $package with apt-get"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null; } \
    || { log "could not install $package"; return 1; }
}

# ClamAV's scanner and sigtool (Debian's clamav), for scanning documents.
ensure_clamav() {
  ensure_command clamscan clamav && ensure_command sigtool clamav
}

# The text ClamAV finds by the test signature ops/run and the tests make with
# sigtool (no signatures can be downloaded here): not a virus.
GL_TEST_VIRUS_TEXT="GRANTLEDGER-TEST-VIRUS: not a virus; ClamAV finds it by a test signature made with sigtool"

# Makes .data/clamav/grantledger-test.hsb, a ClamAV database holding only
# the test signature (of .data/clamav/test-virus.txt), and prints its path.
make_test_signatures() {
  mkdir -p "$GL_ROOT/.data/clamav"
  printf '%s\n' "$GL_TEST_VIRUS_TEXT" > "$GL_ROOT/.data/clamav/test-virus.txt"
  sigtool --sha256 "$GL_ROOT/.data/clamav/test-virus.txt" > "$GL_ROOT/.data/clamav/grantledger-test.hsb"
  printf '%s\n' "$GL_ROOT/.data/clamav/grantledger-test.hsb"
}

# Sets GRANTLEDGER_VIRUS_SCAN, unless it is set, to scan with ClamAV: its
# downloaded signatures when there are some, else (freshclam needs the
# internet) a database of the test signature alone, said loudly.
ensure_virus_scan() {
  [ -n "${GRANTLEDGER_VIRUS_SCAN:-}" ] && return 0
  ensure_clamav || return 0
  ls /var/lib/clamav/*.c[vl]d >/dev/null 2>&1 && return 0
  export GRANTLEDGER_VIRUS_SCAN="clamscan -d $(make_test_signatures)"
  log "WARNING: ClamAV has no signatures here (run freshclam where the internet is reachable); scanning with the test signature only: .data/clamav/test-virus.txt is 'infected'"
}

# Prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  # Below the kernel's range for outgoing connections: a port one of those
  # holds refuses to be bound, though nothing listens on it.
  local port low=32768
  [ -r /proc/sys/net/ipv4/ip_local_port_range ] && read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  [ "$low" -gt 21000 ] || low=50000
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % (low - 20000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found on 127.0.0.1"
}

# Removes a throwaway cluster's folder, and where it really lives when
# ops/postgres had to keep it elsewhere (linked from the folder).
remove_cluster_dir() {
  [ -L "$1" ] && rm -rf "$(readlink -f "$1")"
  rm -rf "$1"
}
