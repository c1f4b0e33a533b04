// node-consul.test.js: portolan-catalog driven through the npm `consul` client (node-consul 2.x).
// Every expectation comes from shared/reference/consul-api.md (section numbers in the test
// names), never from the catalog's code. Run by run.sh with `node --test --test-reporter=tap`;
// CATALOG_ADDR (host:port) names the catalog under test. Each test uses its own service names
// and KV prefix so the tests do not see each other's writes; the file runs its tests in order.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const Consul = require("consul");

const ADDR = process.env.CATALOG_ADDR || "127.0.0.1:8500";
const [HOST, PORT] = ADDR.split(":");
const BASE = `http://${ADDR}`;
const consul = new Consul({ host: HOST, port: Number(PORT) });

// ctx that makes node-consul return [response, body] so headers can be read
function withRes() {
  const ctx = new EventEmitter();
  ctx.includeResponse = true;
  return ctx;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint() / 1000000n);

async function raw(method, path, body) {
  const res = await fetch(BASE + path, { method, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function indexOf(res) {
  const v = res.headers["x-consul-index"];
  assert.ok(v !== undefined, "X-Consul-Index header present");
  assert.match(v, /^[0-9]+$/);
  const n = Number(v);
  assert.ok(n > 0, `index never 0 (got ${v})`);
  return n;
}

async function healthService(name, opts = {}) {
  const [res, body] = await consul.health.service({ service: name, ctx: withRes(), ...opts });
  return { idx: indexOf(res), body };
}

test.after(() => consul.destroy());

test("s8 status/leader and agent/self through the client", async () => {
  const leader = await consul.status.leader();
  assert.equal(leader, "127.0.0.1:8300");
  assert.deepEqual(await consul.status.peers(), ["127.0.0.1:8300"]);
  const self = await consul.agent.self();
  assert.deepEqual(Object.keys(self).sort(), ["Config", "Coord", "DebugConfig", "Member", "Meta", "Stats"]);
  assert.equal(self.Config.Datacenter, "dc1");
  assert.equal(self.Stats.consul.leader_addr, leader);
});

test("s4 the consul service and the serfHealth node check exist", async () => {
  const services = await consul.catalog.service.list();
  assert.deepEqual(services.consul, []);
  const nodes = await consul.catalog.service.nodes("consul");
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0].ServiceID, "consul");
  assert.equal(nodes[0].ServicePort, 8300);
  const any = await consul.health.state("any");
  const serf = any.find((c) => c.CheckID === "serfHealth");
  assert.ok(serf, "serfHealth in health/state/any");
  assert.equal(serf.Name, "Serf Health Status");
  assert.equal(serf.Status, "passing");
  assert.equal(serf.Output, "Agent alive and reachable");
  const agentServices = await consul.agent.service.list();
  assert.equal(agentServices.consul, undefined, "agent/services does not list consul");
});

test("s1/s3/s5 register a service and read it back from agent, catalog and health", async () => {
  await consul.agent.service.register({
    name: "nweb",
    id: "nweb-1",
    tags: ["b", "a", "b"],
    address: "10.1.2.3",
    port: 8080,
    meta: { version: "1" },
  });
  const list = await consul.agent.service.list();
  const s = list["nweb-1"];
  assert.ok(s, "agent/services lists nweb-1");
  assert.equal(s.ID, "nweb-1");
  assert.equal(s.Service, "nweb");
  assert.deepEqual(s.Tags, ["b", "a", "b"]);
  assert.deepEqual(s.Meta, { version: "1" });
  assert.equal(s.Port, 8080);
  assert.equal(s.Address, "10.1.2.3");
  assert.deepEqual(s.Weights, { Passing: 1, Warning: 1 });
  assert.equal(s.EnableTagOverride, false);
  assert.equal(s.Datacenter, "dc1");
  assert.deepEqual(s.TaggedAddresses, {
    lan_ipv4: { Address: "10.1.2.3", Port: 8080 },
    wan_ipv4: { Address: "10.1.2.3", Port: 8080 },
  });

  const services = await consul.catalog.service.list();
  assert.deepEqual(services.nweb, ["a", "b"], "catalog/services tags de-duplicated and sorted");

  const nodes = await consul.catalog.service.nodes("nweb");
  assert.equal(nodes.length, 1);
  const n = nodes[0];
  for (const k of ["ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta", "ServiceKind",
    "ServiceID", "ServiceName", "ServiceTags", "ServiceAddress", "ServiceWeights", "ServiceMeta",
    "ServicePort", "ServiceEnableTagOverride", "CreateIndex", "ModifyIndex"]) {
    assert.ok(k in n, `catalog/service entry has ${k}`);
  }
  assert.equal(n.ServiceID, "nweb-1");
  assert.equal(n.ServiceName, "nweb");
  assert.equal(n.ServiceAddress, "10.1.2.3");
  assert.equal(n.ServicePort, 8080);
  assert.deepEqual(n.ServiceMeta, { version: "1" });
  assert.equal(n.Datacenter, "dc1");
  assert.ok(n.CreateIndex > 0 && n.ModifyIndex >= n.CreateIndex);

  // name match is case-insensitive
  const upper = await consul.catalog.service.nodes("NWEB");
  assert.equal(upper.length, 1);

  const { body } = await healthService("nweb");
  assert.equal(body.length, 1);
  assert.equal(body[0].Service.ID, "nweb-1");
  assert.equal(body[0].Service.Service, "nweb");
  assert.equal(body[0].Service.Port, 8080);
  assert.deepEqual(body[0].Checks.map((c) => c.CheckID), ["serfHealth"]);
});

test("s1 check IDs and default names; initial status critical", async () => {
  await consul.agent.service.register({
    name: "nchk",
    id: "nchk-1",
    port: 1,
    checks: [{ ttl: "30s" }, { ttl: "30s", name: "second" }],
  });
  const checks = await consul.agent.check.list();
  const c1 = checks["service:nchk-1:1"];
  const c2 = checks["service:nchk-1:2"];
  assert.ok(c1 && c2, "check IDs service:<ID>:<n> when several checks");
  assert.equal(c1.Name, "Service 'nchk' check");
  assert.equal(c2.Name, "second");
  assert.equal(c1.Status, "critical");
  assert.equal(c1.Output, "");
  assert.equal(c1.ServiceID, "nchk-1");
  assert.equal(c1.ServiceName, "nchk");
  assert.equal(c1.Type, "ttl");

  await consul.agent.service.register({ name: "nchk1", port: 1, check: { ttl: "30s" } });
  const after = await consul.agent.check.list();
  assert.ok(after["service:nchk1"], "check ID service:<ID> when exactly one check (ID defaults to Name)");
});

test("s4 check pass/warn/fail with note, and update", async () => {
  await consul.agent.service.register({ name: "nttl", port: 1, check: { ttl: "30s" } });
  const id = "service:nttl";
  const status = async () => (await consul.agent.check.list())[id];

  await consul.agent.check.pass({ id, note: "all good" });
  let c = await status();
  assert.equal(c.Status, "passing");
  assert.equal(c.Output, "all good");

  await consul.agent.check.warn({ id, note: "hmm" });
  c = await status();
  assert.equal(c.Status, "warning");
  assert.equal(c.Output, "hmm");

  await consul.agent.check.fail({ id, note: "down" });
  c = await status();
  assert.equal(c.Status, "critical");
  assert.equal(c.Output, "down");

  // node-consul has no check/update call: raw PUT
  const r = await raw("PUT", `/v1/agent/check/update/${encodeURIComponent(id)}`,
    JSON.stringify({ Status: "passing", Output: "updated" }));
  assert.equal(r.status, 200);
  assert.equal(r.text, "");
  c = await status();
  assert.equal(c.Status, "passing");
  assert.equal(c.Output, "updated");

  const bad = await raw("PUT", `/v1/agent/check/update/${encodeURIComponent(id)}`,
    JSON.stringify({ Status: "bogus" }));
  assert.equal(bad.status, 400);
  assert.equal(bad.text, "Invalid check status: 'bogus'");

  await assert.rejects(consul.agent.check.pass("no-such-check"), (err) => {
    assert.equal(err.response ? err.response.statusCode : err.statusCode, 404);
    return true;
  });
});

test("s4 a 100ms TTL turns critical with Output 'TTL expired'", async () => {
  // "passing right after the pass" is asserted only when the read came back inside the 100 ms
  // (on a loaded machine it may not, and then critical is right); expiry is polled for, not read
  // once after a fixed 400 ms, and must come within a second (a TTL kept in whole seconds fails)
  await consul.agent.service.register({ name: "nshort", port: 1, check: { ttl: "100ms" } });
  const t0 = now();
  await consul.agent.check.pass("service:nshort");
  let c = (await consul.agent.check.list())["service:nshort"];
  if (now() - t0 < 90) assert.equal(c.Status, "passing");
  while (c.Status !== "critical" && now() - t0 < 10000) {
    await sleep(10);
    c = (await consul.agent.check.list())["service:nshort"];
  }
  const took = now() - t0;
  assert.equal(c.Status, "critical");
  assert.equal(c.Output, "TTL expired");
  assert.ok(took < 1000, `critical ${took} ms after the pass (TTL 100ms)`);
  const { body } = await healthService("nshort");
  const hc = body[0].Checks.find((x) => x.CheckID === "service:nshort");
  assert.equal(hc.Status, "critical");
  assert.equal(hc.Output, "TTL expired");
});

test("s6 ?passing drops instances with any non-passing check (warning included)", async () => {
  await consul.agent.service.register({ name: "npass", id: "npass-1", port: 1, check: { ttl: "30s" } });
  await consul.agent.service.register({ name: "npass", id: "npass-2", port: 2, check: { ttl: "30s" } });
  await consul.agent.check.pass("service:npass-1");
  // npass-2 stays critical (initial status)
  let { body } = await healthService("npass", { passing: true });
  assert.deepEqual(body.map((e) => e.Service.ID), ["npass-1"]);
  ({ body } = await healthService("npass"));
  assert.deepEqual(body.map((e) => e.Service.ID).sort(), ["npass-1", "npass-2"], "without ?passing all come back");

  await consul.agent.check.warn("service:npass-1");
  ({ body } = await healthService("npass", { passing: true }));
  assert.deepEqual(body, [], "warning counts as failing");

  await consul.agent.check.pass("service:npass-1");
  await consul.agent.check.pass("service:npass-2");
  ({ body } = await healthService("npass", { passing: true }));
  assert.deepEqual(body.map((e) => e.Service.ID).sort(), ["npass-1", "npass-2"]);
  // node check first, then service checks
  assert.deepEqual(body[0].Checks.map((c) => c.CheckID)[0], "serfHealth");
});

test("s5/s6 ?tag filters catalog/service and health/service", async () => {
  await consul.agent.service.register({ name: "ntag", id: "ntag-1", port: 1, tags: ["rest", "v1"] });
  await consul.agent.service.register({ name: "ntag", id: "ntag-2", port: 2, tags: ["grpc"] });
  const rest = await consul.catalog.service.nodes({ service: "ntag", tag: "rest" });
  assert.deepEqual(rest.map((e) => e.ServiceID), ["ntag-1"]);
  const restUpper = await consul.catalog.service.nodes({ service: "ntag", tag: "REST" });
  assert.deepEqual(restUpper.map((e) => e.ServiceID), ["ntag-1"], "tag match is case-insensitive");
  const none = await consul.catalog.service.nodes({ service: "ntag", tag: "nope" });
  assert.deepEqual(none, []);
  const { body } = await healthService("ntag", { tag: "grpc" });
  assert.deepEqual(body.map((e) => e.Service.ID), ["ntag-2"]);
  // repeated ?tag must all match
  const both = await raw("GET", "/v1/catalog/service/ntag?tag=rest&tag=v1");
  assert.deepEqual(JSON.parse(both.text).map((e) => e.ServiceID), ["ntag-1"]);
  const mixed = await raw("GET", "/v1/catalog/service/ntag?tag=rest&tag=grpc");
  assert.deepEqual(JSON.parse(mixed.text), []);
});

test("s2 deregister removes the service and its checks", async () => {
  await consul.agent.service.register({ name: "ngone", port: 1, check: { ttl: "30s" } });
  assert.ok((await consul.agent.service.list()).ngone);
  await consul.agent.service.deregister("ngone");
  assert.equal((await consul.agent.service.list()).ngone, undefined);
  assert.equal((await consul.agent.check.list())["service:ngone"], undefined);
  assert.deepEqual(await consul.catalog.service.nodes("ngone"), []);
  assert.equal((await consul.catalog.service.list()).ngone, undefined);
  await assert.rejects(consul.agent.service.deregister("ngone"), (err) => {
    assert.equal(err.statusCode, 404);
    assert.equal(err.response.body,
      'Unknown service ID "ngone". Ensure that the service ID is passed, not the service name.');
    return true;
  });
});

test("s7 KV set/get, flags, cas, raw", async () => {
  assert.equal(await consul.kv.set("nkv/a", "hello"), true);
  const e = await consul.kv.get("nkv/a");
  assert.equal(e.Key, "nkv/a");
  assert.equal(e.Value, "hello");
  assert.equal(e.Flags, 0);
  assert.equal(e.LockIndex, 0);
  assert.ok(e.CreateIndex > 0 && e.ModifyIndex >= e.CreateIndex);

  assert.equal(await consul.kv.set({ key: "nkv/f", value: "x", flags: 42 }), true);
  assert.equal((await consul.kv.get("nkv/f")).Flags, 42);
  assert.equal(await consul.kv.set({ key: "nkv/big", value: "x", flags: "18446744073709551615" }), true);
  const big = await raw("GET", "/v1/kv/nkv/big");
  assert.match(big.text, /"Flags":18446744073709551615[,}]/, "uint64 flags survive");

  // cas=0: set only if absent
  // node-consul resolves a `false` answer to undefined (papi drops falsy bodies): raw requests
  // wherever the answer may be false
  const casPut = async (key, value, cas) => {
    const r = await raw("PUT", `/v1/kv/${key}?cas=${cas}`, value);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/json");
    return r.text;
  };
  assert.equal(await casPut("nkv/a", "no", 0), "false", "cas=0 on an existing key");
  assert.equal((await consul.kv.get("nkv/a")).Value, "hello");
  assert.equal(await consul.kv.set({ key: "nkv/new", value: "yes", cas: 0 }), true);
  // cas=N: set only if ModifyIndex == N
  const cur = await consul.kv.get("nkv/a");
  assert.equal(await casPut("nkv/a", "stale", cur.ModifyIndex + 1000), "false", "cas with a wrong index");
  assert.equal(await consul.kv.set({ key: "nkv/a", value: "fresh", cas: cur.ModifyIndex }), true);
  const after = await consul.kv.get("nkv/a");
  assert.equal(after.Value, "fresh");
  assert.ok(after.ModifyIndex > cur.ModifyIndex);
  assert.equal(after.CreateIndex, cur.CreateIndex);

  const r = await consul.kv.get({ key: "nkv/a", raw: true });
  assert.equal(Buffer.from(r).toString(), "fresh");

  assert.equal(await consul.kv.get("nkv/missing"), undefined);
});

