import { ConfigError } from '../errors/index.js';
import { bpr } from './bpr.js';
import { camrec } from './camrec.js';
import { lightgcn } from './lightgcn.js';
import type { Model } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyModel = Model<any, any>;

/** Maps names to models; refuses duplicates and unknown names with the list of known ones. */
export class ModelRegistry {
  private readonly models = new Map<string, AnyModel>();

  register(model: AnyModel): this {
    if (this.models.has(model.name)) throw new Error(`model ${model.name} is registered twice`);
    this.models.set(model.name, model);
    return this;
  }

  get(name: string): AnyModel {
    const m = this.models.get(name);
    if (!m) throw new ConfigError(`unknown model '${name}'; known models: ${this.names().join(', ')}`);
    return m;
  }

  names(): string[] {
    return [...this.models.keys()].sort();
  }
}

export const models = new ModelRegistry().register(bpr).register(lightgcn).register(camrec);
