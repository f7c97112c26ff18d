/**
 * The operations port over real HTTP on loopback: /metrics in the exposition content type, /healthz, /readyz
 * following the readiness conditions, 404/405, and a clear error for a port in use.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from '../../src/errors/index.js';
import { EXPOSITION_CONTENT_TYPE, OpsServer, Readiness, Registry } from '../../src/metrics/index.js';
import { httpGet, parseExposition } from './prom.js';

const silent = pino({ level: 'silent' });

test('/readyz is 503 naming each missing condition until all are met, and again once stopping; /healthz stays 200', async () => {
  const registry = new Registry();
  registry.counter('demo_hits_total', 'hits').inc();
  const readiness = new Readiness(['shards connected', 'gRPC listening']);
  const server = await OpsServer.start({ port: 0, registry, readiness, log: silent });
  try {
    assert.ok(server.port > 0);
    let r = await httpGet(server.port, '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /- shards connected\n- gRPC listening\n/);
    readiness.met('shards connected');
    r = await httpGet(server.port, '/readyz');
    assert.equal(r.status, 503);
    assert.doesNotMatch(r.body, /shards connected/);
    readiness.met('gRPC listening');
    assert.equal((await httpGet(server.port, '/readyz')).status, 200);
    assert.equal((await httpGet(server.port, '/healthz')).status, 200);
    readiness.stopping();
    r = await httpGet(server.port, '/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /shutting down/);
    assert.equal((await httpGet(server.port, '/healthz')).status, 200, 'a process flushing its checkpoint is still alive');

    const m = await httpGet(server.port, '/metrics?x=1');
    assert.equal(m.status, 200);
    assert.equal(m.type, EXPOSITION_CONTENT_TYPE);
    assert.equal(parseExposition(m.body).value('demo_hits_total'), 1);
    const head = await httpGet(server.port, '/metrics', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await httpGet(server.port, '/nope')).status, 404);
    assert.equal((await httpGet(server.port, '/metrics', 'POST')).status, 405);
  } finally {
    await server.close();
  }
});

test('a metrics port already in use is a ConfigError naming the address', async () => {
  const a = await OpsServer.start({ port: 0, registry: new Registry(), readiness: new Readiness([]), log: silent });
  try {
    await assert.rejects(
      OpsServer.start({ port: a.port, registry: new Registry(), readiness: new Readiness([]), log: silent }),
      (err: unknown) => err instanceof ConfigError && err.message === `metrics port 127.0.0.1:${a.port}: address already in use`,
    );
  } finally {
    await a.close();
  }
});

test('a collector that throws gives a 500 on /metrics, not a dead process', async () => {
  const registry = new Registry();
  registry.onCollect(() => {
    throw new Error('source gone');
  });
  const server = await OpsServer.start({ port: 0, registry, readiness: new Readiness([]), log: silent });
  try {
    const r = await httpGet(server.port, '/metrics');
    assert.equal(r.status, 500);
    assert.match(r.body, /source gone/);
    assert.equal((await httpGet(server.port, '/healthz')).status, 200);
  } finally {
    await server.close();
  }
});