test("s7 KV recurse, keys with separator, delete recurse", async () => {
  for (const k of ["nrec/b", "nrec/a/2", "nrec/a/1", "nrec/c/x/y", "nrecz"]) {
    await consul.kv.set(k, "v:" + k);
  }
  const all = await consul.kv.get({ key: "nrec/", recurse: true });
  assert.deepEqual(all.map((e) => e.Key), ["nrec/a/1", "nrec/a/2", "nrec/b", "nrec/c/x/y"], "recurse is byte-sorted");
  assert.equal(all[0].Value, "v:nrec/a/1");
  const keys = await consul.kv.keys({ key: "nrec/", separator: "/" });
  assert.deepEqual(keys, ["nrec/a/", "nrec/b", "nrec/c/"]);
  const flat = await consul.kv.keys("nrec");
  assert.deepEqual(flat, ["nrec/a/1", "nrec/a/2", "nrec/b", "nrec/c/x/y", "nrecz"]);

  await consul.kv.del({ key: "nrec/a/", recurse: true });
  assert.deepEqual(await consul.kv.keys("nrec/"), ["nrec/b", "nrec/c/x/y"]);
  await consul.kv.del("nrec/b");
  const again = await raw("DELETE", "/v1/kv/nrec/b");
  assert.equal(`${again.status} ${again.text}`, "200 true", "DELETE of an absent key answers true");
  assert.deepEqual(await consul.kv.keys("nrec/"), ["nrec/c/x/y"]);
  assert.equal(await consul.kv.get("nrecz").then((e) => e.Value), "v:nrecz", "delete recurse stays in its prefix");
});

