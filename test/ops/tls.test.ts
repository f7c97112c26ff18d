/**
 * TLS on real processes over loopback, with a CA and certificates made by openssl at test time: a TLS client
 * connects; a plaintext client, a client that trusts another CA, a client without a certificate and a client
 * whose certificate another CA signed are refused by a mutual-TLS server; the token still counts on top of TLS;
 * a whole job runs with every link under mutual TLS; bad TLS flags exit 2 with one line.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { checkOpenListener } from '../../src/cli/paramserver-command.js';
import { CoordinatorClient } from '../../src/coordinator/index.js';
import { ConfigError, PeerUnavailable } from '../../src/errors/index.js';
import { RemoteCallError, ShardClient } from '../../src/paramserver/index.js';
import { channelCredentials, readTls, type TlsFlags } from '../../src/rpc/index.js';
import { tempDir, writeInter } from '../helpers/files.js';
import { randomDataset } from '../helpers/tiny.js';
import { makePki, type TestPki } from './certs.js';
import { httpGet } from './prom.js';
import { camrecProc, stopAll } from './procs.js';

let pki: TestPki;

before(() => {
  pki = makePki();
});
after(stopAll);

const client = (port: number, tls: TlsFlags | null, token?: string) =>
  new ShardClient(`127.0.0.1:${port}`, { credentials: tls ? channelCredentials(readTls(tls)) : grpc.credentials.createInsecure(), token, deadlineMs: 20_000 });

async function describeWith(port: number, tls: TlsFlags | null, token?: string): Promise<unknown> {
  const c = client(port, tls, token);
  try {
    return await c.describe();
  } finally {
    c.close();
  }
}

async function startShard(flags: string[], env: Record<string, string> = {}): Promise<{ port: number; metrics: number }> {
  const p = camrecProc(['paramserver', '--shard', '0', '--shards', '1', '--port', '0', '--metrics-port', '0', '--log-level', 'info', ...flags], env);
  const [line, metrics] = await Promise.all([p.firstLine<{ port: number }>(), p.loggedPort('metrics serving')]);
  return { port: line.port, metrics };
}

test('a mutual-TLS shard serves a client with a certificate from its CA and refuses every other client', async () => {
  const { port, metrics } = await startShard(['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.ca]);
  const good = (await describeWith(port, { tlsCa: pki.ca, tlsCert: pki.clientCert, tlsKey: pki.clientKey })) as { shards: number };
  assert.equal(good.shards, 1);
  const refused: [string, TlsFlags | null][] = [
    ['plaintext', null],
    ['a client that trusts another CA', { tlsCa: pki.otherCa, tlsCert: pki.clientCert, tlsKey: pki.clientKey }],
    ['a client without a certificate', { tlsCa: pki.ca }],
    ['a client whose certificate another CA signed', { tlsCa: pki.ca, tlsCert: pki.otherClientCert, tlsKey: pki.otherClientKey }],
  ];
  for (const [what, tls] of refused) await assert.rejects(describeWith(port, tls), PeerUnavailable, what);
  // Probes and scrapes stay plain HTTP on their own port: the kubelet has no client certificate.
  assert.equal((await httpGet(metrics, '/readyz')).status, 200);
});

test('a TLS shard with a token: TLS without the token is UNAUTHENTICATED, with it the call succeeds', async () => {
  const tokenFile = join(tempDir('tls-token'), 'token');
  writeFileSync(tokenFile, 's3cret\n');
  const { port } = await startShard(['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--token-file', tokenFile]);
  const tls = { tlsCa: pki.ca };
  assert.equal(((await describeWith(port, tls, 's3cret')) as { shards: number }).shards, 1, 'plain TLS: no client certificate needed');
  await assert.rejects(describeWith(port, tls), (err: unknown) => err instanceof RemoteCallError && err.status === grpc.status.UNAUTHENTICATED);
  await assert.rejects(describeWith(port, tls, 'wrong'), (err: unknown) => err instanceof RemoteCallError && err.status === grpc.status.UNAUTHENTICATED);
  await assert.rejects(describeWith(port, null, 's3cret'), PeerUnavailable, 'plaintext to a TLS port');
});

test('a job runs with every link under mutual TLS, and the coordinator refuses a plaintext worker', async () => {
  const dataDir = writeInter(tempDir('tls-data'), randomDataset(40, 50, 5, 4));
  const tlsFlags = (cert: string, key: string) => ['--tls-cert', cert, '--tls-key', key, '--tls-ca', pki.ca];
  const shard = await startShard(tlsFlags(pki.serverCert, pki.serverKey));
  const out = join(tempDir('tls-run'), 'run');
  const coord = camrecProc([
    'coordinator', '--model', 'bpr', '--data', dataDir, '--epochs', '1', '--batch', '64', '--dim', '8', '--backend', 'wasm', '--threads', '1', '--no-native',
    '--shards', `127.0.0.1:${shard.port}`, '--port', '0', '--out', out, ...tlsFlags(pki.serverCert, pki.serverKey),
  ]);
  const { port } = await coord.firstLine<{ port: number }>();
  const plain = new CoordinatorClient(`127.0.0.1:${port}`, { deadlineMs: 20_000 });
  await assert.rejects(plain.getJob(), PeerUnavailable);
  plain.close();
  const worker = camrecProc(['worker', '--coordinator', `127.0.0.1:${port}`, '--threads', '1', '--no-native', '--json', ...tlsFlags(pki.clientCert, pki.clientKey)]);
  assert.equal(await coord.exited, 0, coord.stderr());
  assert.equal(await worker.exited, 0, worker.stderr());
  assert.ok(existsSync(join(out, 'result.json')));
  const summary = JSON.parse(worker.stdout().trim()) as { accepted: number };
  assert.ok(summary.accepted >= 1, 'the worker did the job\'s tasks over TLS');
});

test('bad TLS flags exit 2 with one line naming the flag', async () => {
  const junk = join(tempDir('tls-junk'), 'junk.pem');
  writeFileSync(junk, 'not a certificate\n');
  const cases: [string[], RegExp][] = [
    [['--tls-cert', pki.serverCert], /flags --tls-cert and --tls-key go together/],
    [['--tls-ca', pki.ca], /a TLS server needs --tls-cert and --tls-key/],
    [['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', junk], /flag --tls-ca: .*junk\.pem is not PEM/],
    [['--tls-cert', pki.serverCert, '--tls-key', join(pki.dir, 'missing.key')], /flag --tls-key: cannot read .*missing\.key: ENOENT/],
    [['--tls-cert', pki.serverCert, '--tls-key', pki.clientKey], /TLS files .*: .*key values mismatch/],
  ];
  for (const [flags, message] of cases) {
    const p = camrecProc(['paramserver', '--shard', '0', '--shards', '1', '--port', '0', ...flags]);
    assert.equal(await p.exited, 2, `${flags.join(' ')}: ${p.stderr()}`);
    assert.match(p.stderr(), message);
    assert.equal(p.stderr().trim().split('\n').length, 1, p.stderr());
  }
});

test('an open listener needs a token or mutual TLS (plain TLS authenticates nobody) unless --insecure', () => {
  assert.doesNotThrow(() => checkOpenListener('0.0.0.0', undefined, false, 'CAMREC_TOKEN', true));
  assert.doesNotThrow(() => checkOpenListener('0.0.0.0', 'token', false, 'CAMREC_TOKEN', false));
  assert.doesNotThrow(() => checkOpenListener('0.0.0.0', undefined, true, 'CAMREC_TOKEN', false));
  assert.throws(() => checkOpenListener('0.0.0.0', undefined, false, 'CAMREC_TOKEN', false), ConfigError);
  assert.doesNotThrow(() => checkOpenListener('127.0.0.1', undefined, false, 'CAMREC_TOKEN', false));
});
