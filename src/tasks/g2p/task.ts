// Grapheme-to-phoneme on CMUdict end to end: train a Seq2SeqTransformer on the train split, pick nothing on
// test, evaluate WER/PER with beam search, and predict pronunciations for new words.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { noGrad } from '../../autograd';
import { Seq2SeqDataLoader } from '../../data/dataloader';
import { CharTokenizer } from '../../data/tokenizers/char';
import { WordTokenizer } from '../../data/tokenizers/word';
import { beamSearch } from '../../generation';
import { loadSafetensors, replaceDirAtomic, recoverDir, saveSafetensors, writeFileAtomic } from '../../io';
import { modelFromConfig, Seq2SeqTransformer } from '../../models';
import { AdamW, clipGradNorm } from '../../optim';
import { LambdaLR } from '../../optim/lr_scheduler';
import { crossEntropy } from '../../ops';
import { manualSeed, tidy } from '../../tensor';
import { encodeG2PPairs, G2PEntry, g2pTokenizers, G2PTokenizers, loadCmudict, SplitName } from './data';
import { g2pMetrics, G2PMetrics } from './metrics';

export interface G2PTrainConfig {
  /** Seq2SeqTransformer options (vocabulary sizes and padId are filled in from the tokenizers). */
  model: { dModel: number; nhead: number; numEncoderLayers: number; numDecoderLayers: number; dimFeedforward: number; dropout: number };
  /** Upper bound on epochs; the schedule is sized to end within maxMinutes (see trainG2P). */
  epochs: number;
  /** Tokens per batch (padded source + target), for DataLoader maxTokens. */
  maxTokens: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  labelSmoothing: number;
  clipNorm: number;
  /** Wall-clock budget for training, dev scoring included. */
  maxMinutes: number;
  beamSize: number;
  seed: number;
  /** Words of dev scored after each epoch (0 = all of dev). */
  devWords: number;
}

export const DEFAULT_G2P_CONFIG: G2PTrainConfig = {
  model: { dModel: 256, nhead: 4, numEncoderLayers: 3, numDecoderLayers: 3, dimFeedforward: 1024, dropout: 0.1 },
  epochs: 30,
  maxTokens: 3000,
  lr: 1e-3,
  warmupSteps: 600,
  weightDecay: 0.01,
  labelSmoothing: 0.1,
  clipNorm: 1,
  maxMinutes: 45,
  beamSize: 5,
  seed: 1,
  devWords: 500,
};

export interface G2PLogger {
  (line: string): void;
}

interface Checkpoint {
  model: Seq2SeqTransformer;
  tokenizers: G2PTokenizers;
  config: G2PTrainConfig;
}

/** Merges a partial config over the defaults, checking every value. */
export function g2pConfig(partial: Partial<Omit<G2PTrainConfig, 'model'>> & { model?: Partial<G2PTrainConfig['model']> } = {}): G2PTrainConfig {
  const config: G2PTrainConfig = { ...DEFAULT_G2P_CONFIG, ...partial, model: { ...DEFAULT_G2P_CONFIG.model, ...(partial.model ?? {}) } };
  for (const key of Object.keys(partial)) if (!(key in DEFAULT_G2P_CONFIG)) throw new RangeError(`g2p config: unknown key '${key}'`);
  for (const key of Object.keys(partial.model ?? {})) if (!(key in DEFAULT_G2P_CONFIG.model)) throw new RangeError(`g2p config: unknown key 'model.${key}'`);
  const positive: Array<keyof G2PTrainConfig> = ['epochs', 'maxTokens', 'lr', 'maxMinutes', 'beamSize'];
  for (const key of positive) {
    const v = config[key];
    if (typeof v !== 'number' || !(v > 0)) throw new RangeError(`g2p config: ${key} must be a positive number, got ${String(v)}`);
  }
  return config;
}

/** Writes model weights, model config, training config and both tokenizers into dir, atomically. */
export function saveG2PCheckpoint(dir: string, { model, tokenizers, config }: Checkpoint, extra: Record<string, unknown> = {}): void {
  replaceDirAtomic(dir, (tmp) => {
    saveSafetensors(path.join(tmp, 'model.safetensors'), model.stateDict());
    writeFileAtomic(path.join(tmp, 'config.json'), JSON.stringify({ task: 'g2p', model: model.config, train: config, ...extra }, null, 2));
    tokenizers.graphemes.save(path.join(tmp, 'tokenizer.src.json'));
    tokenizers.phonemes.save(path.join(tmp, 'tokenizer.tgt.json'));
  });
}