// ---- blocking queries (section 9) ----------------------------------------------------------

test("s9 a blocked health/service GET returns promptly after a change that raises its index", async () => {
  await consul.agent.service.register({ name: "nblock", port: 1, tags: ["a"] });
  const { idx } = await healthService("nblock");
  const t0 = now();
  const blocked = healthService("nblock", { index: idx, wait: "20s" });
  await sleep(300);
  await consul.agent.service.register({ name: "nblock", port: 1, tags: ["b"] });
  const tPut = now();
  const got = await blocked;
  const tGot = now();
  assert.ok(tPut - t0 >= 250, "the GET stayed blocked until the write");
  assert.ok(got.idx > idx, `index rose (${idx} -> ${got.idx})`);
  assert.deepEqual(got.body[0].Service.Tags, ["b"]);
  // (limit 3 s against a 20 s wait: a loaded machine cannot outlast it, an unwoken query still fails it)
  assert.ok(tGot - tPut < 3000, `woke ${tGot - tPut} ms after the PUT answered (limit 3000)`);
});

test("s1/s9 an identical re-registration does not wake a blocked GET; timeout returns the same index", async () => {
  const def = { name: "nsame", id: "nsame-1", port: 7, tags: ["x"], meta: { k: "v" } };
  await consul.agent.service.register(def);
  const { idx } = await healthService("nsame");
  const before = (await consul.catalog.service.nodes("nsame"))[0];
  const t0 = now();
  const blocked = healthService("nsame", { index: idx, wait: "1s" });
  await sleep(200);
  await consul.agent.service.register(def);
  const got = await blocked;
  const elapsed = now() - t0;
  assert.ok(elapsed >= 950, `waited for the timeout (${elapsed} ms)`);
  assert.ok(elapsed < 2500, `timeout honoured (${elapsed} ms; wait 1s + jitter <= 1/16)`);
  assert.equal(got.idx, idx, "same index at the wait timeout");
  const after = (await consul.catalog.service.nodes("nsame"))[0];
  assert.equal(after.CreateIndex, before.CreateIndex);
  assert.equal(after.ModifyIndex, before.ModifyIndex);
});

