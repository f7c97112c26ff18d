/**
 * Early stopping with MMRec's semantics: an evaluation is better only when strictly greater; training stops
 * once the run of evaluations without improvement exceeds the patience (so patience + 1 of them).
 * Pure: the state is data, the update returns a new state.
 */
export interface EarlyStopState {
  readonly best: number;
  readonly bestEpoch: number;
  readonly sinceBest: number;
  readonly stopped: boolean;
}

export const initialEarlyStop: EarlyStopState = { best: -Infinity, bestEpoch: 0, sinceBest: 0, stopped: false };

export function updateEarlyStop(
  s: EarlyStopState,
  value: number,
  epoch: number,
  patience: number,
): EarlyStopState & { improved: boolean } {
  if (value > s.best) return { best: value, bestEpoch: epoch, sinceBest: 0, stopped: false, improved: true };
  const sinceBest = s.sinceBest + 1;
  return { ...s, sinceBest, stopped: sinceBest > patience, improved: false };
}
