/**
 * deploy/k8s and its overlays pass the checks of k8s-check.ts, and each kind of mistake those checks exist for —
 * a renamed flag, a shard count that disagrees, a probe on the wrong port or path, a metrics port bound to
 * loopback, a missing Secret, a bad apiVersion, a train config the schema refuses — is reported.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { applyJsonPatch, checkManifests, DEPLOY_DIR, loadKustomization, type K8sObject } from './k8s-check.js';

const base = () => loadKustomization(DEPLOY_DIR);
const get = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name)!;
const args = (objs: K8sObject[], kind: string, name: string): string[] => get(objs, kind, name).spec.template.spec.containers[0].args;

test('the base deployment: every object and command line checks out', async () => {
  const objs = base();
  assert.deepEqual(
    objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    [
      'ConfigMap/camrec-job', 'Job/camrec-coordinator', 'Job/camrec-worker', 'Namespace/camrec', 'PersistentVolumeClaim/camrec-runs', 'Secret/camrec-token',
      'Service/camrec-coordinator', 'Service/camrec-ps', 'Service/nats', 'StatefulSet/camrec-ps', 'StatefulSet/nats',
    ],
  );
  assert.deepEqual(await checkManifests(objs), []);
});

test('the gpu overlay: workers ask for one nvidia.com/gpu and the tensorflow-gpu backend, and still check out', async () => {
  const objs = loadKustomization(join(DEPLOY_DIR, 'overlays/gpu'));
  const w = get(objs, 'Job', 'camrec-worker').spec.template.spec;
  assert.equal(w.containers[0].resources.limits['nvidia.com/gpu'], 1);
  assert.deepEqual(w.containers[0].args.slice(-2), ['--backend', 'tensorflow-gpu']);
  assert.equal(w.tolerations[0].key, 'nvidia.com/gpu');
  assert.equal(get(objs, 'StatefulSet', 'camrec-ps').spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'], undefined, 'shards stay on CPU');
  assert.deepEqual(await checkManifests(objs), []);
});

test('the tls overlay: shards, coordinator and workers all get --tls-cert/--tls-key/--tls-ca from the camrec-tls Secret', async () => {
  const objs = loadKustomization(join(DEPLOY_DIR, 'overlays/tls'));
  for (const [kind, name] of [['StatefulSet', 'camrec-ps'], ['Job', 'camrec-coordinator'], ['Job', 'camrec-worker']]) {
    const a = args(objs, kind, name);
    for (const f of ['--tls-cert', '--tls-key', '--tls-ca']) assert.ok(a.includes(f), `${name} ${f}`);
  }
  assert.deepEqual(await checkManifests(objs), []);
});

/** Applies `change` to a fresh copy of the base and returns the problems reported. */
async function problemsAfter(change: (objs: K8sObject[]) => void): Promise<string[]> {
  const objs = base();
  change(objs);
  return checkManifests(objs);
}

const replaceArg = (a: string[], from: string, to: string) => a.splice(a.indexOf(from), 1, to);

test('a renamed or unknown flag is refused by the real CLI', async () => {
  const renamed = await problemsAfter((o) => replaceArg(args(o, 'Job', 'camrec-coordinator'), '--shards', '--shard-list'));
  assert.ok(renamed.some((p) => /Job\/camrec-coordinator .*refused by the CLI: error: required option '--shards <list>' not specified/.test(p)), renamed.join('\n'));
  const worker = await problemsAfter((o) => replaceArg(args(o, 'Job', 'camrec-worker'), '--metrics-port', '--metric-port'));
  assert.ok(worker.some((p) => /camrec-worker .*unknown option '--metric-port'/.test(p)), worker.join('\n'));
  const badValue = await problemsAfter((o) => replaceArg(args(o, 'StatefulSet', 'camrec-ps'), '0.0.0.0:50051', 'ps:50051'));
  assert.ok(badValue.some((p) => /camrec-ps .*host 'ps' is not an IP address/.test(p)), badValue.join('\n'));
});

