#!/usr/bin/env bash
# toxiproxy's HTTP API with curl, as a shell user drives it: status codes and bodies.
# Usage: scripts/toxiproxy-curl.sh API_ADDR UPSTREAM_ADDR   (e.g. 127.0.0.1:8474 127.0.0.1:9443)
# The API must be running (`rrbench serve-api`) with no proxy named "curl"; UPSTREAM_ADDR need
# not answer. Prints one line per check; exits non-zero at the first that fails.
set -euo pipefail
api="http://$1"
upstream="$2"
body=$(mktemp)
trap 'rm -f "$body"' EXIT

# check METHOD PATH STATUS [DATA] [SUBSTRING]: the status must match and the body contain SUBSTRING.
check() {
    local method="$1" path="$2" want="$3" data="${4:-}" contains="${5:-}"
    local args=(-s -o "$body" -w '%{http_code}' -X "$method" --max-time 5)
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' -d "$data")
    local got
    got=$(curl "${args[@]}" "$api$path")
    if [ "$got" != "$want" ]; then
        echo "FAIL $method $path: status $got, want $want: $(cat "$body")" >&2
        exit 1
    fi
    if [ -n "$contains" ] && ! grep -qF -- "$contains" "$body"; then
        echo "FAIL $method $path: body lacks $contains: $(cat "$body")" >&2
        exit 1
    fi
    echo "ok   $method $path -> $got"
}

# check_allow METHOD PATH ALLOW: a 405 whose Allow header lists exactly ALLOW.
check_allow() {
    local method="$1" path="$2" want="$3"
    local got
    got=$(curl -s -o /dev/null -D - -X "$method" --max-time 5 "$api$path" \
        | tr -d '\r' | sed -n 's/^[Aa]llow: //p')
    if [ "$got" != "$want" ]; then
        echo "FAIL $method $path: Allow \"$got\", want \"$want\"" >&2
        exit 1
    fi
    echo "ok   $method $path -> Allow: $got"
}

check GET /version 200 "" '"version":"2.'
check POST /proxies 201 "{\"name\":\"curl\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$upstream\"}" '"enabled":true'
check POST /proxies 409 "{\"name\":\"curl\",\"upstream\":\"$upstream\"}" '{"error":"proxy already exists","status":409}'
check GET /proxies/nope 404 "" '{"error":"proxy not found","status":404}'
check POST /proxies 400 '{"name":"no-upstream"}' '"missing required field: upstream"'
check POST /proxies 400 'not json' '"bad request body'
check GET /proxies 200 "" '"curl":{'
check POST /proxies/curl/toxics 200 '{"type":"latency","attributes":{"latency":50,"jitter":5}}' '"name":"latency_downstream"'
check POST /proxies/curl/toxics 409 '{"type":"latency","attributes":{"latency":50}}' '"toxic already exists"'
check POST /proxies/curl/toxics 400 '{"type":"teleport"}' '"invalid toxic type'
check POST /proxies/curl/toxics 400 '{"type":"slicer","attributes":{"average_size":64,"size_variation":64}}' 'size_variation'
check POST /proxies/curl/toxics 200 '{"type":"slicer","attributes":{"average_size":64,"size_variation":8,"delay":100}}' '"name":"slicer_downstream"'
check POST /proxies/curl/toxics 200 '{"type":"timeout","stream":"upstream","attributes":{"timeout":100}}' '"timeout":100'
check POST /proxies/curl/toxics 200 '{"type":"reset_peer","attributes":{"timeout":100}}' '"name":"reset_peer_downstream"'
check POST /proxies/curl/toxics 200 '{"type":"limit_data","name":"cap","attributes":{"bytes":1000}}' '"bytes":1000'
check DELETE /proxies/curl/toxics/slicer_downstream 204
check DELETE /proxies/curl/toxics/timeout_upstream 204
check DELETE /proxies/curl/toxics/reset_peer_downstream 204
check DELETE /proxies/curl/toxics/cap 204
check POST /proxies/curl/toxics 400 '{"type":"latency","stream":"sideways"}' '"stream was invalid'
check POST /proxies/curl/toxics 400 '{"type":"bandwidth","attributes":{"rate":-1}}' 'whole number'
check POST /proxies/nope/toxics 404 '{"type":"latency"}' '"proxy not found"'
check POST /proxies/curl/toxics 200 '{"type":"bandwidth","stream":"upstream","toxicity":0.5,"attributes":{"rate":100}}' '"toxicity":0.5'
check GET /proxies/curl/toxics 200 "" '"bandwidth_upstream"'
check PATCH /proxies/curl/toxics/latency_downstream 200 '{"attributes":{"latency":80}}' '"latency":80'
check GET /proxies/curl/toxics/latency_downstream 200 "" '"jitter":5'
check GET /proxies/curl/toxics/nope 404 "" '{"error":"toxic not found","status":404}'
check DELETE /proxies/curl/toxics/latency_downstream 204
check DELETE /proxies/curl/toxics/latency_downstream 404 "" '"toxic not found"'
check POST /proxies/curl 200 '{"enabled":false}' '"enabled":false'
check POST /reset 204
check GET /proxies/curl 200 "" '"toxics":[]'
check GET /proxies/curl 200 "" '"enabled":true'
check POST /populate 201 "[{\"name\":\"curl-2\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"$upstream\"}]" '"proxies":[{'
check POST /populate 400 '[{"name":"x"}]' '"missing required field: upstream at proxy 1"'
check DELETE /proxies/curl-2 204
check DELETE /proxies/curl 204
check GET /proxies/curl 404 "" '"proxy not found"'
check PUT /proxies 405 "" '"status":405'
check_allow PUT /proxies 'GET, POST'
check_allow DELETE /version 'GET'
check_allow PUT /proxies/x/toxics/y 'GET, POST, PATCH, DELETE'
echo "toxiproxy-curl: every check passed"
