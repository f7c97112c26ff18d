/**
 * Reads deploy/k8s the way `kubectl apply -k` would (resources, JSON 6902 patches, namespace; any other kustomize
 * feature is refused, so the reader never ignores part of a kustomization) and checks the objects:
 *
 * - each kind has the apiVersion Kubernetes serves it under, a valid name, the required fields, and the namespace;
 * - selectors match pod labels; a StatefulSet's serviceName is a headless Service selecting its pods; Service ports
 *   target ports that the selected containers declare; volumes, Secrets, ConfigMaps and PVCs referenced exist;
 * - every camrec container's args parse with camrec's own CLI (commander, then the commands' own checks, the train
 *   config through its zod schema with the ConfigMap's file): a renamed or removed flag fails here;
 * - files named by flags (--config, --token-file, --tls-*) are keys of the Secret or ConfigMap mounted there;
 * - probes are HTTP /readyz and /healthz on the container port that --metrics-port names, bound to 0.0.0.0;
 * - the coordinator's --shards list names every shard of the StatefulSet, in order, on its Service's gRPC port,
 *   and has as many entries as the StatefulSet has replicas and as the shards' --shards says; the workers'
 *   --coordinator and the coordinator's (and workers') --nats name Services that reach the right containers;
 * - a worker's --task-queue, when it gives one, is the coordinator's (a worker that differs exits 2).
 *
 * `checkManifests` returns the problems found, one line each (empty: none).
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { splitCoordinatorFlags, parseAddresses } from '../../src/cli/coordinator-command.js';
import { checkTaskQueue } from '../../src/cli/flags.js';
import { main } from '../../src/cli/main.js';
import { Ops, splitOpsFlags } from '../../src/cli/ops.js';
import { checkFlags, checkOpenListener, listenAddress, type ParamServerFlags } from '../../src/cli/paramserver-command.js';
import { loadTrainConfig } from '../../src/cli/train-command.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any };

// ---------------------------------------------------------------------------------------------------------------
// Reading a kustomization

const KUSTOMIZE_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches']);

function parseYamlFile(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  return docs.map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    return d.toJS() as unknown;
  }).filter((d) => d !== null);
}

/** The objects `kubectl apply -k dir` would send. */
export function loadKustomization(dir: string): K8sObject[] {
  const file = join(dir, 'kustomization.yaml');
  const k = parseYamlFile(file)[0] as Record<string, unknown>;
  for (const key of Object.keys(k)) if (!KUSTOMIZE_KEYS.has(key)) throw new Error(`${file}: field '${key}' is not read by this checker`);
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') throw new Error(`${file}: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  const objects: K8sObject[] = [];
  for (const r of (k.resources as string[]) ?? []) {
    const p = join(dir, r);
    if (statSync(p).isDirectory()) objects.push(...loadKustomization(p));
    else objects.push(...(parseYamlFile(p) as K8sObject[]));
  }
  for (const patch of (k.patches as { target: Record<string, string>; path: string }[]) ?? []) {
    const ops = parseYamlFile(join(dir, patch.path))[0] as JsonPatchOp[];
    const targets = objects.filter((o) => matchesTarget(o, patch.target));
    if (targets.length === 0) throw new Error(`${file}: patch ${patch.path} matches no object`);
    for (const o of targets) applyJsonPatch(o, ops);
  }
  if (typeof k.namespace === 'string') for (const o of objects) if (o.kind !== 'Namespace') o.metadata.namespace = k.namespace;
  return objects;
}

function matchesTarget(o: K8sObject, t: Record<string, string>): boolean {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return (t.kind === undefined || t.kind === o.kind) && (t.name === undefined || t.name === o.metadata.name) && (t.group === undefined || t.group === group) && (t.version === undefined || t.version === version);
}

interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** RFC 6902 add/replace/remove with RFC 6901 pointers (`~1` is `/`, `~0` is `~`; `-` appends to an array). */
export function applyJsonPatch(doc: unknown, ops: readonly JsonPatchOp[]): void {
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    let at: any = doc;
    for (const p of parts) {
      if (at === null || typeof at !== 'object' || !(p in at)) throw new Error(`patch ${op.op} ${op.path}: '${p}' does not exist`);
      at = at[p];
    }
    if (Array.isArray(at)) {
      const i = last === '-' ? at.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > at.length) throw new Error(`patch ${op.path}: bad index '${last}'`);
      if (op.op === 'add') at.splice(i, 0, structuredClone(op.value));
      else if (op.op === 'replace') at[i] = structuredClone(op.value);
      else at.splice(i, 1);
    } else {
      if (op.op !== 'add' && !(last in at)) throw new Error(`patch ${op.op} ${op.path}: nothing there`);
      if (op.op === 'remove') delete at[last];
      else at[last] = structuredClone(op.value);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Checking

const API_VERSIONS: Record<string, string> = {
  Namespace: 'v1',
  Service: 'v1',
  Secret: 'v1',
  ConfigMap: 'v1',
  PersistentVolumeClaim: 'v1',
  StatefulSet: 'apps/v1',
  Job: 'batch/v1',
};
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const POD_INDEX = "metadata.labels['apps.kubernetes.io/pod-index']";

/** Records a problem about an object (or a named place). */
type Say = (o: K8sObject | string, msg: string) => void;

/** A pod template with where it came from. */
interface Pod {
  readonly owner: K8sObject;
  readonly labels: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly spec: any;
}

/** A camrec container's parsed command line. */
interface Parsed {
  readonly pod: Pod;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly container: any;
  readonly command: string;
  readonly flags: Record<string, unknown>;
}

export async function checkManifests(objects: readonly K8sObject[], namespace = 'camrec'): Promise<string[]> {
  const problems: string[] = [];
  const say: Say = (o, msg) => problems.push(`${typeof o === 'string' ? o : `${o.kind}/${o.metadata?.name}`}: ${msg}`);
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

  for (const o of objects) {
    if (API_VERSIONS[o.kind] === undefined) say(o, `kind ${o.kind} is not one this checker knows`);
    else if (o.apiVersion !== API_VERSIONS[o.kind]) say(o, `apiVersion ${o.apiVersion}, Kubernetes serves ${o.kind} as ${API_VERSIONS[o.kind]}`);
    if (!o.metadata?.name || !DNS1123_SUBDOMAIN.test(o.metadata.name) || o.metadata.name.length > 253) say(o, `name '${o.metadata?.name}' is not a DNS-1123 subdomain`);
    if (o.kind === 'Service' && !DNS1035_LABEL.test(o.metadata.name)) say(o, 'a Service name must be a DNS-1035 label');
    if (o.kind !== 'Namespace' && o.metadata.namespace !== namespace) say(o, `namespace ${o.metadata.namespace}, not ${namespace}`);
  }
  if (!find('Namespace', namespace)) say('kustomization', `no Namespace ${namespace}`);
  const seen = new Set<string>();
  for (const o of objects) {
    const key = `${o.kind}/${o.metadata.name}`;
    if (seen.has(key)) say(o, 'defined twice');
    seen.add(key);
  }

  const pods: Pod[] = [];
  for (const s of byKind('StatefulSet')) {
    const t = s.spec?.template;
    if (!t?.spec?.containers?.length) {
      say(s, 'no pod template with containers');
      continue;
    }
    pods.push({ owner: s, labels: t.metadata?.labels ?? {}, spec: t.spec });
    if (!Number.isInteger(s.spec.replicas) || s.spec.replicas < 1) say(s, 'replicas must be a positive integer');
    if (!subset(s.spec.selector?.matchLabels, t.metadata?.labels)) say(s, 'selector.matchLabels does not match the template labels');
    const svc = find('Service', s.spec.serviceName);
    if (!svc) say(s, `serviceName ${s.spec.serviceName}: no such Service`);
    else {
      if (svc.spec.clusterIP !== 'None') say(s, `Service ${svc.metadata.name} must be headless (clusterIP: None)`);
      if (!subset(svc.spec.selector, t.metadata?.labels)) say(s, `Service ${svc.metadata.name} does not select its pods`);
    }
    for (const c of s.spec.volumeClaimTemplates ?? []) if (!c.spec?.resources?.requests?.storage) say(s, `volumeClaimTemplate ${c.metadata?.name} requests no storage`);
  }
  for (const j of byKind('Job')) {
    const t = j.spec?.template;
    if (!t?.spec?.containers?.length) {
      say(j, 'no pod template with containers');
      continue;
    }
    pods.push({ owner: j, labels: t.metadata?.labels ?? {}, spec: t.spec });
    const rp = t.spec.restartPolicy;
    if (rp !== 'OnFailure' && rp !== 'Never') say(j, `restartPolicy ${rp}: a Job's pods need OnFailure or Never`);
    if (j.spec.podFailurePolicy && rp !== 'Never') say(j, 'podFailurePolicy needs restartPolicy Never');
    if (j.spec.selector) say(j, 'a Job gets its selector from Kubernetes; do not set one');
  }
  for (const pvc of byKind('PersistentVolumeClaim')) {
    if (!pvc.spec?.accessModes?.length || !pvc.spec?.resources?.requests?.storage) say(pvc, 'needs accessModes and a storage request');
  }

  for (const svc of byKind('Service')) {
    const selected = pods.filter((p) => subset(svc.spec?.selector, p.labels));
    if (!svc.spec?.selector || selected.length === 0) {
      say(svc, 'selects no pod');
      continue;
    }
    for (const port of svc.spec.ports ?? []) {
      const target = port.targetPort ?? port.port;
      if (!selected.every((p) => p.spec.containers.some((c: { ports?: { name?: string; containerPort: number }[] }) => containerPort(c, target) !== undefined))) {
        say(svc, `port ${port.name ?? port.port} targets ${target}, which a selected container does not declare`);
      }
    }
  }

  const parsed: Parsed[] = [];
  for (const pod of pods) {
    const volumes = new Map<string, Record<string, unknown>>((pod.spec.volumes ?? []).map((v: { name: string }) => [v.name, v]));
    for (const c of pod.owner.spec.volumeClaimTemplates ?? []) volumes.set(c.metadata.name, { name: c.metadata.name, claim: true });
    for (const v of volumes.values()) {
      const secret = (v.secret as { secretName?: string } | undefined)?.secretName;
      const cm = (v.configMap as { name?: string } | undefined)?.name;
      const claim = (v.persistentVolumeClaim as { claimName?: string } | undefined)?.claimName;
      if (secret && !find('Secret', secret)) say(pod.owner, `volume ${v.name}: no Secret ${secret}`);
      if (cm && !find('ConfigMap', cm)) say(pod.owner, `volume ${v.name}: no ConfigMap ${cm}`);
      if (claim && !find('PersistentVolumeClaim', claim)) say(pod.owner, `volume ${v.name}: no PersistentVolumeClaim ${claim}`);
    }
    for (const c of pod.spec.containers) {
      const where = `${pod.owner.kind}/${pod.owner.metadata.name} container ${c.name}`;
      if (!c.image) say(where, 'no image');
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) say(where, 'requests no CPU or no memory');
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) say(where, `volumeMount ${m.name}: no such volume`);
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (ref && !keysOf(find(e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name)).includes(ref.key)) say(where, `env ${e.name}: no key ${ref.key} in ${ref.name}`);
      }
      if (!String(c.image).startsWith('camrec:')) continue;
      const p = await parseContainer(pod, c, where, say, (file) => mountedFile(pod, c, volumes, file, find));
      if (p) parsed.push(p);
    }
  }

  for (const p of parsed) checkProbes(p, say);
  checkTopology(parsed, objects, find, say);
  return problems;
}