test("s9 a blocked query on one service is not woken by another service's change", async () => {
  await consul.agent.service.register({ name: "nquiet", port: 1 });
  const { idx } = await healthService("nquiet");
  const t0 = now();
  const blocked = healthService("nquiet", { index: idx, wait: "1s" });
  await sleep(150);
  await consul.agent.service.register({ name: "nnoisy", port: 1, tags: ["1"] });
  await consul.agent.service.register({ name: "nnoisy", port: 1, tags: ["2"] });
  await consul.kv.set("nnoisy/key", "x");
  const got = await blocked;
  const elapsed = now() - t0;
  assert.ok(elapsed >= 950, `not woken by other writes (${elapsed} ms)`);
  assert.equal(got.idx, idx);
});

test("s9 TTL expiry wakes a blocked health query", async () => {
  // TTL 1s (was 200 ms, which a loaded machine could let run out between the pass and the read
  // that must still see it passing); the wake at expiry must come well before the 15 s wait
  await consul.agent.service.register({ name: "nexp", port: 1, check: { ttl: "1s" } });
  const t0 = now();
  await consul.agent.check.pass("service:nexp");
  const { idx, body } = await healthService("nexp", { passing: true });
  assert.equal(body.length, 1);
  const got = await healthService("nexp", { passing: true, index: idx, wait: "15s" });
  const elapsed = now() - t0;
  assert.ok(got.idx > idx);
  assert.deepEqual(got.body, []);
  assert.ok(elapsed < 5000, `woke at expiry (${elapsed} ms after the pass, TTL 1s, wait 15s)`);
});

test("s9 KV blocking: key write wakes, unrelated write does not wake a missing key", async () => {
  await consul.kv.set("nkb/k", "1");
  const [res] = await consul.kv.get({ key: "nkb/k", ctx: withRes() });
  const idx = indexOf(res);
  const blocked = consul.kv.get({ key: "nkb/k", index: idx, wait: "20s", ctx: withRes() });
  await sleep(200);
  await consul.kv.set("nkb/k", "2");
  const tPut = now();
  const [res2, e2] = await blocked;
  assert.ok(now() - tPut < 3000);
  assert.ok(indexOf(res2) > idx);
  assert.equal(e2.Value, "2");

  const [mres] = await consul.kv.get({ key: "nkb/missing", ctx: withRes() });
  assert.equal(mres.statusCode, 404);
  const midx = indexOf(mres);
  const t0 = now();
  const mblocked = consul.kv.get({ key: "nkb/missing", index: midx, wait: "1s", ctx: withRes() });
  await sleep(150);
  await consul.kv.set("nkb/other", "x");
  const [mres2] = await mblocked;
  const elapsed = now() - t0;
  assert.ok(elapsed >= 950, `missing key kept waiting on an unrelated write (${elapsed} ms)`);
  assert.equal(mres2.statusCode, 404);
  indexOf(mres2);
});

test("s9 catalog/services wakes on a new service; deregister wakes health/service", async () => {
  const [res] = await consul.catalog.service.list({ ctx: withRes() });
  const idx = indexOf(res);
  const blocked = consul.catalog.service.list({ index: idx, wait: "20s", ctx: withRes() });
  await sleep(150);
  await consul.agent.service.register({ name: "nnewsvc", port: 1 });
  const tPut = now();
  const [res2, body2] = await blocked;
  assert.ok(now() - tPut < 3000);
  assert.ok(indexOf(res2) > idx);
  assert.ok("nnewsvc" in body2);

  const { idx: hidx } = await healthService("nnewsvc");
  const hblocked = healthService("nnewsvc", { index: hidx, wait: "20s" });
  await sleep(150);
  await consul.agent.service.deregister("nnewsvc");
  const tDel = now();
  const got = await hblocked;
  assert.ok(now() - tDel < 3000);
  assert.ok(got.idx > hidx, "index rises on deregister (never goes back)");
  assert.deepEqual(got.body, []);
});

test("s9 an index ahead of the server waits the full timeout and returns the lower index", async () => {
  await consul.agent.service.register({ name: "nahead", port: 1 });
  const { idx } = await healthService("nahead");
  const t0 = now();
  const got = await healthService("nahead", { index: idx + 100000, wait: "1s" });
  const elapsed = now() - t0;
  assert.ok(elapsed >= 950, `waited (${elapsed} ms)`);
  assert.equal(got.idx, idx);
});

// ---- more of sections 1, 4, 5, 7 ------------------------------------------------------------

