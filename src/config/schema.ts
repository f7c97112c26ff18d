import { z } from 'zod';

export const backendChoice = z.enum(['auto', 'wasm', 'tensorflow', 'tensorflow-gpu']);

/** The run configuration: defaults here, then the config file, then flags (DESIGN.md §1). */
export const trainConfig = z
  .object({
    model: z.string().default('camrec'),
    data: z.string().default('data/tiktok'),
    epochs: z.number().int().positive().default(1000),
    seed: z.number().int().nonnegative().default(2023),
    seeds: z.array(z.number().int().nonnegative()).nonempty().optional(),
    out: z.string().optional(),
    batch: z.number().int().positive().default(2048),
    optimizer: z.enum(['adam', 'adagrad']).default('adam'),
    lr: z.number().positive().default(1e-3),
    patience: z.number().int().nonnegative().default(20),
    evalEvery: z.number().int().positive().default(1),
    ks: z.array(z.number().int().positive()).nonempty().default([5, 10, 20, 50]),
    selectMetric: z.string().default('recall@20'),
    /** Benchmark mode: exactly this many epochs and one evaluation, no early stopping. */
    benchEpochs: z.number().int().positive().optional(),
    backend: backendChoice.default('auto'),
    threads: z.number().int().positive().optional(),
    native: z.boolean().default(true),
    resume: z.boolean().default(false),
    json: z.boolean().default(false),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
    /** The model's hyper-parameters; validated by the model's own schema. */
    hyper: z.record(z.string(), z.unknown()).default({}),
    /** Model selection: hyper-parameter → the values to try, chosen on the validation split. */
    grid: z.record(z.string(), z.array(z.unknown()).nonempty()).optional(),
  })
  .strict();

export type TrainConfig = z.infer<typeof trainConfig>;
export type BackendChoice = z.infer<typeof backendChoice>;