export function loadG2PCheckpoint(dir: string): Checkpoint {
  recoverDir(dir);
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath)) throw new Error(`g2p: ${dir} is not a g2p checkpoint (no config.json)`);
  const saved = JSON.parse(fs.readFileSync(configPath, 'utf8')) as { task?: string; model: unknown; train: G2PTrainConfig };
  if (saved.task !== 'g2p') throw new Error(`g2p: ${dir} holds a '${String(saved.task)}' checkpoint, not g2p`);
  const model = modelFromConfig(saved.model as Parameters<typeof modelFromConfig>[0]) as Seq2SeqTransformer;
  const { tensors } = loadSafetensors(path.join(dir, 'model.safetensors'));
  model.loadStateDict(tensors);
  for (const t of tensors.values()) t.dispose();
  const tokenizers = {
    graphemes: CharTokenizer.load(path.join(dir, 'tokenizer.src.json')),
    phonemes: WordTokenizer.load(path.join(dir, 'tokenizer.tgt.json')),
  };
  model.eval();
  return { model, tokenizers, config: saved.train };
}

/** Beam-search pronunciations (phoneme tokens with stress) for words, in batches. */
export function predictG2P(model: Seq2SeqTransformer, tokenizers: G2PTokenizers, words: string[], options: { beamSize?: number; batchSize?: number } = {}): string[][] {
  const beamSize = options.beamSize ?? 5;
  const batchSize = options.batchSize ?? 128;
  const out: string[][] = [];
  const { graphemes, phonemes } = tokenizers;
  for (let i = 0; i < words.length; i += batchSize) {
    const batch = words.slice(i, i + batchSize).map((w) => {
      const ids = graphemes.encode(w.toLowerCase());
      return ids.length > 0 ? ids : [graphemes.unkId];
    });
    const maxSrc = Math.max(...batch.map((b) => b.length));
    const result = noGrad(() => beamSearch(model, batch, { beamSize, bosId: phonemes.bosId, eosId: phonemes.eosId, maxLength: Math.min(maxSrc + 10, model.config.maxLen - 1), lengthPenalty: 0.6 }));
    for (const seq of result.sequences) out.push(seq.map((id) => phonemes.idToToken(id) ?? '<unk>'));
  }
  return out;
}

/** WER/PER (with and without stress) of the model's predictions on entries. */
export function evaluateG2P(model: Seq2SeqTransformer, tokenizers: G2PTokenizers, entries: readonly G2PEntry[], options: { beamSize?: number } = {}): G2PMetrics {
  const predictions = predictG2P(model, tokenizers, entries.map((e) => e.word), options);
  return g2pMetrics(predictions, entries.map((e) => e.pronunciations));
}

/** Trains on the train split, scores dev after each epoch, keeps the best dev checkpoint in `out`.
 * The learning rate warms up linearly, then follows a cosine to 2% of its peak at the planned last step. The plan
 * is `epochs` epochs, shortened once, after the first 50 steps, to what the measured speed fits in maxMinutes
 * (keeping a tenth for dev scoring): the same config finishes in time on a slower machine, training less. */
