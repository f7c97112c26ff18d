import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors/index.js';

/** Reads a YAML or JSON config file (JSON is YAML); errors name the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config file (${(err as Error).message})`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML/JSON (${(err as Error).message.split('\n')[0]})`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${path}: the top level must be a mapping`);
  return doc as Record<string, unknown>;
}

/**
 * Validates layered config sources (later ones override earlier ones, `hyper` merged key by key) against a
 * schema, once, and freezes the result. The first problem is reported with its field path and source.
 */
export function resolveConfig<S extends z.ZodType>(
  schema: S,
  layers: readonly { source: string; values: Record<string, unknown> }[],
): Readonly<z.infer<S>> {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer.values)) {
      if (v === undefined) continue;
      if (k === 'hyper' && isRecord(v) && isRecord(merged.hyper)) merged.hyper = { ...merged.hyper, ...v };
      else merged[k] = v;
    }
  }
  const res = schema.safeParse(merged);
  if (!res.success) {
    const issue = res.error.issues[0];
    const field = issue.path.join('.') || '(top level)';
    const source = layers.filter((l) => issue.path.length > 0 && String(issue.path[0]) in l.values).pop()?.source;
    throw new ConfigError(`config field '${field}'${source ? ` (from ${source})` : ''}: ${issue.message}`);
  }
  return deepFreeze(res.data);
}

export function configHash(cfg: unknown): string {
  return createHash('sha256').update(stableJson(cfg)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so equal configs hash equally. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (isRecord(v)) {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