test("s1 re-registration keeps check Status/Output; ?replace-existing-checks drops unnamed checks", async () => {
  const def = { name: "nre", id: "nre-1", port: 1, checks: [{ ttl: "30s", checkid: "a" }, { ttl: "30s", checkid: "b" }] };
  await consul.agent.service.register(def);
  await consul.agent.check.warn({ id: "a", note: "kept" });
  await consul.agent.service.register({ name: "nre", id: "nre-1", port: 2, checks: [{ ttl: "30s", checkid: "a" }] });
  let checks = await consul.agent.check.list();
  assert.equal(checks.a.Status, "warning", "existing check keeps Status");
  assert.equal(checks.a.Output, "kept", "existing check keeps Output");
  assert.ok(checks.b, "checks not mentioned are kept without ?replace-existing-checks");
  assert.equal((await consul.agent.service.list())["nre-1"].Port, 2, "service replaced");
  const r = await raw("PUT", "/v1/agent/service/register?replace-existing-checks",
    JSON.stringify({ Name: "nre", ID: "nre-1", Port: 2, Checks: [{ TTL: "30s", CheckID: "a" }] }));
  assert.equal(r.status, 200);
  checks = await consul.agent.check.list();
  assert.equal(checks.b, undefined, "?replace-existing-checks removes b");
  assert.equal(checks.a.Status, "warning");
});

test("s1 weights, IPv6 tagged addresses, empty Check ignored", async () => {
  const r = await raw("PUT", "/v1/agent/service/register", JSON.stringify({
    Name: "nv6", ID: "nv6-1", Address: "2001:db8::1", Port: 443, Weights: { Passing: 5, Warning: 2 }, Check: {},
  }));
  assert.equal(r.status, 200, r.text);
  const s = (await consul.agent.service.list())["nv6-1"];
  assert.deepEqual(s.Weights, { Passing: 5, Warning: 2 });
  assert.deepEqual(s.TaggedAddresses, {
    lan_ipv6: { Address: "2001:db8::1", Port: 443 },
    wan_ipv6: { Address: "2001:db8::1", Port: 443 },
  });
  const checks = await consul.agent.check.list();
  assert.deepEqual(Object.values(checks).filter((c) => c.ServiceID === "nv6-1"), [], '"Check":{} adds no check');
  const n = (await consul.catalog.service.nodes("nv6"))[0];
  assert.deepEqual(n.ServiceWeights, { Passing: 5, Warning: 2 });
});

test("s4 check Output is truncated at 4096 bytes as Consul does", async () => {
  await consul.agent.service.register({ name: "nlong", port: 1, check: { ttl: "30s" } });
  const out = "x".repeat(5000);
  const r = await raw("PUT", "/v1/agent/check/update/service:nlong", JSON.stringify({ Status: "passing", Output: out }));
  assert.equal(r.status, 200);
  const c = (await consul.agent.check.list())["service:nlong"];
  assert.equal(c.Output, "x".repeat(4096) + " ... (captured 4096 of 5000 bytes)");
});

test("s4 service maintenance adds and removes _service_maintenance:<id>", async () => {
  await consul.agent.service.register({ name: "nmaint", id: "nmaint-1", port: 1 });
  let { body } = await healthService("nmaint", { passing: true });
  assert.equal(body.length, 1);
  await consul.agent.service.maintenance({ id: "nmaint-1", enable: true, reason: "deploy" });
  const c = (await consul.agent.check.list())["_service_maintenance:nmaint-1"];
  assert.ok(c, "maintenance check present");
  assert.equal(c.Name, "Service Maintenance Mode");
  assert.equal(c.Status, "critical");
  assert.equal(c.ServiceID, "nmaint-1");
  ({ body } = await healthService("nmaint", { passing: true }));
  assert.deepEqual(body, [], "instance in maintenance is not passing");
  await consul.agent.service.maintenance({ id: "nmaint-1", enable: false });
  assert.equal((await consul.agent.check.list())["_service_maintenance:nmaint-1"], undefined);
  ({ body } = await healthService("nmaint", { passing: true }));
  assert.equal(body.length, 1);
});

test("s6 health/service Checks: node checks first, then service checks by CheckID", async () => {
  await consul.agent.service.register({
    name: "norder", port: 1, checks: [{ ttl: "30s", checkid: "zz" }, { ttl: "30s", checkid: "aa" }, { ttl: "30s", checkid: "mm" }],
  });
  const { body } = await healthService("norder");
  assert.deepEqual(body[0].Checks.map((c) => c.CheckID), ["serfHealth", "aa", "mm", "zz"]);
  const hc = body[0].Checks[1];
  for (const k of ["Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName", "ServiceTags", "CreateIndex", "ModifyIndex"]) {
    assert.ok(k in hc, `HealthCheck has ${k}`);
  }
  assert.equal(body[0].Node.Node, body[0].Checks[0].Node);
});

test("s5 catalog/nodes shape", async () => {
  const nodes = await consul.catalog.node.list();
  assert.equal(nodes.length, 1);
  const n = nodes[0];
  for (const k of ["ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta", "CreateIndex", "ModifyIndex"]) {
    assert.ok(k in n, `node has ${k}`);
  }
  assert.equal(n.Datacenter, "dc1");
  assert.deepEqual(Object.keys(n.TaggedAddresses).sort(), ["lan", "lan_ipv4", "wan", "wan_ipv4"]);
});

