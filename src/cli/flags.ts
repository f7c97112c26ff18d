import { ConfigError } from '../errors/index.js';

/** Commander option parsers that fail with a ConfigError naming the flag. */
export function numberFlag(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`flag ${flag}: '${v}' is not a number`);
    return n;
  };
}

export function intListFlag(flag: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    return parts.map((p) => {
      const n = Number(p);
      if (p === '' || !Number.isInteger(n)) throw new ConfigError(`flag ${flag}: '${p}' in '${v}' is not an integer`);
      return n;
    });
  };
}

/** --hyper key=value, repeatable; values parsed as JSON when they are JSON (numbers, booleans), else strings. */
export function hyperFlag(v: string, prev: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new ConfigError(`flag --hyper: '${v}' is not key=value`);
  const key = v.slice(0, eq);
  const raw = v.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  return { ...prev, [key]: value };
}