test('shard counts that disagree are reported', async () => {
  const replicas = await problemsAfter((o) => (get(o, 'StatefulSet', 'camrec-ps').spec.replicas = 3));
  assert.ok(replicas.some((p) => /--shards names 2 shards, the StatefulSet camrec-ps has 3/.test(p)), replicas.join('\n'));
  assert.ok(replicas.some((p) => /paramserver --shards 2, but 3 replicas/.test(p)));
  const order = await problemsAfter((o) => {
    const a = args(o, 'Job', 'camrec-coordinator');
    a[a.indexOf('--shards') + 1] = 'camrec-ps-1.camrec-ps:50051,camrec-ps-0.camrec-ps:50051';
  });
  assert.ok(order.some((p) => /--shards entry 0 is camrec-ps-1\.camrec-ps:50051, expected camrec-ps-0\.camrec-ps:50051/.test(p)), order.join('\n'));
  const fixed = await problemsAfter((o) => {
    const a = args(o, 'StatefulSet', 'camrec-ps');
    a[a.indexOf('--shard') + 1] = '0';
  });
  assert.ok(fixed.some((p) => /--shard must come from the pod index/.test(p)), fixed.join('\n'));
});

test('the task queue: the base deployment uses JetStream\'s; a jetstream queue without --nats, a worker --task-queue other than the coordinator\'s, and a worker --nats no Service reaches are reported', async () => {
  assert.deepEqual(args(base(), 'Job', 'camrec-coordinator').filter((a, i, all) => all[i - 1] === '--task-queue'), ['jetstream']);
  const noNats = await problemsAfter((o) => {
    const a = args(o, 'Job', 'camrec-coordinator');
    a.splice(a.indexOf('--nats'), 2);
  });
  assert.ok(noNats.some((p) => /camrec coordinator: flag --task-queue jetstream needs --nats <url>/.test(p)), noNats.join('\n'));
  const differs = await problemsAfter((o) => args(o, 'Job', 'camrec-worker').push('--task-queue', 'policy'));
  assert.ok(differs.some((p) => /Job\/camrec-worker: --task-queue policy, but the coordinator runs --task-queue jetstream/.test(p)), differs.join('\n'));
  const badNats = await problemsAfter((o) => args(o, 'Job', 'camrec-worker').push('--nats', 'nats://natz:4222'));
  assert.ok(badNats.some((p) => /Job\/camrec-worker --nats: natz:4222: no Service natz/.test(p)), badNats.join('\n'));
  assert.deepEqual(await problemsAfter((o) => args(o, 'Job', 'camrec-worker').push('--task-queue', 'jetstream', '--nats', 'nats://nats:4222')), []);
});

test('a coordinator that waits for more workers than the worker Job starts is reported', async () => {
  const more = await problemsAfter((o) => (get(o, 'Job', 'camrec-worker').spec.parallelism = 1));
  assert.ok(more.some((p) => /Job\/camrec-coordinator: --min-workers 2, but Job\/camrec-worker starts 1 workers: the first epoch would wait out --gather-timeout-ms/.test(p)), more.join('\n'));
});

test('probes and metrics ports that would fail in a cluster are reported', async () => {
  const path = await problemsAfter((o) => (get(o, 'Job', 'camrec-worker').spec.template.spec.containers[0].readinessProbe.httpGet.path = '/ready'));
  assert.ok(path.some((p) => /readinessProbe asks \/ready, camrec serves \/readyz/.test(p)), path.join('\n'));
  const port = await problemsAfter((o) => {
    const a = args(o, 'StatefulSet', 'camrec-ps');
    a[a.indexOf('--metrics-port') + 1] = '9100';
  });
  assert.ok(port.some((p) => /readinessProbe port metrics is 9090, --metrics-port is 9100/.test(p)), port.join('\n'));
  const host = await problemsAfter((o) => {
    const a = args(o, 'Job', 'camrec-coordinator');
    a.splice(a.indexOf('--metrics-host'), 2);
  });
  assert.ok(host.some((p) => /--metrics-host 127\.0\.0\.1 \(default\): the kubelet probes the pod IP/.test(p)), host.join('\n'));
  const svc = await problemsAfter((o) => (get(o, 'Service', 'camrec-coordinator').spec.ports[0].port = 50059));
  assert.ok(svc.some((p) => /--coordinator: camrec-coordinator:50050: Service camrec-coordinator has no port 50050/.test(p)), svc.join('\n'));
});