test("s7/s9 KV delete cas; deletes leave tombstones so a prefix's index never goes back", async () => {
  await consul.kv.set("ntomb/a", "1");
  await consul.kv.set("ntomb/b", "2");
  const e = await consul.kv.get("ntomb/b");
  // node-consul drops DELETE's answer body: raw requests for the cas answers
  const miss = await raw("DELETE", `/v1/kv/ntomb/b?cas=${e.ModifyIndex + 1}`);
  assert.equal(`${miss.status} ${miss.text}`, "200 false", "DELETE ?cas mismatch answers false");
  assert.ok(await consul.kv.get("ntomb/b"), "still there after the failed cas");
  const hit = await raw("DELETE", `/v1/kv/ntomb/b?cas=${e.ModifyIndex}`);
  assert.equal(`${hit.status} ${hit.text}`, "200 true");
  const [r1] = await consul.kv.get({ key: "ntomb/", recurse: true, ctx: withRes() });
  const i1 = indexOf(r1);
  assert.ok(i1 > e.ModifyIndex, `recurse index (${i1}) counts the tombstone of ntomb/b (> ${e.ModifyIndex})`);
  // a blocked recurse on the prefix wakes when a key under it is deleted
  const blocked = consul.kv.get({ key: "ntomb/", recurse: true, index: i1, wait: "20s", ctx: withRes() });
  await sleep(150);
  await consul.kv.del("ntomb/a");
  const tDel = now();
  const [r2, body2] = await blocked;
  assert.ok(now() - tDel < 3000, "woken by the delete");
  assert.equal(r2.statusCode, 404);
  const i2 = indexOf(r2);
  assert.ok(i2 > i1, `index after deleting everything (${i2}) did not go back (${i1})`);
  assert.equal(body2, undefined);
});

test("s6/s9 one blocking health/state/any query wakes on any check's change", async () => {
  await consul.agent.service.register({ name: "nstate", port: 1, check: { ttl: "30s" } });
  const [res] = await consul.health.state({ state: "any", ctx: withRes() });
  const idx = indexOf(res);
  const blocked = consul.health.state({ state: "any", index: idx, wait: "20s", ctx: withRes() });
  await sleep(150);
  await consul.agent.check.pass("service:nstate");
  const tPut = now();
  const [res2, body2] = await blocked;
  assert.ok(now() - tPut < 3000);
  assert.ok(indexOf(res2) > idx);
  assert.equal(body2.find((c) => c.CheckID === "service:nstate").Status, "passing");
  const passing = await consul.health.state("passing");
  assert.ok(passing.every((c) => c.Status === "passing"));
  assert.ok(passing.some((c) => c.CheckID === "service:nstate"));
  const critical = await consul.health.state("critical");
  assert.ok(!critical.some((c) => c.CheckID === "service:nstate"));
});

test("s4 Status given at registration is the initial status; pass resets the TTL timer", async () => {
  await consul.agent.service.register({ name: "ninit", port: 1, check: { ttl: "30s", status: "passing" } });
  assert.equal((await consul.agent.check.list())["service:ninit"].Status, "passing");

  // TTL 1s, heartbeats every 200 ms for 1.6 s: without the resets it would have expired; each gap
  // may stretch by 800 ms on a loaded machine (was TTL 300 ms with 150 ms gaps: 150 ms of slack).
  // Expiry after the last beat is polled for (was one read after a fixed 600 ms).
  await consul.agent.service.register({ name: "nreset", port: 1, check: { ttl: "1s" } });
  await consul.agent.check.pass("service:nreset");
  for (let i = 0; i < 8; i++) {
    await sleep(200);
    await consul.agent.check.pass("service:nreset");
  }
  assert.equal((await consul.agent.check.list())["service:nreset"].Status, "passing", "still passing after 1.6 s of heartbeats");
  const tLast = now();
  let st = "passing";
  while (st !== "critical" && now() - tLast < 10000) {
    await sleep(50);
    st = (await consul.agent.check.list())["service:nreset"].Status;
  }
  assert.equal(st, "critical", "critical once the heartbeats stop");
});

test("s9 an identical TTL heartbeat (same status, same note) does not wake a blocked health query", async () => {
  await consul.agent.service.register({ name: "nbeat", port: 1, check: { ttl: "30s" } });
  await consul.agent.check.pass({ id: "service:nbeat", note: "ok" });
  const { idx } = await healthService("nbeat");
  const t0 = now();
  const blocked = healthService("nbeat", { index: idx, wait: "1s" });
  await sleep(150);
  await consul.agent.check.pass({ id: "service:nbeat", note: "ok" });
  await consul.agent.check.pass({ id: "service:nbeat", note: "ok" });
  const got = await blocked;
  const elapsed = now() - t0;
  assert.ok(elapsed >= 950, `identical heartbeats kept it waiting (${elapsed} ms)`);
  assert.equal(got.idx, idx);
  // a different note is a change
  const blocked2 = healthService("nbeat", { index: idx, wait: "20s" });
  await sleep(150);
  await consul.agent.check.pass({ id: "service:nbeat", note: "ok again" });
  const t1 = now();
  const got2 = await blocked2;
  assert.ok(now() - t1 < 3000);
  assert.ok(got2.idx > idx);
});

test("s9 ?index=0 answers at once; a long ?wait is accepted", async () => {
  const t0 = now();
  const r = await raw("GET", "/v1/catalog/services?index=0&wait=1h");
  assert.equal(r.status, 200);
  assert.ok(now() - t0 < 3000, "index=0 does not block (wait=1h)");
  const { idx } = await healthService("consul");
  const t1 = now();
  const r2 = await raw("GET", `/v1/health/service/consul?index=${idx - 1}&wait=20m`);
  assert.equal(r2.status, 200);
  assert.ok(now() - t1 < 3000, "an index already passed answers at once (wait=20m)");
});

test("s9 one change wakes every query parked on it (100 concurrent blocked GETs)", async () => {
  await consul.agent.service.register({ name: "nmany", port: 1, tags: ["0"] });
  const { idx } = await healthService("nmany");
  const blocked = [];
  for (let i = 0; i < 100; i++) blocked.push(healthService("nmany", { index: idx, wait: "30s" }));
  await sleep(500);
  await consul.agent.service.register({ name: "nmany", port: 1, tags: ["1"] });
  const tPut = now();
  const got = await Promise.all(blocked);
  const took = now() - tPut;
  assert.ok(took < 10000, `all 100 answered ${took} ms after the PUT (wait 30s)`);
  for (const g of got) {
    assert.ok(g.idx > idx);
    assert.deepEqual(g.body[0].Service.Tags, ["1"]);
  }
});