function subset(sel: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!sel || Object.keys(sel).length === 0) return false;
  return Object.entries(sel).every(([k, v]) => labels?.[k] === v);
}

function containerPort(c: { ports?: { name?: string; containerPort: number }[] }, target: string | number): number | undefined {
  return (c.ports ?? []).find((p) => (typeof target === 'number' ? p.containerPort === target : p.name === target))?.containerPort;
}

function keysOf(o: K8sObject | undefined): string[] {
  return o ? [...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {})] : [];
}

/** The contents of the Secret/ConfigMap key mounted at `file` in this container, or an error. */
function mountedFile(
  pod: Pod,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  c: any,
  volumes: Map<string, Record<string, unknown>>,
  file: string,
  find: (kind: string, name: string) => K8sObject | undefined,
): { content: string } | { error: string } {
  const mount = (c.volumeMounts ?? []).find((m: { mountPath: string }) => posix.dirname(file) === m.mountPath);
  if (!mount) return { error: `${file} is not in a mounted folder` };
  const v = volumes.get(mount.name);
  const secret = (v?.secret as { secretName?: string } | undefined)?.secretName;
  const cm = (v?.configMap as { name?: string } | undefined)?.name;
  const o = secret ? find('Secret', secret) : cm ? find('ConfigMap', cm) : undefined;
  if (!o) return { error: `${file}: volume ${mount.name} is not a Secret or ConfigMap of this deployment` };
  const key = posix.basename(file);
  const content = o.stringData?.[key] ?? (o.data?.[key] !== undefined ? (o.kind === 'Secret' ? Buffer.from(o.data[key], 'base64').toString() : o.data[key]) : undefined);
  return content === undefined ? { error: `${file}: ${o.kind} ${o.metadata.name} has no key ${key}` } : { content };
}

