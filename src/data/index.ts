// Data: tokenizers, data loaders, atomic file writes.
export * from './tokenizers';
export * from './dataloader';
