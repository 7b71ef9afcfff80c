#!/bin/bash
# Alternating flat-out PostgreSQL runs of several binaries, each in a fresh
# schema lt after a CHECKPOINT, so no run inherits another's dirty buffers.
# usage: pg_ab.sh ROUNDS /path/to/yardmaster-a /path/to/yardmaster-b ...
PGU='postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=lt'
N=${1:?usage: pg_ab.sh ROUNDS BINARY...}; shift
for i in $(seq "$N"); do
  for b in "$@"; do
    psql -qh 127.0.0.1 -U postgres -d test -c "drop schema if exists lt cascade;" -c "create schema lt;" -c "checkpoint;" 2>/dev/null
    sleep 1
    r=$(YARDMASTER_DATABASE_URL=$PGU "$(dirname "$0")/cpu.sh" "$b" loadtest --self --duration 10s --warmup 2s 2>&1 | grep -v '^{' | tr '\n' ' ')
    echo "$(date -u +%H:%M:%S) $b $(echo "$r" | grep -o '([0-9]* events/s)') $(echo "$r" | grep -o 'p99 [0-9.]*') $(echo "$r" | grep -o 'stolen [0-9]*%')"
  done
done