/** `$(VAR)` in args, from the container's env: literal values, and the StatefulSet pod index (0 stands for any). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function expand(c: any, arg: string): string {
  return arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => {
    const e = (c.env ?? []).find((x: { name: string }) => x.name === name);
    if (e?.value !== undefined) return String(e.value);
    if (e?.valueFrom?.fieldRef?.fieldPath === POD_INDEX) return '0';
    return whole; // left as is: the CLI refuses it
  });
}

async function parseContainer(
  pod: Pod,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  c: any,
  where: string,
  say: Say,
  file: (path: string) => { content: string } | { error: string },
): Promise<Parsed | null> {
  if (c.command) say(where, 'sets command: the image\'s entrypoint is camrec');
  const args = ((c.args ?? []) as unknown[]).map((a) => expand(c, String(a)));
  let got: { command: string; flags: Record<string, unknown> } | null = null;
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(args, { parseOnly: (command, flags) => (got = { command, flags }) });
  } finally {
    process.stderr.write = write;
  }
  if (code !== 0 || !got) {
    say(where, `camrec ${args.join(' ')}: refused by the CLI: ${stderr.trim().split('\n')[0] || `exit ${code}`}`);
    return null;
  }
  const { command, flags } = got as { command: string; flags: Record<string, unknown> };
  for (const [flag, key] of [['--config', 'config'], ['--token-file', 'tokenFile'], ['--tls-cert', 'tlsCert'], ['--tls-key', 'tlsKey'], ['--tls-ca', 'tlsCa']] as const) {
    if (typeof flags[key] !== 'string') continue;
    const f = file(flags[key] as string);
    if ('error' in f) say(where, `${flag} ${f.error}`);
  }
  try {
    checkCommand(command, flags, file);
  } catch (err) {
    say(where, `camrec ${command}: ${(err as Error).message}`);
    return null;
  }
  return { pod, container: c, command, flags };
}

/** The commands' own checks after commander: the ones that need no network and no files outside the pod. */
function checkCommand(command: string, flags: Record<string, unknown>, file: (path: string) => { content: string } | { error: string }): void {
  const { ops, rest } = splitOpsFlags(flags);
  const mutual = Boolean(ops.tlsCert && ops.tlsKey && ops.tlsCa);
  // The metrics flags through the real Ops checks; the TLS files are checked as mounted keys instead.
  new Ops({ metricsPort: ops.metricsPort, metricsHost: ops.metricsHost }, command, []);
  const token = rest.tokenFile ? 'from-file' : undefined;
  if (command === 'paramserver') {
    const f = rest as unknown as ParamServerFlags;
    checkFlags(f, listenAddress(f).host, token, mutual);
  } else if (command === 'coordinator') {
    const { own, train } = splitCoordinatorFlags(rest);
    if (typeof train.config === 'string') {
      const f = file(train.config);
      if ('error' in f) throw new Error(f.error);
      const local = join(mkdtempSync(join(tmpdir(), 'camrec-k8s-')), posix.basename(train.config));
      writeFileSync(local, f.content);
      train.config = local;
    }
    loadTrainConfig(train);
    parseAddresses('--shards', own.shards);
    checkTaskQueue(own.taskQueue, own.nats);
    checkOpenListener(listenAddress(own, 50050).host, token, own.insecure, 'CAMREC_TOKEN', mutual);
  } else if (command === 'worker') {
    parseAddresses('--coordinator', rest.coordinator as string);
  } else {
    throw new Error(`'${command}' is not a server command`);
  }
}