test('missing Secrets, bad apiVersions, bad selectors and a train config the schema refuses are reported', async () => {
  const secret = await problemsAfter((o) => (get(o, 'Job', 'camrec-worker').spec.template.spec.volumes[0].secret.secretName = 'camrec-tokn'));
  assert.ok(secret.some((p) => /Job\/camrec-worker: volume token: no Secret camrec-tokn/.test(p)), secret.join('\n'));
  assert.ok(secret.some((p) => /--token-file \/etc\/camrec\/token\/token: volume token is not a Secret or ConfigMap/.test(p)));
  const api = await problemsAfter((o) => (get(o, 'Job', 'camrec-worker').apiVersion = 'batch/v1beta1'));
  assert.ok(api.some((p) => /apiVersion batch\/v1beta1, Kubernetes serves Job as batch\/v1/.test(p)), api.join('\n'));
  const sel = await problemsAfter((o) => (get(o, 'Service', 'camrec-ps').spec.selector['app.kubernetes.io/component'] = 'shard'));
  assert.ok(sel.some((p) => /Service\/camrec-ps: selects no pod/.test(p)), sel.join('\n'));
  const cfg = await problemsAfter((o) => (get(o, 'ConfigMap', 'camrec-job').data['job.yaml'] += 'epoch: 3\n'));
  assert.ok(cfg.some((p) => /camrec coordinator: .*epoch/.test(p)), cfg.join('\n'));
});

test('the JSON-patch reader follows RFC 6902/6901: escaped keys, appends, and a missing parent is an error', () => {
  const doc = { a: { list: [1, 2] } };
  applyJsonPatch(doc, [
    { op: 'add', path: '/a/list/-', value: 3 },
    { op: 'add', path: '/a/list/0', value: 0 },
    { op: 'add', path: '/a/x~1y', value: 'slash' },
    { op: 'replace', path: '/a/list/1', value: 10 },
  ]);
  assert.deepEqual(doc, { a: { list: [0, 10, 2, 3], 'x/y': 'slash' } });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'add', path: '/b/c', value: 1 }]), /'b' does not exist/);
  assert.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '/a/zzz' }]), /nothing there/);
});

test('deploy/Dockerfile: every file it copies from the context exists and is not excluded by .dockerignore; the entrypoint is the CLI', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const docker = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8');
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const copies = docker.split('\n').filter((l) => /^COPY (?!--from)/.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1));
  assert.ok(copies.length >= 8, copies.join(' '));
  for (const src of copies) {
    assert.ok(existsSync(join(root, src)), `COPY ${src}: not in the repository`);
    assert.ok(!ignored.some((i) => src === i || src.startsWith(`${i}/`)), `COPY ${src}: excluded by .dockerignore`);
  }
  for (const needed of ['package.json', 'package-lock.json', 'src', 'proto', 'bin', 'data', 'scripts', 'native', 'binding.gyp']) assert.ok(copies.includes(needed), `the image needs ${needed}`);
  assert.match(docker, /^FROM node:20-slim/m);
  assert.match(docker, /^ENTRYPOINT \["node", "\/opt\/camrec\/bin\/camrec\.js"\]$/m);
  assert.ok(existsSync(join(root, 'bin/camrec.js')));
  for (const o of loadKustomization(DEPLOY_DIR)) {
    for (const c of o.spec?.template?.spec?.containers ?? []) if (c.name !== 'nats') assert.equal(c.image, 'camrec:latest', `${o.metadata.name}: the image deploy/Dockerfile builds`);
  }
});
