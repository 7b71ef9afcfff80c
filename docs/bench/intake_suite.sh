#!/bin/bash
# Intake benchmark suite: each run in a fresh temp dir (SQLite) or a fresh schema (PG, after a CHECKPOINT,
# so no run pays for the previous run's dirty buffers). Each run ends with its busy and stolen CPU (cpu.sh).
BIN=${1:?usage: intake_suite.sh /path/to/yardmaster}
PGU='postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=lt'
run() { # label, env..., -- args
  local label=$1; shift
  echo "== $label | $(date -u +%H:%M:%S) | load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$(dirname "$0")/cpu.sh" "$@" 2>&1 | grep -v '^{' | tail -6
}
fresh() { psql -qh 127.0.0.1 -U postgres -d test -c "drop schema if exists lt cascade;" -c "create schema lt;" -c "checkpoint;" 2>/dev/null; sleep 1; }
for i in 1 2 3; do
  run "sqlite flat out #$i" $BIN loadtest --self --duration 10s --warmup 2s
  fresh; run "pg flat out #$i" env YARDMASTER_DATABASE_URL=$PGU $BIN loadtest --self --duration 10s --warmup 2s
done
for i in 1 2 3; do
  run "sqlite rate 1000 #$i" $BIN loadtest --self --rate 1000 --duration 20s --warmup 2s
  fresh; run "pg rate 1000 #$i" env YARDMASTER_DATABASE_URL=$PGU $BIN loadtest --self --rate 1000 --duration 20s --warmup 2s
done
run "sqlite flat out, 5% exceptions" $BIN loadtest --self --duration 10s --warmup 2s --exceptions 0.05
fresh; run "pg flat out, 5% exceptions" env YARDMASTER_DATABASE_URL=$PGU $BIN loadtest --self --duration 10s --warmup 2s --exceptions 0.05