// ---- issue 13: node-level endpoints ----
test("issue13 health/node lists every check on the node (node and service checks, by CheckID)", async () => {
  const node = (await consul.agent.self()).Config.NodeName;
  await consul.agent.service.register({ name: "nnode", id: "nnode-1", port: 81, check: { ttl: "60s", status: "passing" } });
  await consul.agent.check.register({ name: "nnode disk", id: "nnode-disk", ttl: "60s", status: "passing" });
  await consul.agent.check.register({ name: "nnode extra", id: "nnode-extra", serviceid: "nnode-1", ttl: "60s" });
  const checks = await consul.health.node(node);
  const ids = checks.map((c) => c.CheckID);
  for (const id of ["nnode-disk", "nnode-extra", "serfHealth", "service:nnode-1"]) assert.ok(ids.includes(id), `${id} in health/node`);
  assert.deepEqual(ids, [...ids].sort(), "by CheckID");
  const extra = checks.find((c) => c.CheckID === "nnode-extra");
  assert.equal(extra.ServiceID, "nnode-1");
  assert.equal(extra.ServiceName, "nnode");
  assert.equal(extra.Status, "critical", "a check registered without Status starts critical");
  assert.deepEqual(await consul.health.node("no-such-node"), []);
  await consul.agent.check.deregister("nnode-disk");
  await consul.agent.check.deregister("nnode-extra");
  assert.ok(!(await consul.health.node(node)).some((c) => c.CheckID === "nnode-disk"), "deregistered");
});

test("issue13 agent/maintenance puts the node in maintenance and takes it out", async () => {
  const node = (await consul.agent.self()).Config.NodeName;
  await consul.agent.maintenance({ enable: true, reason: "node-consul says so" });
  const m = (await consul.health.node(node)).find((c) => c.CheckID === "_node_maintenance");
  assert.ok(m, "_node_maintenance check present");
  assert.equal(m.Name, "Node Maintenance Mode");
  assert.equal(m.Status, "critical");
  assert.equal(m.Notes, "node-consul says so");
  assert.deepEqual(await consul.health.service({ service: "nnode", passing: true }), [], "no instance passes in node maintenance");
  await consul.agent.maintenance(false);
  assert.ok(!(await consul.health.node(node)).some((c) => c.CheckID === "_node_maintenance"), "removed");
  assert.equal((await consul.health.service({ service: "nnode", passing: true })).length, 1);
  const r = await raw("PUT", "/v1/agent/maintenance");
  assert.equal(r.status, 400);
  assert.equal(r.text, "Missing value for enable");
});

test("issue13 catalog/node, catalog/node-services, catalog/datacenters, agent/members", async () => {
  const node = (await consul.agent.self()).Config.NodeName;
  const ns = await consul.catalog.node.services(node);
  assert.equal(ns.Node.Node, node);
  assert.equal(ns.Services["nnode-1"].Service, "nnode");
  assert.equal(ns.Services["nnode-1"].Port, 81);
  assert.ok(ns.Services.consul, "the consul service is on the node");
  const unknown = await raw("GET", "/v1/catalog/node/no-such-node");
  assert.equal(unknown.status, 200);
  assert.equal(unknown.text, "null", "an unknown node is 200 null");
  const list = JSON.parse((await raw("GET", `/v1/catalog/node-services/${node}`)).text);
  assert.equal(list.Node.Node, node);
  assert.ok(Array.isArray(list.Services) && list.Services.some((s) => s.ID === "nnode-1"));
  assert.deepEqual(JSON.parse((await raw("GET", "/v1/catalog/node-services/no-such-node")).text), { Node: null, Services: [] });
  assert.deepEqual(await consul.catalog.datacenters(), ["dc1"]);
  const members = await consul.agent.members();
  assert.equal(members.length, 1);
  assert.equal(members[0].Name, node);
  await consul.agent.service.deregister("nnode-1");
});

test("issue13 catalog/register: an external node and service appear in catalog, health and nodes; deregister removes them", async () => {
  await consul.catalog.register({
    node: "nextdb",
    address: "10.7.0.1",
    nodemeta: { rack: "r1" },
    service: { id: "nextpg", service: "nextpg", port: 5432, tags: ["primary"] },
    check: { checkid: "nextpg-alive", name: "alive", serviceid: "nextpg", status: "passing" },
  });
  const inst = await consul.catalog.service.nodes("nextpg");
  assert.equal(inst.length, 1);
  assert.equal(inst[0].Node, "nextdb");
  assert.equal(inst[0].Address, "10.7.0.1");
  assert.equal(inst[0].ServicePort, 5432);
  assert.deepEqual(inst[0].NodeMeta, { rack: "r1" });
  const healthy = await consul.health.service({ service: "nextpg", passing: true });
  assert.equal(healthy.length, 1);
  assert.deepEqual(healthy[0].Checks.map((c) => c.CheckID), ["nextpg-alive"]);
  assert.ok((await consul.catalog.node.list()).some((n) => n.Node === "nextdb"));
  const agentServices = await consul.agent.service.list();
  assert.equal(agentServices.nextpg, undefined, "not one of the agent's services");
  const r = await raw("PUT", "/v1/catalog/register", JSON.stringify({ Address: "10.7.0.1" }));
  assert.equal(r.status, 500);
  assert.equal(r.text, "Must provide node");
  await consul.catalog.deregister({ node: "nextdb" });
  assert.deepEqual(await consul.catalog.service.nodes("nextpg"), []);
  assert.ok(!(await consul.catalog.node.list()).some((n) => n.Node === "nextdb"));
});

