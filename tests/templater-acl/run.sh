#!/usr/bin/env bash
# tests/templater-acl/run.sh: the whole templater suite (tests/templater/run.sh) again with
# -routing acl (one use_backend rule per route, docs/templater.md): every behaviour it checks
# holds in that mode too; the few expectations that differ (a new route costs exactly one reload,
# the routes are backends in the configuration) are chosen there by PORTOLAN_ROUTING.
export PORTOLAN_ROUTING=acl
exec bash "$(dirname "${BASH_SOURCE[0]}")/../templater/run.sh"