function checkProbes(p: Parsed, say: Say): void {
  const where = `${p.pod.owner.kind}/${p.pod.owner.metadata.name} container ${p.container.name}`;
  const port = p.flags.metricsPort;
  if (port === undefined) return void say(where, 'no --metrics-port: the probes have nothing to ask');
  if (p.flags.metricsHost !== '0.0.0.0' && p.flags.metricsHost !== '::') say(where, `--metrics-host ${p.flags.metricsHost ?? '127.0.0.1 (default)'}: the kubelet probes the pod IP, so bind 0.0.0.0`);
  for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
    const h = p.container[probe]?.httpGet;
    if (!h) {
      say(where, `no ${probe} with httpGet`);
      continue;
    }
    if (h.path !== path) say(where, `${probe} asks ${h.path}, camrec serves ${path}`);
    const target = containerPort(p.container, h.port);
    if (target !== port) say(where, `${probe} port ${h.port} is ${target ?? 'not a declared port'}, --metrics-port is ${port}`);
  }
  const grpcPort = p.command === 'worker' ? undefined : (p.flags.listen ? Number(String(p.flags.listen).split(':').pop()) : p.flags.port);
  if (p.command !== 'worker' && containerPort(p.container, 'grpc') !== grpcPort) say(where, `the port named grpc is not the one it listens on (${grpcPort})`);
}