test("issue13 event/fire and event/list (blocking until the next event), coordinates, raft configuration", async () => {
  const fired = await consul.event.fire("ndeploy", "v42");
  assert.equal(fired.Name, "ndeploy");
  assert.equal(fired.Payload, "v42");
  assert.equal(fired.LTime, 0);
  assert.match(fired.ID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const [res, events] = await consul.event.list({ name: "ndeploy", ctx: withRes() });
  assert.equal(events.length, 1);
  assert.equal(events[0].ID, fired.ID);
  // with includeResponse the client leaves Payload as sent: base64
  assert.equal(Buffer.from(events[0].Payload, "base64").toString(), "v42");
  assert.ok(events[0].LTime > 0);
  assert.deepEqual((await consul.event.list("ndeploy")).map((e) => e.Payload), ["v42"], "decoded by the client");
  const idx = indexOf(res);
  // a blocked list answers when another event is fired, not before
  const t0 = now();
  const blocked = consul.event.list({ index: String(idx), wait: "10s" });
  await sleep(300);
  await consul.event.fire("nwake");
  const after = await blocked;
  assert.ok(after.some((e) => e.Name === "nwake"));
  assert.ok(now() - t0 < 9000, "woken by the event, not the timeout");
  const coord = JSON.parse((await raw("GET", "/v1/coordinate/datacenters")).text);
  assert.equal(coord[0].Datacenter, "dc1");
  assert.equal(coord[0].Coordinates[0].Coord.Vec.length, 8);
  const nodes = JSON.parse((await raw("GET", "/v1/coordinate/nodes")).text);
  assert.equal(nodes.length, 1);
  const raft = JSON.parse((await raw("GET", "/v1/operator/raft/configuration")).text);
  assert.equal(raft.Servers.length, 1);
  assert.equal(raft.Servers[0].Leader, true);
  assert.equal(raft.Servers[0].Address, await consul.status.leader());
});

test("issue13 sessions and locks: leader election through kv.set acquire/release, destroy, behavior delete", async () => {
  const a = (await consul.session.create({ name: "n-a", lockdelay: "0s", ttl: "20s" })).ID;
  const b = (await consul.session.create({ name: "n-b", lockdelay: "0s", behavior: "delete" })).ID;
  const info = await consul.session.info(a);
  assert.equal(info.ID, a);
  assert.equal(info.TTL, "20s");
  assert.equal(info.LockDelay, 0);
  assert.deepEqual(info.NodeChecks, ["serfHealth"]);
  assert.equal((await consul.session.info(b)).Behavior, "delete");
  assert.ok((await consul.session.list()).some((s) => s.ID === b));
  assert.equal((await consul.session.renew(a))[0].ID, a);
  assert.equal(await consul.kv.set({ key: "nlock/leader", value: "a", acquire: a }), true);
  // node-consul turns a `false` body into undefined: the refusals are read raw
  const acquireRaw = async (sess) => (await raw("PUT", `/v1/kv/nlock/leader?acquire=${sess}`, "x")).text;
  assert.equal(await acquireRaw(b), "false", "second contender refused");
  const held = await consul.kv.get("nlock/leader");
  assert.equal(held.Session, a);
  assert.equal(held.LockIndex, 1);
  // destroying the holder releases the key (behavior release) and lets the other in
  await consul.session.destroy(a);
  assert.equal((await consul.kv.get("nlock/leader")).Session, undefined);
  assert.equal(await consul.kv.set({ key: "nlock/leader", value: "b", acquire: b }), true, "B wins after A is destroyed");
  assert.equal((await raw("PUT", `/v1/kv/nlock/leader?release=${a}`, "x")).text, "false", "A no longer holds it");
  // B's behavior is delete: destroying it deletes the key it holds
  await consul.session.destroy(b);
  assert.equal(await consul.kv.get("nlock/leader"), undefined);
  assert.equal(await consul.session.info(b), undefined);
  const bad = await raw("PUT", "/v1/session/create", JSON.stringify({ TTL: "1s" }));
  assert.equal(bad.status, 500);
  assert.equal(bad.text, "Invalid Session TTL '1000000000', must be between [10s=24h0m0s]");
});

test("issue13 transaction.create: KV ops applied atomically; a failing check-index aborts all with 409", async () => {
  const b64 = (v) => Buffer.from(v).toString("base64");
  assert.equal(await consul.kv.set("ntxn/a", "1"), true);
  const a = await consul.kv.get("ntxn/a");
  const ok = await consul.transaction.create([
    { KV: { Verb: "set", Key: "ntxn/b", Value: b64("two") } },
    { KV: { Verb: "cas", Key: "ntxn/a", Value: b64("one"), Index: a.ModifyIndex } },
    { KV: { Verb: "get-tree", Key: "ntxn/" } },
  ]);
  assert.equal(ok.Errors, null);
  assert.deepEqual(ok.Results.map((r) => r.KV.Key), ["ntxn/b", "ntxn/a", "ntxn/a", "ntxn/b"]);
  assert.equal((await consul.kv.get("ntxn/a")).Value, "one");
  await assert.rejects(
    consul.transaction.create([
      { KV: { Verb: "set", Key: "ntxn/c", Value: b64("three") } },
      { KV: { Verb: "check-index", Key: "ntxn/a", Index: a.ModifyIndex } },
    ]),
    (err) => {
      assert.equal(err.response.statusCode, 409);
      assert.equal(err.response.body.Results, null);
      assert.equal(err.response.body.Errors[0].OpIndex, 1);
      assert.match(err.response.body.Errors[0].What, /^current modify index \d+ != \d+$/);
      return true;
    },
  );
  assert.equal(await consul.kv.get("ntxn/c"), undefined, "nothing of the failed transaction applied");
  const many = Array.from({ length: 65 }, (_, i) => ({ KV: { Verb: "get", Key: `k${i}` } }));
  const tooMany = await raw("PUT", "/v1/txn", JSON.stringify(many));
  assert.equal(tooMany.status, 413);
  assert.equal(tooMany.text, "Transaction contains too many operations (65 > 64)");
});
