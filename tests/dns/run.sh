#!/usr/bin/env bash
# Suite "dns": portolan-catalog's DNS interface through two independent clients, Debian's dig
# (bind9-dnsutils) and dnspython (python3-dnspython), over UDP and TCP: SRV and A answers with
# only the healthy instances, tag and RFC 2782 forms, the documented name mapping (hello/v1 ->
# hello-v1), NXDOMAIN vs NOERROR-empty, truncation with TC and the TCP retry, nodes.
. "$(dirname "$0")/../lib.sh"

CAT="$BUILD/portolan-catalog"
[ -x "$CAT" ] || { not_ok "portolan-catalog is built"; done_testing; exit 1; }
PY=/usr/bin/python3
command -v dig >/dev/null || { not_ok "dig is installed (bind9-dnsutils)"; done_testing; exit 1; }
$PY -c 'import dns.resolver' 2>/dev/null || { not_ok "dnspython is installed (python3-dnspython)"; done_testing; exit 1; }

# a free port for both UDP and TCP
free_dns_port() {
  $PY -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: u.close(); t.close()'
}
DP=$(free_dns_port)
start_catalog -node dnsnode -dns-listen "127.0.0.1:$DP"
C=http://$CATALOG_ADDR
DIG="dig @127.0.0.1 -p $DP +time=5 +tries=1"

for i in 1 2 3; do
  curl -sf -X PUT -d "{\"Name\":\"hello/v1\",\"ID\":\"hello-$i\",\"Address\":\"10.0.0.$i\",\"Port\":$((8000 + i)),\"Tags\":[\"rest\"],\"Check\":{\"TTL\":\"60s\",\"Status\":\"passing\"}}" \
    "$C/v1/agent/service/register" -o /dev/null
done
curl -sf -X PUT "$C/v1/agent/check/fail/service:hello-2" -o /dev/null

# --- dig ---
srv=$($DIG +short hello-v1.service.consul SRV | sort)
check_eq "dig: SRV for 3 instances with one critical gives 2 answers" "2" "$(grep -c . <<<"$srv")"
check_eq "dig: the 2 SRV answers are the passing instances (priority, weight, port, target)" \
  "1 1 8001 0a000001.addr.dc1.consul.
1 1 8003 0a000003.addr.dc1.consul." "$srv"
check_eq "dig: the SRV targets' addresses are in the additional section" "10.0.0.1 10.0.0.3" \
  "$($DIG +noall +additional hello-v1.service.consul SRV | awk '$4=="A"{print $5}' | sort | xargs)"
check_eq "dig: A answers leave the critical instance out" "10.0.0.1 10.0.0.3" \
  "$($DIG +short hello-v1.service.consul A | sort | xargs)"
check "dig: answers are authoritative with TTL 0" \
  bash -c "$DIG +noall +answer +comments hello-v1.service.consul A | grep -q 'flags: qr aa' && $DIG +noall +answer hello-v1.service.consul A | awk '{print \$2}' | grep -qx 0"
check_eq "dig: tag form rest.hello-v1.service.consul" "2" "$($DIG +short rest.hello-v1.service.consul A | grep -c .)"
check_eq "dig: RFC 2782 form _hello-v1._rest.service.consul" "2" "$($DIG +short _hello-v1._rest.service.consul SRV | grep -c .)"
check_eq "dig: with the datacenter (hello-v1.service.dc1.consul)" "2" "$($DIG +short hello-v1.service.dc1.consul A | grep -c .)"
check "dig: a name that does not exist is NXDOMAIN" bash -c "$DIG nosuch.service.consul A | grep -q 'status: NXDOMAIN'"
check "dig: NXDOMAIN carries the SOA" bash -c "$DIG +noall +authority nosuch.service.consul A | grep -q 'IN.SOA.ns.consul. hostmaster.consul.'"
out=$($DIG hello-v1.service.consul AAAA)
check "dig: a known service without AAAA records is NOERROR with no answers" \
  bash -c "grep -q 'status: NOERROR' <<<'$out' && grep -q 'ANSWER: 0' <<<'$out'"
check_eq "dig: node lookup dnsnode.node.consul" "127.0.0.1" "$($DIG +short dnsnode.node.consul A)"
check "dig: a name outside the domain is refused" bash -c "$DIG example.com A | grep -q 'status: REFUSED'"
check_eq "dig over TCP: the same 2 SRV answers" "$srv" "$($DIG +tcp +short hello-v1.service.consul SRV | sort)"

# --- dnspython, a second independent client ---
$PY - "$DP" >"$TEST_TMP/py.out" 2>&1 <<'PYEOF'
import sys, dns.message, dns.query, dns.rcode, dns.rdatatype, dns.flags
port = int(sys.argv[1])
def ask(name, t, tcp=False):
    q = dns.message.make_query(name, t)
    f = dns.query.tcp if tcp else dns.query.udp
    return f(q, "127.0.0.1", port=port, timeout=5)
