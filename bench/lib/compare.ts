/** One figure of ours against the peer's: ratio = ours / peer, met when ratio ≤ target. */
export interface Ratio {
  readonly ours: number;
  readonly peer: number;
  readonly ratio: number;
  readonly target: number;
  readonly met: boolean;
}

/** Ratios for the fields that have a target; both sides must hold every such field. */
export function compareToTargets<K extends string>(
  ours: Readonly<Record<K, number>>,
  peer: Readonly<Record<K, number>>,
  targets: Readonly<Partial<Record<K, number>>>,
): Record<K, Ratio> {
  const out = {} as Record<K, Ratio>;
  for (const k of Object.keys(targets) as K[]) {
    const target = targets[k]!;
    const ratio = ours[k] / peer[k];
    out[k] = { ours: ours[k], peer: peer[k], ratio, target, met: ratio <= target };
  }
  return out;
}
