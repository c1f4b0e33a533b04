#!/usr/bin/env bash
# tests/templater-maps/run.sh: the whole templater suite (tests/templater/run.sh) again with
# -routing maps (HAProxy maps and pooled backends, docs/templater.md): every behaviour it checks
# holds in that mode too; the few expectations that differ (a new route costs no reload, the
# routes are in the map files) are chosen there by PORTOLAN_ROUTING.
export PORTOLAN_ROUTING=maps
exec bash "$(dirname "${BASH_SOURCE[0]}")/../templater/run.sh"
