// Hugging Face's sharded safetensors: `model.safetensors.index.json` maps each tensor name to the shard file
// (beside the index) that holds it. Every shard's header is read and checked against the map before any
// tensor data is read; tensors are then read one at a time, shard by shard.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tensor } from '../tensor';
import { SafetensorsEntry, SafetensorsFile } from './safetensors';

/** One model's weights in one .safetensors file or in the shards an index names: the same reading interface. */
export class SafetensorsShards {
  /** Tensor name -> its entry, grouped by shard (in the index's shard order), sorted by name within a shard. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  private readonly shardOf = new Map<string, SafetensorsFile>();

  private constructor(private readonly files: SafetensorsFile[]) {
    const entries = new Map<string, SafetensorsEntry>();
    for (const file of files)
      for (const [name, entry] of file.entries) {
        entries.set(name, entry);
        this.shardOf.set(name, file);
      }
    this.entries = entries;
  }

  /** Opens a .safetensors file, or a `*.safetensors.index.json` and every shard it names. */
  static open(file: string): SafetensorsShards {
    if (typeof file !== 'string' || file.length === 0)
      throw new TypeError('SafetensorsShards.open: path must be a non-empty string');
    if (!file.endsWith('.json')) return new SafetensorsShards([SafetensorsFile.open(file)]);
    const weightMap = readWeightMap(file);
    const shardNames = [...new Set(weightMap.values())];
    const files: SafetensorsFile[] = [];
    try {
      for (const shard of shardNames) files.push(SafetensorsFile.open(path.join(path.dirname(file), shard)));
      checkShards(file, weightMap, files, shardNames);
    } catch (err) {
      for (const f of files) f.close();
      throw err;
    }
    return new SafetensorsShards(files);
  }

  /** Reads one tensor from its shard. */
  read(name: string): Tensor {
    const file = this.shardOf.get(name);
    if (file === undefined) throw new RangeError(`loadSafetensors: no tensor named '${name}' in the model's weights`);
    return file.read(name);
  }

  /** Reads one tensor straight into `target` (see SafetensorsFile.readInto). */
  readInto(name: string, target: Tensor): void {
    const file = this.shardOf.get(name);
    if (file === undefined) throw new RangeError(`loadSafetensors: no tensor named '${name}' in the model's weights`);
    file.readInto(name, target);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

function readWeightMap(indexFile: string): Map<string, string> {
  const fail = (message: string): never => {
    throw new Error(`loadSafetensors: ${indexFile}: ${message}`);
  };
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (e) {
    return fail(`not a readable JSON index (${(e as Error).message})`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap))
    fail("needs a 'weight_map' object of tensor name -> shard file");
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    // Shards sit beside the index: a path elsewhere would let an index read any file.
    if (
      typeof shard !== 'string' ||
      shard !== path.basename(shard) ||
      shard === '..' ||
      !shard.endsWith('.safetensors')
    )
      fail(`weight_map['${name}'] must be a .safetensors file name beside the index, got ${JSON.stringify(shard)}`);
    map.set(name, shard as string);
  }
  if (map.size === 0) fail('weight_map is empty');
  return map;
}

/** Each shard must hold exactly the tensors the index assigns to it. */
function checkShards(
  indexFile: string,
  weightMap: Map<string, string>,
  files: SafetensorsFile[],
  shardNames: string[],
): void {
  files.forEach((file, i) => {
    for (const name of file.entries.keys())
      if (weightMap.get(name) !== shardNames[i])
        throw new Error(
          `loadSafetensors: ${indexFile}: shard ${shardNames[i]} holds '${name}', which the index ${weightMap.has(name) ? `assigns to ${weightMap.get(name)}` : 'does not list'}`,
        );
  });
  for (const [name, shard] of weightMap) {
    const file = files[shardNames.indexOf(shard)];
    if (!file.entries.has(name))
      throw new Error(`loadSafetensors: ${indexFile}: the index puts '${name}' in ${shard}, which does not hold it`);
  }
}
