/**
 * The reference of CamrecConcreteGate (concrete-gate.ts) in float64: ρ = σ((ω + g)/τ) and ∂ρ/∂ω, with the logistic
 * noise g = log u − log(1 − u) rounded to float32, as the op (and the model before it) stores it.
 */
export function concreteGateReference(
  logits: ArrayLike<number>,
  uniforms: ArrayLike<number> | null,
  temperature: number,
): { rho: Float64Array; dRho: Float64Array } {
  const rho = new Float64Array(logits.length);
  const dRho = new Float64Array(logits.length);
  for (let e = 0; e < logits.length; e++) {
    const g = uniforms ? Math.fround(Math.log(uniforms[e]) - Math.log(1 - uniforms[e])) : 0;
    rho[e] = 1 / (1 + Math.exp(-(logits[e] + g) / temperature));
    dRho[e] = (rho[e] * (1 - rho[e])) / temperature;
  }
  return { rho, dRho };
}
