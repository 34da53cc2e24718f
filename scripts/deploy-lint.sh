#!/usr/bin/env bash
# Lints deploy/ without running any of it (no systemd as PID 1, no docker here):
#   - the systemd unit, alone and with its L3 drop-in: `systemd-analyze verify` (package
#     `systemd`) under a temporary root that holds the unit and stand-ins for the commands its
#     Exec*= lines name (/usr/local/bin/rrbench is not installed here, and verify refuses a unit
#     whose command does not exist), then `systemd-analyze security --offline` on the unit
#     alone, which fails above an exposure of 2.5 (it scores 1.5 when this was written);
#   - deploy/Dockerfile: the checks below. hadolint, the usual Dockerfile linter, is not packaged
#     in Debian, so these few rules are checked here instead: every FROM pinned to a tag (not
#     `latest`) or a digest, the builder on the workspace's rust-version, `cargo build --release
#     --locked`, no ADD of a URL, a USER that is not root in the final stage, ENTRYPOINT and CMD
#     in exec (JSON array) form, EXPOSE 7070, volumes for /etc/rrbench and /var/lib/rrbench.
# Usage: scripts/deploy-lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."

failures=0
fail() {
    echo "deploy-lint: $*" >&2
    failures=$((failures + 1))
}

unit=deploy/rrbench-agent.service
dropin=deploy/rrbench-agent.service.d/l3-link.conf
dockerfile=deploy/Dockerfile

# --- the systemd unit
if ! command -v systemd-analyze >/dev/null; then
    echo "deploy-lint: systemd-analyze is missing: apt-get install -y systemd" >&2
    exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# A root holding the unit (and, when $2 is given, its drop-in) and an executable stand-in for
# every absolute command an Exec*= line names (after its prefixes such as '-' and '+').
make_root() {
    local dir=$1
    shift
    rm -rf "$dir"
    install -D -m 0644 "$unit" "$dir/etc/systemd/system/rrbench-agent.service"
    if [ $# -gt 0 ]; then
        install -D -m 0644 "$1" "$dir/etc/systemd/system/rrbench-agent.service.d/$(basename "$1")"
    fi
    local cmd
    for cmd in $(sed -n 's/^Exec[A-Za-z]*=[-+!@:|]*\(\/[^ ]*\).*/\1/p' "$unit" "$@"); do
        install -D -m 0755 /dev/null "$dir$cmd"
    done
}

verify() {
    local what=$1
    shift
    make_root "$root/$what" "$@"
    local out
    if ! out=$(systemd-analyze verify --man=no --recursive-errors=no --root="$root/$what" \
        rrbench-agent.service 2>&1) || [ -n "$out" ]; then
        fail "systemd-analyze verify ($what): ${out:-non-zero exit}"
    else
        echo "ok: systemd-analyze verify $what"
    fi
}
verify unit
verify unit+l3-link "$dropin"

# --threshold counts tenths of the exposure it prints (its default, 100, is the 10.0 maximum).
if security=$(systemd-analyze security --offline=yes --threshold=25 --root="$root/unit" \
    rrbench-agent.service 2>&1); then
    status=ok
else
    status=failed
fi
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$security")
if [ "$status" = ok ]; then
    echo "ok: systemd-analyze security: exposure ${score:-?} (at most 2.5)"
else
    fail "systemd-analyze security: exposure ${score:-?} is above 2.5, or it failed: $(tail -n 3 <<<"$security")"
fi

# --- the Dockerfile
before_dockerfile=$failures
[ -f "$dockerfile" ] || fail "$dockerfile is missing"
# Instructions one a line: comments dropped, continuation lines joined.
instructions=$(awk '
    /^[[:space:]]*#/ { next }
    { line = line $0 }
    /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, " ", line); next }
    { if (line ~ /[^[:space:]]/) print line; line = "" }
' "$dockerfile")
keyword() { grep -iE "^[[:space:]]*$1([[:space:]]|$)" <<<"$instructions" || true; }

stages=()
while read -r _ image rest; do
    [ -n "${image:-}" ] || continue
    earlier=no
    [[ " ${stages[*]:-} " == *" $image "* ]] && earlier=yes
    if [[ "$rest" =~ [Aa][Ss][[:space:]]+([^[:space:]]+) ]]; then
        stages+=("${BASH_REMATCH[1]}")
    fi
    [ "$earlier" = no ] || continue # FROM an earlier stage: pinned where that one is
    case "$image" in
    *@sha256:*) ;;
    *:latest | *:latest@*) fail "FROM $image: pin a version, not latest" ;;
    *:*) ;;
    *) fail "FROM $image: no tag or digest (pin it)" ;;
    esac
done < <(keyword FROM)
[ -n "$(keyword FROM)" ] || fail "$dockerfile has no FROM"

rust_version=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
first_from=$(keyword FROM | head -n 1 | awk '{print $2}')
[[ "$first_from" == rust:"$rust_version"* ]] ||
    fail "the builder is FROM $first_from, not rust:$rust_version (Cargo.toml's rust-version)"
keyword RUN | grep -q 'cargo build --release --locked' ||
    fail "no RUN cargo build --release --locked"

keyword ADD | grep -qiE '(https?|ftp)://|git@' && fail "ADD of a URL: fetch in a RUN, checked, or COPY"

# The final stage: from the last FROM on.
final=$(awk 'toupper($1) == "FROM" { stage = "" } { stage = stage $0 "\n" } END { printf "%s", stage }' \
    <<<"$instructions")
final_user=$( (grep -iE '^[[:space:]]*USER[[:space:]]' <<<"$final" || true) | tail -n 1 | awk '{print $2}')
case "${final_user%%:*}" in
"") fail "no USER in the final stage: it would run as root" ;;
root | 0) fail "USER $final_user: the final stage runs as root" ;;
esac
for word in ENTRYPOINT CMD; do
    line=$(grep -iE "^[[:space:]]*$word[[:space:]]" <<<"$final" | tail -n 1 || true)
    if [ "$word" = ENTRYPOINT ] && [ -z "$line" ]; then
        fail "no ENTRYPOINT in the final stage"
    elif [ -n "$line" ] && ! [[ "$line" =~ ^[[:space:]]*[A-Za-z]+[[:space:]]+\[.*\][[:space:]]*$ ]]; then
        fail "$word is in shell form (signals go to /bin/sh, not the agent): $line"
    fi
done
keyword ENTRYPOINT | grep -q '"agent"' || fail "the ENTRYPOINT does not run the agent"
keyword EXPOSE | grep -qw 7070 || fail "no EXPOSE 7070"
for volume in /etc/rrbench /var/lib/rrbench; do
    keyword VOLUME | grep -q "\"$volume\"" || fail "no VOLUME $volume"
done
[ "$failures" -eq "$before_dockerfile" ] && echo "ok: $dockerfile (FROM pinned, USER ${final_user}, exec form, no ADD of a URL)"

# The unit and the image start the agent with the same flags.
for flag in --listen --cert --key --api-keys --data-dir; do
    grep -q -- "$flag" "$unit" || fail "$unit does not pass $flag"
    grep -q -- "\"$flag\"" "$dockerfile" || fail "$dockerfile does not pass $flag"
done

if [ "$failures" -ne 0 ]; then
    echo "deploy-lint: $failures problem(s)" >&2
    exit 1
fi
echo "deploy-lint: every check passed"
