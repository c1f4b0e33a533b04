#!/bin/sh
# portolan-logging: the entrypoint of portolan/logging. Runs rsyslogd in the foreground
# (images/logging/rsyslog.conf) and logrotate (images/logging/logrotate.conf) every
# PORTOLAN_LOG_ROTATE_INTERVAL seconds (default 60); TERM stops both.
# The node table /var/lib/portolan-logging/nodes.json starts empty when there is none.
set -u
interval=${PORTOLAN_LOG_ROTATE_INTERVAL:-60}
case $interval in ''|*[!0-9]*) echo "portolan-logging: PORTOLAN_LOG_ROTATE_INTERVAL must be seconds, got '$interval'" >&2; exit 2 ;; esac
mkdir -p /var/log/portolan /var/lib/portolan-logging
[ -s /var/lib/portolan-logging/nodes.json ] ||
  echo '{"version":1,"nomatch":"","type":"string","table":[]}' >/var/lib/portolan-logging/nodes.json
out=$(/usr/sbin/rsyslogd -N1 -f /etc/rsyslog.conf 2>&1) ||
  { echo "$out" >&2; echo "portolan-logging: /etc/rsyslog.conf refused by rsyslogd -N1" >&2; exit 1; }
rm -f /run/rsyslogd.pid
/usr/sbin/rsyslogd -n -f /etc/rsyslog.conf -i /run/rsyslogd.pid &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 0' TERM INT
while kill -0 $pid 2>/dev/null; do
  sleep "$interval" &
  wait $!
  /usr/sbin/logrotate -s /var/lib/portolan-logging/logrotate.state /etc/logrotate.conf ||
    echo "portolan-logging: logrotate failed" >&2
done
wait $pid