function checkTopology(parsed: Parsed[], objects: readonly K8sObject[], find: (kind: string, name: string) => K8sObject | undefined, say: Say): void {
  const one = (command: string) => {
    const all = parsed.filter((p) => p.command === command);
    if (all.length !== 1) say('deployment', `${all.length} ${command} workloads, expected 1`);
    return all[0];
  };
  const ps = one('paramserver');
  const coord = one('coordinator');
  const worker = one('worker');
  if (!ps || !coord || !worker) return;
  const sts = ps.pod.owner;
  if (sts.kind !== 'StatefulSet') say(sts, 'the parameter servers must be a StatefulSet (stable names, one volume per shard)');
  const replicas = sts.spec.replicas;
  if (ps.flags.shards !== replicas) say(sts, `paramserver --shards ${ps.flags.shards}, but ${replicas} replicas`);
  const shardArg = (ps.container.args as string[])[(ps.container.args as string[]).indexOf('--shard') + 1];
  if (!/^\$\([A-Za-z_]+\)$/.test(shardArg) || ps.container.env?.find((e: { name: string }) => `$(${e.name})` === shardArg)?.valueFrom?.fieldRef?.fieldPath !== POD_INDEX) {
    say(sts, '--shard must come from the pod index, so that pod i serves shard i');
  }
  const svc = find('Service', sts.spec.serviceName);
  const grpcSvcPort = svc?.spec.ports.find((p: { targetPort?: string | number }) => containerPort(ps.container, p.targetPort ?? 0) === containerPort(ps.container, 'grpc'))?.port;
  const shards = String(coord.flags.shards).split(',');
  if (shards.length !== replicas) say(coord.pod.owner, `--shards names ${shards.length} shards, the StatefulSet ${sts.metadata.name} has ${replicas}`);
  shards.forEach((a, i) => {
    const ok = [`${sts.metadata.name}-${i}.${sts.spec.serviceName}`, `${sts.metadata.name}-${i}.${sts.spec.serviceName}.${sts.metadata.namespace}.svc.cluster.local`].map((h) => `${h}:${grpcSvcPort}`);
    if (!ok.includes(a)) say(coord.pod.owner, `--shards entry ${i} is ${a}, expected ${ok[0]}`);
  });
  // host:port → a Service of that name whose port reaches the named container port of the workload it selects.
  const reaches = (hostPort: string, target: Parsed | null, targetPortName: string, what: string) => {
    const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))];
    const s = find('Service', host.split('.')[0]);
    if (!s) return say(what, `${hostPort}: no Service ${host.split('.')[0]}`);
    const sp = s.spec.ports.find((p: { port: number }) => p.port === port);
    if (!sp) return say(what, `${hostPort}: Service ${s.metadata.name} has no port ${port}`);
    const pods = objects.filter((o) => o.spec?.template && subset(s.spec.selector, o.spec.template.metadata?.labels));
    if (target && !pods.includes(target.pod.owner)) return say(what, `${hostPort}: Service ${s.metadata.name} does not select ${target.pod.owner.kind}/${target.pod.owner.metadata.name}`);
    const containers = pods.flatMap((o) => o.spec.template.spec.containers);
    if (!containers.some((c) => containerPort(c, sp.targetPort ?? sp.port) !== undefined && containerPort(c, sp.targetPort ?? sp.port) === containerPort(c, targetPortName))) {
      say(what, `${hostPort}: Service port ${port} does not reach a container port named ${targetPortName}`);
    }
  };
  reaches(String(worker.flags.coordinator), coord, 'grpc', `${worker.pod.owner.kind}/${worker.pod.owner.metadata.name} --coordinator`);
  for (const p of [coord, worker]) {
    if (typeof p.flags.nats !== 'string') continue;
    const m = /^nats:\/\/([^/]+:\d+)$/.exec(p.flags.nats);
    if (!m) say(p.pod.owner, `--nats ${p.flags.nats} is not nats://host:port`);
    else reaches(m[1], null, 'client', `${p.pod.owner.kind}/${p.pod.owner.metadata.name} --nats`);
  }
  const queue = coord.flags.taskQueue ?? 'policy';
  if (worker.flags.taskQueue !== undefined && worker.flags.taskQueue !== queue) {
    say(worker.pod.owner, `--task-queue ${worker.flags.taskQueue}, but the coordinator runs --task-queue ${queue}: the workers would exit 2`);
  }
  const wj = worker.pod.owner;
  if (wj.kind !== 'Job' || !(wj.spec.parallelism >= 1)) say(wj, 'workers are a Job with parallelism ≥ 1 (scaled by patching parallelism)');
  if (wj.spec.completions !== undefined) say(wj, 'completions set: the worker Job must complete when the workers finish, whatever their number');
  const minWorkers = typeof coord.flags.minWorkers === 'number' ? coord.flags.minWorkers : 1;
  if (minWorkers > wj.spec.parallelism) {
    say(coord.pod.owner, `--min-workers ${minWorkers}, but Job/${wj.metadata.name} starts ${wj.spec.parallelism} workers: the first epoch would wait out --gather-timeout-ms`);
  }
  if (coord.pod.owner.kind !== 'Job' || coord.pod.owner.spec.template.spec.restartPolicy !== 'OnFailure') say(coord.pod.owner, 'the coordinator is a Job restarted in place (restartPolicy OnFailure)');
  if (!coord.flags.resume || !coord.flags.out) say(coord.pod.owner, 'a restarted coordinator needs --resume and --out on a volume');
}

export const DEPLOY_DIR = fileURLToPath(new URL('../../deploy/k8s', import.meta.url));