export function trainG2P(out: string, partial: Parameters<typeof g2pConfig>[0] = {}, log: G2PLogger = (line) => console.log(line)): { dev: G2PMetrics; minutes: number; tokensPerSecond: number } {
  const config = g2pConfig(partial);
  manualSeed(config.seed);
  const data = loadCmudict();
  const tokenizers = g2pTokenizers(data);
  const examples = encodeG2PPairs(data.train, tokenizers);
  const { phonemes, graphemes } = tokenizers;
  const loader = new Seq2SeqDataLoader(examples, {
    maxTokens: config.maxTokens, shuffle: true, bucketByLength: true, seed: config.seed,
    padId: phonemes.padId, bosId: phonemes.bosId, eosId: phonemes.eosId,
  });
  const maxLen = 64;
  const model = new Seq2SeqTransformer({
    ...config.model, srcVocabSize: graphemes.vocabSize, tgtVocabSize: phonemes.vocabSize, maxLen, padId: phonemes.padId, seed: config.seed,
  });
  const optimizer = new AdamW(model.parameters(), { lr: config.lr, betas: [0.9, 0.98], weightDecay: config.weightDecay });
  let totalSteps = config.epochs * loader.length;
  const warmup = Math.min(config.warmupSteps, totalSteps);
  const floor = 0.02;
  const scheduler = new LambdaLR(optimizer, (s: number) => {
    if (s < warmup) return (s + 1) / warmup;
    const progress = Math.min(1, (s - warmup) / Math.max(1, totalSteps - warmup));
    return floor + ((1 - floor) * (1 + Math.cos(Math.PI * progress))) / 2;
  });
  log(`g2p: ${examples.length} training pairs, ${loader.length} batches per epoch, ${model.numParameters()} parameters, up to ${totalSteps} steps`);
  const devEntries = config.devWords > 0 ? data.dev.slice(0, config.devWords) : data.dev;
  const start = Date.now();
  let best: G2PMetrics | null = null;
  let tokens = 0;
  let step = 0;
  let lastEpochCut = false;
  for (let epoch = 0; epoch < config.epochs && !lastEpochCut; epoch++) {
    model.train();
    let lossSum = 0;
    let lossCount = 0;
    for (const batch of loader.epoch(epoch)) {
      const loss = tidy(() => {
        const logits = model.forward(batch.src, batch.tgtIn, { srcKeyPaddingMask: batch.srcKeyPaddingMask, tgtKeyPaddingMask: batch.tgtKeyPaddingMask });
        const [B, T, V] = logits.shape;
        const l = crossEntropy(logits.reshape(B * T, V), batch.tgtOut.reshape(B * T), { ignoreIndex: phonemes.padId, labelSmoothing: config.labelSmoothing });
        l.backward();
        clipGradNorm(model.parameters(), config.clipNorm);
        optimizer.step();
        optimizer.zeroGrad();
        scheduler.step();
        return l.item();
      });
      for (const t of [batch.src, batch.tgtIn, batch.tgtOut, batch.srcKeyPaddingMask, batch.tgtKeyPaddingMask]) t.dispose();
      tokens += batch.numTargetTokens;
      lossSum += loss;
      lossCount++;
      step++;
      if (step % 100 === 0) {
        const minutes = (Date.now() - start) / 60000;
        log(`step ${step}/${totalSteps} epoch ${epoch} loss ${(lossSum / lossCount).toFixed(4)} lr ${optimizer.paramGroups[0].lr.toExponential(2)} ${(tokens / (minutes * 60)).toFixed(0)} target tok/s ${minutes.toFixed(1)} min`);
        lossSum = 0;
        lossCount = 0;
      }
      if (step === 50) {
        const secondsPerStep = (Date.now() - start) / 1000 / step;
        const fits = step + Math.floor((config.maxMinutes * 60 * 0.9 - (Date.now() - start) / 1000) / secondsPerStep);
        if (fits < totalSteps) {
          totalSteps = Math.max(step + 1, fits);
          log(`g2p: ${secondsPerStep.toFixed(2)} s per step: planning ${totalSteps} steps to fit ${config.maxMinutes} minutes`);
        }
      }
      if (step >= totalSteps || (Date.now() - start) / 60000 > config.maxMinutes) {
        if (step < totalSteps) log(`g2p: stopping at the ${config.maxMinutes}-minute limit (step ${step})`);
        lastEpochCut = true;
      }
      if (lastEpochCut) break;
    }
    model.eval();
    const dev = evaluateG2P(model, tokenizers, devEntries, { beamSize: config.beamSize });
    log(`epoch ${epoch}: dev WER ${(dev.wer * 100).toFixed(2)}% PER ${(dev.per * 100).toFixed(2)}% (no stress: WER ${(dev.werNoStress * 100).toFixed(2)}% PER ${(dev.perNoStress * 100).toFixed(2)}%)`);
    if (best === null || dev.werNoStress < best.werNoStress) {
      best = dev;
      saveG2PCheckpoint(out, { model, tokenizers, config }, { epoch, step, dev });
    }
  }
  const minutes = (Date.now() - start) / 60000;
  optimizer.dispose();
  model.dispose();
  return { dev: best as G2PMetrics, minutes, tokensPerSecond: tokens / (minutes * 60) };
}

/** Scores a checkpoint on a split (dev for choices, test only for the final report). */
export function evaluateG2PCheckpoint(dir: string, split: SplitName = 'dev', options: { beamSize?: number } = {}): G2PMetrics {
  const { model, tokenizers, config } = loadG2PCheckpoint(dir);
  try {
    const data = loadCmudict();
    return evaluateG2P(model, tokenizers, data[split], { beamSize: options.beamSize ?? config.beamSize });
  } finally {
    model.dispose();
  }
}