r = ask("hello-v1.service.consul.", "SRV")
srv = sorted((a.port, str(a.target)) for rr in r.answer for a in rr)
print("srv", len(srv), srv)
r = ask("nosuch.service.consul.", "A")
print("nx", dns.rcode.to_text(r.rcode()))
r = ask("_hello-v1._tcp.service.consul.", "SRV", tcp=True)
print("tcp", sum(len(rr) for rr in r.answer))
PYEOF
check_eq "dnspython: SRV for 3 instances with one critical gives 2 answers" \
  "srv 2 [(8001, '0a000001.addr.dc1.consul.'), (8003, '0a000003.addr.dc1.consul.')]" "$(grep '^srv' "$TEST_TMP/py.out")"
check_eq "dnspython: a name that does not exist is NXDOMAIN" "nx NXDOMAIN" "$(grep '^nx' "$TEST_TMP/py.out")"
check_eq "dnspython over TCP: _hello-v1._tcp (no tag filter) gives the 2 passing instances" "tcp 2" "$(grep '^tcp' "$TEST_TMP/py.out")"
grep -q Traceback "$TEST_TMP/py.out" && diag "$(cat "$TEST_TMP/py.out")"

# the check passes again: the instance is back
curl -sf -X PUT "$C/v1/agent/check/pass/service:hello-2" -o /dev/null
check_eq "dig: an instance whose check passes again is answered again" "3" "$($DIG +short hello-v1.service.consul SRV | grep -c .)"

# --- truncation ---
for i in $(seq 1 30); do
  curl -sf -X PUT -d "{\"Name\":\"big\",\"ID\":\"big-$i\",\"Address\":\"10.1.0.$i\",\"Port\":$((9000 + i))}" \
    "$C/v1/agent/service/register" -o /dev/null
done
out=$($DIG +noedns +ignore big.service.consul A)
check "dig UDP without EDNS: 3 answers (the UDP answer limit) and the TC bit" \
  bash -c "grep -q 'flags: qr aa tc' <<<'$out' && grep -q 'ANSWER: 3,' <<<'$out'"
check_eq "dig retrying over TCP after TC: all 30 instances" "30" "$($DIG +noedns +short big.service.consul A | grep -c .)"
out=$($DIG +bufsize=512 +ignore big.service.consul SRV)
size=$(awk '/MSG SIZE/{print $NF}' <<<"$out")
check "dig UDP with EDNS 512: cut to fit 512 bytes, TC set (got $size bytes)" \
  bash -c "[ '${size:-9999}' -le 512 ] && grep -q 'flags: qr aa tc' <<<'$out'"
orders=$(for _ in $(seq 1 8); do $DIG +tcp +short big.service.consul A | head -1; done | sort -u | grep -c .)
check "answers come in random order (8 queries, $orders different first answers)" test "$orders" -gt 1

# --- an external service (PUT /v1/catalog/register) is answered too ---
curl -sf -X PUT -d '{"Node":"extdb","Address":"10.9.0.5","Service":{"Service":"ext-pg","ID":"ext-pg-1","Port":5432},"Check":{"CheckID":"ext-pg-ok","Status":"passing","ServiceID":"ext-pg-1"}}' \
  "$C/v1/catalog/register" -o /dev/null
check_eq "dig: an external service registered through catalog/register answers SRV with its node" \
  "1 1 5432 extdb.node.dc1.consul." "$($DIG +short ext-pg.service.consul SRV)"
check_eq "dig: ... and the external node's address" "10.9.0.5" "$($DIG +short ext-pg.service.consul A)"
check_eq "dig: the external node itself (extdb.node.consul)" "10.9.0.5" "$($DIG +short extdb.node.consul A)"
curl -sf -X PUT -d '{"Node":"extdb","SkipNodeUpdate":true,"Check":{"CheckID":"ext-pg-ok","Status":"critical","ServiceID":"ext-pg-1"}}' \
  "$C/v1/catalog/register" -o /dev/null
check "dig: an external service whose check was written critical is NXDOMAIN" \
  bash -c "$DIG ext-pg.service.consul A | grep -q 'status: NXDOMAIN'"

# --- an address asked for must bind ---
out=$(timeout -s KILL 15 "$CAT" -listen "127.0.0.1:$(free_port)" -dns-listen "127.0.0.1:$DP" 2>&1; echo "rc=$?")
check_eq "a -dns-listen address already in use makes the catalog exit 1" "rc=1" "$(tail -n 1 <<<"$out")"
check "... with an error naming the address" grep -q "dns listen 127.0.0.1:$DP" <<<"$out"

done_testing
